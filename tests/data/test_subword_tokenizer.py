import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.subword_tokenizer import (
    load_subword_tokenizer,
    save_subword_tokenizer,
    train_sentencepiece_tokenizer,
    train_wordpiece_tokenizer,
)
from kerastune.data.text_corpus import default_corpus, read_text_corpus
from tests.conftest import shared_path


def as_text(strings):
    """KerasHub detokenizes to python str eagerly and to tf string tensors in graphs."""
    strings = strings.numpy() if isinstance(strings, tf.Tensor) else strings
    if isinstance(strings, bytes):
        return strings.decode("utf-8")
    return strings if isinstance(strings, str) else [as_text(s) for s in strings]


def as_list(ids):
    return ids.numpy().tolist() if isinstance(ids, tf.Tensor) else np.asarray(ids).tolist()


@pytest.fixture(scope="module")
def corpus():
    return default_corpus()[:60_000]


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_is_lossless(corpus, model_type):
    tokenizer = train_sentencepiece_tokenizer(corpus, vocabulary_size=400, model_type=model_type)
    assert tokenizer.vocabulary_size() == 400
    assert tokenizer.get_vocabulary()[:4] == ["<pad>", "<unk>", "<s>", "</s>"]
    text = "  Indented\tline:\n\nnot   seen: 日本 ½ ﬁ\n"
    ids = tokenizer.tokenize(text)
    assert len(ids) < len(text.encode("utf-8"))
    assert as_text(tokenizer.detokenize(ids)) == text
    round_trip = tf.function(lambda s: tokenizer.detokenize(tokenizer.tokenize(s)))
    assert as_text(round_trip(tf.constant([text, corpus[:2000]]))) == [text, corpus[:2000]]


def test_sentencepiece_keras_hub_normalised_mode_and_dataset_input(corpus):
    dataset = tf.data.Dataset.from_tensor_slices(corpus[:20_000].splitlines())
    tokenizer = train_sentencepiece_tokenizer(dataset, 150, lossless=False, lowercase=True)
    assert as_text(tokenizer.detokenize(tokenizer.tokenize("THE Statement  is\nhere"))) == "the statement is here"


def test_sentencepiece_errors(corpus):
    with pytest.raises(ValueError, match="model_type must be one of .*received 'word'"):
        train_sentencepiece_tokenizer(corpus, 400, model_type="word")
    with pytest.raises(ValueError, match="vocabulary_size=100 is too small .* at least 261"):
        train_sentencepiece_tokenizer(corpus, 100)
    too_large = "could not train a bpe model of vocabulary_size=2000 on 1300 characters.*value <= 289"
    with pytest.raises(ValueError, match=too_large):
        train_sentencepiece_tokenizer("the lazy dog\n" * 100, 2000, model_type="bpe")
    with pytest.raises(ValueError, match="cannot be lossless"):
        train_sentencepiece_tokenizer(corpus, 400, lowercase=True)
    with pytest.raises(ValueError, match="vocabulary_size must be a positive integer; received '400'"):
        train_sentencepiece_tokenizer(corpus, "400")
    with pytest.raises(ValueError, match="holds no text"):
        train_sentencepiece_tokenizer(["", " \n"], 400)
    with pytest.raises(ValueError, match="texts_or_dataset must be .*received int"):
        train_sentencepiece_tokenizer(3, 400)


def test_wordpiece_reserved_tokens_first_and_unknown_words(corpus):
    # 20,000 characters (WordPiece training time grows with the text) would give 228 pieces uncapped
    tokenizer = train_wordpiece_tokenizer(corpus[:20_000], vocabulary_size=200)
    vocabulary = tokenizer.get_vocabulary()
    assert vocabulary[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(vocabulary) <= 200
    ids = tokenizer.tokenize("The STATEMENT is")
    assert as_text(tokenizer.detokenize(ids)) == "the statement is"
    assert as_list(tokenizer.tokenize("\u2603")) == [1]  # a snowman: [UNK]
    assert tf.function(tokenizer.tokenize)(tf.constant(["the if"])).shape[0] == 1


def test_wordpiece_errors(corpus):
    with pytest.raises(ValueError, match=r"must contain '\[UNK\]'.*received \['\[PAD\]'\]"):
        train_wordpiece_tokenizer(corpus, 100, reserved_tokens=["[PAD]"])
    with pytest.raises(ValueError, match="vocabulary_size=5 leaves no room"):
        train_wordpiece_tokenizer(corpus, 5)


def test_save_and_load_both_kinds(corpus, tmp_path):
    for name, tokenizer in [
        ("spm", train_sentencepiece_tokenizer(corpus, 400)),
        ("wordpiece", train_wordpiece_tokenizer(corpus[:20_000], 200, lowercase=False)),
    ]:
        vocabulary_file = save_subword_tokenizer(tokenizer, tmp_path / name)
        assert vocabulary_file.endswith("vocabulary.spm" if name == "spm" else "vocabulary.txt")
        loaded = load_subword_tokenizer(tmp_path / name)
        assert type(loaded) is type(tokenizer)
        assert loaded.get_vocabulary() == tokenizer.get_vocabulary()
        text = "The Python statement"
        assert as_list(loaded.tokenize(text)) == as_list(tokenizer.tokenize(text))
    with pytest.raises(FileNotFoundError, match="tokenizer.json' does not exist"):
        load_subword_tokenizer(tmp_path / "missing")


def test_sentencepiece_on_tiny_shakespeare():
    text = read_text_corpus(shared_path("data", "tinyshakespeare", "input.txt"))[:100_000]
    tokenizer = train_sentencepiece_tokenizer(text, 500, model_type="bpe")
    ids = tokenizer.tokenize(text)
    assert len(ids) < 0.6 * len(text)  # about 1.9 characters a piece at 500 pieces
    assert as_text(tokenizer.detokenize(ids)) == text
