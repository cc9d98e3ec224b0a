import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.character_tokenizer import CharacterTokenizer
from kerastune.data.text_corpus import read_text_corpus
from tests.conftest import shared_path
import keras

from tests.helpers import assert_config_round_trip

TEXT = "hello world\n"


@pytest.fixture
def tokenizer():
    return CharacterTokenizer.from_corpus(TEXT)


def reference_ids(text):
    vocabulary = sorted(set(TEXT))
    return [vocabulary.index(c) for c in text]


def test_vocabulary_is_sorted_character_set(tokenizer):
    assert tokenizer.get_vocabulary() == ["\n", " ", "d", "e", "h", "l", "o", "r", "w"]
    assert tokenizer.vocabulary_size() == 9
    assert tokenizer.token_to_id("h") == 4
    assert tokenizer.id_to_token(4) == "h"


def test_tokenize_scalar_and_batch(tokenizer):
    ids = tokenizer("hello")
    assert ids.dtype == tf.int32 and ids.shape == (5,)
    assert ids.numpy().tolist() == reference_ids("hello")
    batch = tokenizer.tokenize(["hello", "", "world\n"])
    assert isinstance(batch, tf.RaggedTensor) and batch.dtype == tf.int32
    assert batch.to_list() == [reference_ids("hello"), [], reference_ids("world\n")]


def test_detokenize_dense_ragged_and_python(tokenizer):
    assert tokenizer.detokenize(reference_ids("hello")).numpy() == b"hello"
    dense = tf.constant([reference_ids("hello"), reference_ids("world")])
    assert tokenizer.detokenize(dense).numpy().tolist() == [b"hello", b"world"]
    ragged = tokenizer(["hello", "wor"])
    assert tokenizer.detokenize(ragged).numpy().tolist() == [b"hello", b"wor"]
    assert tokenizer.decode_text(tokenizer.encode_text("low\n")) == "low\n"


def test_encode_text_matches_layer_and_is_int32(tokenizer):
    ids = tokenizer.encode_text(TEXT * 3)
    assert ids.dtype == np.int32
    np.testing.assert_array_equal(ids, tokenizer(TEXT * 3).numpy())


def test_unicode_characters():
    tokenizer = CharacterTokenizer.from_corpus("über 日本 ok")
    text = "日本 über"
    assert tokenizer.detokenize(tokenizer(text)).numpy().decode() == text
    assert len(tokenizer.encode_text(text)) == len(text)


def test_oov_eager_quotes_characters_and_positions(tokenizer):
    with pytest.raises(ValueError, match=r"'L' at position 2, '!' at position 5"):
        tokenizer("heLlo!")
    with pytest.raises(ValueError, match=r"'X' at position \(1, 1\)"):
        tokenizer(["hello", "wXrld"])
    with pytest.raises(ValueError, match=r"2 character\(s\) are outside.*'Q' at position 1, 'Z' at position 3"):
        tokenizer.encode_text("hQlZo")


def test_oov_graph_assertion_names_characters(tokenizer):
    tokenize = tf.function(tokenizer.tokenize)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"outside the vocabulary.*\[Q\]"):
        tokenize(tf.constant("hQllo"))
    dataset = tf.data.Dataset.from_tensor_slices(["hello", "hellZ"]).map(tokenizer)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"outside the vocabulary.*\[Z\]"):
        list(dataset)


def test_detokenize_rejects_out_of_range_ids(tokenizer):
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 9\).*\[9\]"):
        tokenizer.detokenize([1, 9])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"token ids outside \[0, 9\)"):
        tf.function(tokenizer.detokenize)(tf.constant([1, 9]))


@pytest.mark.parametrize(
    "vocabulary, match",
    [("abc", "list of single-character strings"), ([], "at least one"), (["a", "bc"], "'bc' at index 1"),
     (["a", "b", "a"], r"repeated \['a'\]")],
)
def test_invalid_vocabulary(vocabulary, match):
    with pytest.raises(ValueError, match=match):
        CharacterTokenizer(vocabulary)


def test_lookup_errors(tokenizer):
    with pytest.raises(ValueError, match="'Z' is not in the vocabulary"):
        tokenizer.token_to_id("Z")
    with pytest.raises(ValueError, match=r"in \[0, 9\); received 9"):
        tokenizer.id_to_token(9)


def test_works_in_tf_data_and_tf_function(tokenizer):
    dataset = tf.data.Dataset.from_tensor_slices(["hello", "world"]).map(tokenizer)
    assert [x.numpy().tolist() for x in dataset] == [reference_ids("hello"), reference_ids("world")]
    round_trip = tf.function(lambda s: tokenizer.detokenize(tokenizer(s)))
    assert round_trip(tf.constant(["hello", "low"])).numpy().tolist() == [b"hello", b"low"]


def test_saved_model_round_trip_and_oov(tokenizer, tmp_path):
    class Module(tf.Module):
        def __init__(self, tokenizer):
            self.tokenizer = tokenizer

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def tokenize(self, strings):
            return self.tokenizer(strings).to_tensor(default_value=-1)

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
        def detokenize(self, ids):
            return self.tokenizer.detokenize(ids)

    tf.saved_model.save(Module(tokenizer), str(tmp_path / "saved"))
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    ids = loaded.tokenize(tf.constant(["hello", "world"]))
    assert ids.numpy().tolist() == [reference_ids("hello"), reference_ids("world")]
    assert loaded.detokenize(ids).numpy().tolist() == [b"hello", b"world"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"outside the vocabulary.*\[Q\]"):
        loaded.tokenize(tf.constant(["hQllo"]))


def test_config_and_keras_save(tokenizer, tmp_path):
    clone = assert_config_round_trip(tokenizer)
    assert clone.get_vocabulary() == tokenizer.get_vocabulary()
    # tests.helpers.assert_layer_saves builds keras.Input from str(tf.string), which Keras rejects.
    strings = keras.Input(shape=(), dtype="string")
    model = keras.Model(strings, tokenizer(strings))  # ragged (batch, None) int32 output
    model.save(tmp_path / "tokenizer.keras")
    loaded = keras.saving.load_model(tmp_path / "tokenizer.keras")
    assert loaded.layers[-1].get_vocabulary() == tokenizer.get_vocabulary()
    batch = tf.constant(["hello", "wor"])
    assert loaded(batch).to_list() == model(batch).to_list() == [reference_ids("hello"), reference_ids("wor")]


def test_round_trip_tiny_shakespeare():
    text = read_text_corpus(shared_path("data", "tinyshakespeare", "input.txt"))
    tokenizer = CharacterTokenizer.from_corpus(text)
    assert tokenizer.vocabulary_size() == 65
    ids = tokenizer.encode_text(text)
    assert len(ids) == len(text)
    assert ids[:5].tolist() == [tokenizer.token_to_id(c) for c in text[:5]]
    assert tokenizer.decode_text(ids) == text
    np.testing.assert_array_equal(tokenizer(text[:20_000]).numpy(), ids[:20_000])
