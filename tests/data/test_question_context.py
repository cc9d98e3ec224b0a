import os

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.question_context import (answer_token_spans, best_answers, check_window_settings,
                                             pack_question_context, question_packer, window_labels)
from tests.conftest import shared_path

WORDS = ["ada", "wrote", "the", "first", "program", "in", "london", "who", "where", "did", "it", "hello", "world"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ",", ".", "(", ")", "?", "!", "##s", "北", "京"] + WORDS
MINILM = shared_path("models", "all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def tokenizer():
    return keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True)


def numpy_packed(packed):
    return {key: value.numpy() for key, value in packed.items() if not isinstance(value, tf.RaggedTensor)}


def test_windows_read_every_context_token_in_order_stride_apart(tokenizer):
    contexts = ["ada wrote the first program in london . " * 5, "hello world", ""]
    questions = ["who wrote the first program ?", "where ?", "who ?"]
    packed = pack_question_context(tokenizer, tf.constant(questions), tf.constant(contexts), sequence_length=16,
                                   stride=5, max_question_length=6)
    ids, segments = packed["token_ids"].to_list(), packed["segment_ids"].to_list()
    example = packed["example"].numpy()
    for i, (question, context) in enumerate(zip(questions, contexts)):
        whole = list(tokenizer(tf.constant([context]))[0])  # the tokenizer on the whole context
        asked = list(tokenizer(tf.constant([question]))[0])
        windows = np.flatnonzero(example == i)
        read = {}
        for w in windows:
            assert len(ids[w]) <= 16
            offset, start = int(packed["context_offset"][w]), int(packed["window_start"][w])
            assert ids[w][:offset] == [2] + asked[:6] + [3] and ids[w][-1] == 3
            assert segments[w] == [0] * offset + [1] * (len(ids[w]) - offset)
            part = ids[w][offset:-1]
            assert len(part) == packed["window_length"][w]
            for j, token in enumerate(part):
                read.setdefault(start + j, set()).add(token)
        assert sorted(read) == list(range(len(whole)))  # every token read, none skipped
        assert [read[j].pop() for j in range(len(whole))] == whole
        starts = packed["window_start"].numpy()[windows]
        assert np.all(np.diff(starts) == 5)
        assert starts[-1] + packed["window_length"].numpy()[windows[-1]] == len(whole)  # the last reaches the end
    assert np.sum(example == 0) > 1 and np.sum(example == 2) == 1  # long context: windows; empty: one, no token
    np.testing.assert_array_equal(packed["question_lengths"], [6, 2, 2])


def test_each_context_token_points_at_its_word_in_the_original_text(tokenizer):
    context = "(Ada) wrote, in LONDON! Héllo 北京 programs"
    packed = pack_question_context(tokenizer, tf.constant(["who ?"]), tf.constant([context]))
    raw = context.encode("utf-8")
    ids = packed["token_ids"][0].numpy()[packed["context_offset"][0].numpy():-1]
    spans = zip(packed["token_begins"][0].numpy(), packed["token_ends"][0].numpy())
    words = [raw[b:e].decode("utf-8") for b, e in spans]
    assert words == ["(", "Ada", ")", "wrote", ",", "in", "LONDON", "!", "Héllo", "北", "京", "programs", "programs"]
    # each token is one of its word's own pieces (the tokenizer run on the word alone)
    for token, word in zip(ids, words):
        assert token in list(tokenizer(tf.constant([word]))[0])


def test_a_long_question_keeps_its_first_tokens_and_says_so(tokenizer):
    packed = pack_question_context(tokenizer, tf.constant(["who did it " * 10]), tf.constant(["ada"]),
                                   sequence_length=16, stride=4, max_question_length=5)
    assert packed["question_lengths"].numpy().tolist() == [30]
    assert packed["context_offset"].numpy().tolist() == [7]  # [CLS] + 5 question tokens + [SEP]


@pytest.mark.parametrize("settings, words", [
    ((16, 10, 6), "holds [CLS], [SEP], [SEP], up to 6 question tokens and 7 context tokens, fewer than the stride"),
    ((16, 0, 6), "stride must be a positive int"),
    ((16, 4, True), "max_question_length must be a positive int"),
])
def test_window_settings_that_would_skip_context_are_refused(settings, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        check_window_settings(*settings)


def test_labels_point_at_the_answer_in_the_windows_that_hold_it_whole(tokenizer):
    context = "ada wrote the first program . hello world . ada wrote it in london ."
    packed = pack_question_context(tokenizer, tf.constant(["where ?", "who ?"]), tf.constant([context] * 2),
                                   sequence_length=12, stride=3, max_question_length=4)
    begin = context.index("in london")
    begins, ends = np.array([begin, -1]), np.array([begin + len("in london"), -1])
    token_begins = [row.numpy() for row in packed["token_begins"]]
    token_ends = [row.numpy() for row in packed["token_ends"]]
    first, last = answer_token_spans(token_begins, token_ends, begins, ends)
    labels = window_labels(numpy_packed(packed), first, last)
    ids = packed["token_ids"].to_list()
    example = packed["example"].numpy()
    holding = 0
    for w, (start, end) in enumerate(labels):
        if example[w] == 1 or start == 0:
            assert (start, end) == (0, 0)
            continue
        holding += 1
        assert [VOCAB[t] for t in ids[w][start:end + 1]] == ["in", "london"]
    # every window of the answered question that holds both tokens is labelled with them
    offsets, starts = packed["context_offset"].numpy(), packed["window_start"].numpy()
    lengths = packed["window_length"].numpy()
    whole = [w for w in np.flatnonzero(example == 0) if starts[w] <= first[0] and last[0] < starts[w] + lengths[w]]
    assert holding == len(whole) >= 1 and offsets[whole[0]] == 4


def test_an_answer_of_only_spaces_is_refused(tokenizer):
    with pytest.raises(ValueError, match="example 0: the answer at bytes 3-4 of its context covers no token"):
        answer_token_spans([np.array([0, 4])], [np.array([3, 7])], np.array([3]), np.array([4]))


def brute_force(logits, packed, max_answer_length):
    """The best span of each question by trying every (window, start, end): an independent loop."""
    p = numpy_packed(packed)
    context = packed["context"].numpy()
    out = []
    for i in range(len(context)):
        best, where = -np.inf, None
        for w in np.flatnonzero(p["example"] == i):
            low, high = p["context_offset"][w], p["context_offset"][w] + p["window_length"][w]
            for s in range(low, high):
                for e in range(s, min(s + max_answer_length, high)):
                    if logits[w, 0, s] + logits[w, 1, e] > best:
                        best, where = logits[w, 0, s] + logits[w, 1, e], (w, s, e)
        if where is None:
            out.append((b"", None))
            continue
        w, s, e = where
        begin = packed["token_begins"][i].numpy()[s - p["context_offset"][w] + p["window_start"][w]]
        end = packed["token_ends"][i].numpy()[e - p["context_offset"][w] + p["window_start"][w]]
        null = min(logits[v, 0, 0] + logits[v, 1, 0] for v in np.flatnonzero(p["example"] == i))
        out.append((context[i][begin:end], (best, null - best)))
    return out


def test_best_answers_equal_a_brute_force_search_over_windows_and_spans(tokenizer):
    rng = np.random.default_rng(0)
    contexts = ["ada wrote the first program in London, hello world! " * 3, "Héllo, ada (wrote) it.", "", "ada"]
    pack = question_packer(tokenizer, 14, 4, 4)
    packed = pack(tf.constant(["who wrote it ?", "who ?", "where ?", "who did it ?"]), tf.constant(contexts))
    width = int(packed["token_ids"].bounding_shape()[1])
    for trial in range(5):
        logits = rng.normal(size=(int(tf.size(packed["example"])), 2, width)).astype("float32")
        found = best_answers(tf.constant(logits), packed, max_answer_length=3)
        for i, (text, scores) in enumerate(brute_force(logits, packed, 3)):
            assert found["answer"].numpy()[i] == text
            if scores is None:
                assert found["begin"].numpy()[i] == -1 and found["end"].numpy()[i] == -1
                continue
            np.testing.assert_allclose([found["score"].numpy()[i], found["no_answer_score"].numpy()[i]], scores,
                                       rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not os.path.isdir(MINILM), reason=f"needs the MiniLM tokenizer at {MINILM}")
def test_real_vocabulary_windows_match_the_tokenizer_on_conll_sentences():
    from kerastune.data.conll import read_conll
    from kerastune.models.backbones import load_backbone

    path = shared_path("data", "conll2003", "valid.txt")
    if not os.path.exists(path):
        pytest.skip(f"needs CoNLL-2003 at {path}")
    _, real = load_backbone(MINILM)
    contexts = [" ".join(words) for words in read_conll(path).words[:300]]
    packed = pack_question_context(real, tf.constant(["Which person is named in the text?"] * 300),
                                   tf.constant(contexts), sequence_length=32, stride=8, max_question_length=16)
    whole = [list(row) for row in real(tf.constant(contexts))]
    starts, lengths = packed["window_start"].numpy(), packed["window_length"].numpy()
    example, offsets = packed["example"].numpy(), packed["context_offset"].numpy()
    ids = packed["token_ids"].to_list()
    for w in range(len(example)):
        part = ids[w][offsets[w]:-1]
        assert part == whole[example[w]][starts[w]:starts[w] + lengths[w]]
    assert len(example) > 300  # some sentences are longer than a window of 32


@pytest.mark.skipif(not os.path.isdir(MINILM), reason=f"needs the MiniLM tokenizer at {MINILM}")
def test_windows_equal_hugging_face_question_context_pairs():
    transformers = pytest.importorskip("transformers", reason="the Hugging Face comparison needs .[peers]")
    from kerastune.models.backbones import load_backbone

    _, real = load_backbone(MINILM)
    reference = transformers.AutoTokenizer.from_pretrained(MINILM)
    questions = ["Which person is named in the text?", "Where did Beyoncé grow up?", "Who wrote (it)?",
                 "How far\u00a0is it?", "北京在哪里?"]
    contexts = ["EU rejects German call to boycott British lamb .", "Beyoncé Giselle Knowles-Carter grew up in "
                "Houston, Texas; she performed in Zürich's café.",
                "Ada Lovelace wrote it in 1843 — the first program.",
                "Ada\u00a0Lovelace walked 1,000\u00a0km in 1843\u2009AD \u0301 (naïve\tso)\n.",
                "北京是中国的首都, Beijing is the capital."]
    packed = pack_question_context(real, tf.constant(questions), tf.constant(contexts))
    for i, (question, context) in enumerate(zip(questions, contexts)):
        expected = reference(question, context)
        assert packed["token_ids"][i].numpy().tolist() == expected["input_ids"]
        assert packed["segment_ids"][i].numpy().tolist() == expected["token_type_ids"]
        # each context token's word span covers Hugging Face's character offsets of the same token
        offsets = reference(question, context, return_offsets_mapping=True)["offset_mapping"]
        sequence = reference(question, context).sequence_ids()
        ours = zip(packed["token_begins"][i].numpy(), packed["token_ends"][i].numpy())
        raw = context.encode("utf-8")
        for (begin, end), (theirs, which) in zip(ours, [(o, s) for o, s in zip(offsets, sequence) if s == 1]):
            word = raw[begin:end].decode("utf-8")
            assert context[theirs[0]:theirs[1]] in word
