import keras_hub
import numpy as np
import pytest

from kerastune.data.question_answering_dataset import QuestionAnsweringDataset
from kerastune.data.question_answers import QuestionAnswers

WORDS = ["ada", "wrote", "the", "first", "program", "in", "london", "who", "where", "did", "it", "and", "then"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ",", ".", "?"] + WORDS


@pytest.fixture(scope="module")
def tokenizer():
    return keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True)


def examples():
    long = "the first program . " * 6 + "Ada wrote it in London ."
    return QuestionAnswers(
        questions=["who wrote it ?", "where ?", "who ?", "where did ada write it ?"],
        contexts=["Ada wrote the first program .", long, "then it was written .", long],
        answers=[["Ada"], ["London"], [], ["in London"]],
        answer_starts=[[0], [long.index("London")], [], [long.index("in London")]],
        ids=["a", "b", "c", "d"], source="memory")


def test_validation_windows_in_order_with_the_answers_positions(tokenizer):
    data = QuestionAnsweringDataset.from_examples(examples(), tokenizer, batch_size=4, sequence_length=16,
                                                  stride=4, max_question_length=8)
    assert data.num_examples == 4 and data.num_windows > 4
    rows = [(x, y) for x, y in data.dataset]
    assert len(rows) == data.steps_per_epoch
    labels = np.concatenate([y.numpy() for _, y in rows])
    ids = [t for x, _ in rows for t in x["token_ids"].numpy().tolist()]
    assert labels.shape == (data.num_windows, 2)
    answered = [(VOCAB[ids[w][s]], VOCAB[ids[w][e]]) for w, (s, e) in enumerate(labels) if s > 0]
    assert ("ada", "ada") == answered[0]  # the first question's one window
    assert {("london", "london"), ("in", "london")} == set(answered[1:])
    assert all(x["token_ids"].shape[1] % 8 == 0 for x, _ in rows)
    assert data.num_answers_split == 0


def test_windows_that_cut_an_answer_are_labelled_no_answer_and_counted(tokenizer):
    # "where did ada write it ?" is 6 tokens: windows hold 7 context tokens, 7 apart; "in" is token 27, "london" 28
    cut = examples().subset([3])
    with pytest.warns(UserWarning, match="1 of 1 answered questions have no window holding their whole answer"):
        data = QuestionAnsweringDataset.from_examples(cut, tokenizer, batch_size=8, sequence_length=16, stride=7,
                                                      max_question_length=6)
    labels = np.concatenate([y.numpy() for _, y in data.dataset])
    assert data.num_windows == 5 and not labels.any()
    assert data.num_answers_split == 2


def test_training_batches_repeat_and_say_how_many_make_an_epoch(tokenizer):
    data = QuestionAnsweringDataset.from_examples(examples(), tokenizer, batch_size=2, sequence_length=16,
                                                  training=True, stride=4, max_question_length=8)
    batches = list(data.dataset.take(3 * data.steps_per_epoch))
    assert len(batches) == 3 * data.steps_per_epoch
    for x, y in batches:
        assert y.shape == (2, 2) and x["token_ids"].shape == x["padding_mask"].shape


def test_a_long_question_is_cut_with_a_warning_that_counts_it(tokenizer):
    long = examples()
    long.questions[0] = "who wrote it " * 4
    with pytest.warns(UserWarning, match="2 of 4 questions are longer than max_question_length of 3 tokens"):
        data = QuestionAnsweringDataset.from_examples(long, tokenizer, batch_size=4, sequence_length=16, stride=4,
                                                      max_question_length=3)
    assert data.num_truncated == 2


def test_too_few_windows_for_a_training_batch_is_an_error(tokenizer):
    with pytest.raises(ValueError, match="fewer than one batch of 64"):
        QuestionAnsweringDataset.from_examples(examples(), tokenizer, batch_size=64, sequence_length=16,
                                               training=True, stride=4, max_question_length=8)


def test_an_answer_the_tokenizer_reads_nothing_of_is_named_in_the_error(tokenizer):
    invisible = QuestionAnswers(questions=["who ?"], contexts=["ada\u200bwrote it"], answers=[["\u200b"]],
                                answer_starts=[[3]], ids=["zw"], source="zero.jsonl")
    with pytest.raises(ValueError, match="zero.jsonl, question 'zw': the answer at bytes 3-6 of its context covers no"):
        QuestionAnsweringDataset.from_examples(invisible, tokenizer, batch_size=1, sequence_length=16, stride=4,
                                               max_question_length=4)
