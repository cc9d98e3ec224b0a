import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.seq2seq_examples import Seq2SeqLayout
from kerastune.models.preset_causal_lm import load_causal_lm
from kerastune.models.preset_seq2seq_lm import check_positions, load_seq2seq_lm, preset_seq2seq_targets
from tests.tiny_causal_lm import write_tiny_preset
from tests.tiny_seq2seq_lm import tiny_bart, tiny_t5

MINILM = pathlib.Path(__file__).resolve().parents[3] / "shared" / "models" / "all-MiniLM-L6-v2"
SOURCES = ["the film was good", "sky is blue and grass is green", "a", "it is a mess", "colours : red",
           "worth seeing twice", "the plot was dull", "answer : yes", "great movie", "grass", "blue sky, red blood"]


def spread_weights(task, seed):
    """Random weights wide enough that greedy decoding writes text that depends on the source (a freshly
    initialised model writes the same few tokens for everything)."""
    rng = np.random.default_rng(seed)
    for weight in task.weights:
        weight.assign(rng.normal(0.0, 0.3, weight.shape).astype(weight.dtype))


@pytest.mark.parametrize("build", [tiny_bart, tiny_t5])
def test_targets_are_what_kerashubs_own_generate_writes(build):
    keras.utils.set_random_seed(0)
    task = build()
    spread_weights(task, 1)
    task.compile(sampler="greedy")
    layout = Seq2SeqLayout.from_preprocessor(task.preprocessor)
    new_tokens = 9
    expected = task.generate(SOURCES, max_length=len(layout.decoder_start) + new_tokens)
    assert len(set(expected)) >= 3  # the reference writes different things for different sources

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def write(sources):
        return preset_seq2seq_targets(task, task.preprocessor.tokenizer, layout, sources, 64, new_tokens,
                                      chunk_size=4)  # 11 sources: three chunks, the last padded

    written = [text.decode("utf-8") for text in write(tf.constant(SOURCES)).numpy()]
    assert written == list(expected)
    assert [t.decode() for t in write(tf.constant(SOURCES[:1])).numpy()] == list(expected[:1])  # batch of one
    assert [t.decode() for t in write(tf.constant(SOURCES[:8])).numpy()] == list(expected[:8])  # two full chunks
    assert write(tf.constant([], tf.string)).shape == (0,)


def test_a_source_longer_than_the_trained_limit_is_refused_in_the_graph():
    task = tiny_bart()
    layout = Seq2SeqLayout.from_preprocessor(task.preprocessor)
    write = tf.function(lambda sources: preset_seq2seq_targets(task, task.preprocessor.tokenizer, layout, sources, 5,
                                                                4), input_signature=[tf.TensorSpec([None], tf.string)])
    with pytest.raises(tf.errors.InvalidArgumentError, match="longer than max_source_length=5 tokens"):
        write(tf.constant(["short", "a source of many tokens"]))


def test_limits_beyond_bart_positions_are_refused_and_t5_has_none():
    bart = tiny_bart(max_sequence_length=128)
    layout = Seq2SeqLayout.from_preprocessor(bart.preprocessor)
    check_positions(bart, layout, 126, 125)  # <s> x </s>; </s> <s> y and the end token written
    with pytest.raises(ValueError, match="max_source_length=127 and the 2 special tokens .* max_source_length <= 126"):
        check_positions(bart, layout, 127, 8)
    with pytest.raises(ValueError, match="max_target_length=126 and the 3 special tokens"):
        check_positions(bart, layout, 8, 126)
    t5 = tiny_t5()
    check_positions(t5, Seq2SeqLayout.from_preprocessor(t5.preprocessor), 100_000, 100_000)


def test_presets_load_by_kind_and_the_wrong_kind_is_named(tmp_path):
    from tests.tiny_causal_lm import tiny_gpt2

    bart = write_tiny_preset(tmp_path / "bart", tiny_bart)
    assert type(load_seq2seq_lm(bart)).__name__ == "BartSeq2SeqLM"
    gpt2 = write_tiny_preset(tmp_path / "gpt2", tiny_gpt2)
    with pytest.raises(ValueError, match="holds no sequence-to-sequence LM .* pass a BART, T5 or T5Gemma"):
        load_seq2seq_lm(gpt2)
    with pytest.raises(ValueError, match="holds an encoder-decoder \\(BartSeq2SeqLM\\).* preset_seq2seq"):
        load_causal_lm(bart)
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_seq2seq_lm(str(tmp_path / "missing" / "bart"))


@pytest.mark.skipif(not MINILM.is_dir(), reason=f"the MiniLM checkpoint is not at {MINILM}")
def test_an_encoder_checkpoint_is_refused_by_name():
    with pytest.raises(ValueError, match="holds no sequence-to-sequence LM"):
        load_seq2seq_lm(str(MINILM))
