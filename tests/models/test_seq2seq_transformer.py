"""`Seq2SeqTransformer`: cached decoding against the full pass, masks, greedy decoding against a
plain argmax loop, a task it must learn, saving."""

import keras
import numpy as np
import pytest

from kerastune.models import Seq2SeqTransformer
from tests.helpers import assert_config_round_trip, assert_keras_save_load, randomize_weights

VOCAB, START, END = 13, 1, 2  # 0 pads; 3..12 are "digits"


def tiny(**kwargs):
    settings = dict(vocabulary_size=VOCAB, max_sequence_length=8, num_layers=2, num_heads=2, hidden_dim=16)
    return Seq2SeqTransformer(**{**settings, **kwargs})


def batch(seed=0, source_length=6, target_length=5):
    rng = np.random.default_rng(seed)
    source = rng.integers(3, VOCAB, (3, source_length)).astype("int32")
    source_mask = np.ones_like(source)
    source_mask[1, 4:] = 0  # a shorter source
    source[1, 4:] = 0
    target = rng.integers(3, VOCAB, (3, target_length)).astype("int32")
    target[:, 0] = START
    return {"encoder_token_ids": source, "encoder_padding_mask": source_mask,
            "decoder_token_ids": target, "decoder_padding_mask": np.ones_like(target)}


def numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def model():
    model = tiny()
    randomize_weights(model.weights, seed=1, scale=0.3)  # away from init, where masks matter more
    return model


def test_cached_decoding_step_by_step_equals_the_full_pass(model):
    x = batch()
    expected = numpy(model(x))
    encoded = model.encode(x["encoder_token_ids"], x["encoder_padding_mask"])
    cache = model.empty_cache(3, 8)
    steps = []
    for t in range(5):
        logits, cache = model.call_with_cache(x["decoder_token_ids"][:, t:t + 1], encoded, x["encoder_padding_mask"],
                                              cache, t)
        steps.append(numpy(logits)[:, 0])
    np.testing.assert_allclose(np.stack(steps, 1), expected, rtol=1e-4, atol=1e-4)


def test_a_target_position_sees_only_earlier_targets_and_real_source_tokens(model):
    x = batch()
    base = numpy(model(x))
    later = {**x, "decoder_token_ids": x["decoder_token_ids"].copy()}
    later["decoder_token_ids"][:, 3] = 3 + (later["decoder_token_ids"][:, 3] - 2) % 10  # change target token 3
    changed = np.abs(numpy(model(later)) - base).max(-1) > 1e-5
    assert not changed[:, :3].any() and changed[:, 3:].all()
    padded = {**x, "encoder_token_ids": x["encoder_token_ids"].copy()}
    padded["encoder_token_ids"][1, 4:] = 7  # behind row 1's padding mask
    np.testing.assert_allclose(numpy(model(padded)), base, atol=1e-5)
    source = {**x, "encoder_token_ids": x["encoder_token_ids"].copy()}
    source["encoder_token_ids"][1, 0] = 3 + (source["encoder_token_ids"][1, 0] - 2) % 10
    assert np.abs(numpy(model(source))[1] - base[1]).max(-1).min() > 1e-5  # every target position reads the source


def test_greedy_generation_equals_an_argmax_loop_over_the_full_pass(model):
    x = batch(seed=3)
    written = numpy(model.generate(x["encoder_token_ids"], x["encoder_padding_mask"], START, max_length=7))
    target = np.full((3, 1), START, "int32")
    for _ in range(6):
        logits = numpy(model({**x, "decoder_token_ids": target, "decoder_padding_mask": np.ones_like(target)}))
        target = np.concatenate([target, logits[:, -1].argmax(-1)[:, None].astype("int32")], axis=1)
    np.testing.assert_array_equal(written, target)


def test_rows_stop_at_their_own_end_token_and_a_start_equal_to_the_end_does_not_stop():
    model = tiny()
    randomize_weights(model.weights, seed=2, scale=0.3)
    x = batch(seed=4)
    free = numpy(model.generate(x["encoder_token_ids"], x["encoder_padding_mask"], START, max_length=8))
    end = int(free[0, 2])  # row 0 writes this second: make it the end token
    stopped = numpy(model.generate(x["encoder_token_ids"], x["encoder_padding_mask"], START, end, max_length=8))
    for row in range(3):
        ends = np.flatnonzero(free[row, 1:] == end)
        last = ends[0] + 1 if len(ends) else 8  # up to and with the row's first end token the rows agree
        np.testing.assert_array_equal(stopped[row, : last + 1], free[row, : last + 1])
    # BART starts its targets with its end token: the given start token is not a written one
    same = numpy(model.generate(x["encoder_token_ids"], x["encoder_padding_mask"], START, START, max_length=8))
    np.testing.assert_array_equal(same[:, :2], free[:, :2])  # it went on to write its first token


def test_generates_under_mixed_bfloat16():
    model = tiny(dtype="mixed_bfloat16")
    x = batch()
    assert numpy(model(x)).dtype == "float32"
    assert keras.backend.standardize_dtype(model.empty_cache(3, 8).dtype) == "bfloat16"
    written = numpy(model.generate(x["encoder_token_ids"], x["encoder_padding_mask"], START, END, max_length=6))
    assert written.shape == (3, 6) and (written[:, 0] == START).all()


def test_it_learns_to_reverse_sequences():
    rng = np.random.default_rng(0)
    source = rng.integers(3, VOCAB, (2048, 5)).astype("int32")
    target = np.concatenate([np.full((2048, 1), START), source[:, ::-1], np.full((2048, 1), END)], 1).astype("int32")
    x = {"encoder_token_ids": source, "encoder_padding_mask": np.ones_like(source),
         "decoder_token_ids": target[:, :-1], "decoder_padding_mask": np.ones_like(target[:, :-1])}
    keras.utils.set_random_seed(0)
    model = tiny(dropout=0.0, max_sequence_length=7)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, target[:, 1:], batch_size=64, epochs=4, verbose=0)
    test = rng.integers(3, VOCAB, (64, 5)).astype("int32")
    written = numpy(model.generate(test, np.ones_like(test), START, END, max_length=7))
    exact = (written[:, 1:6] == test[:, ::-1]).all(1) & (written[:, 6] == END)
    assert exact.mean() >= 0.9, exact.mean()  # 1.0 measured


def test_round_trips_and_saves(tmp_path):
    model = tiny(intermediate_dim=24, dropout=0.2)
    clone = assert_config_round_trip(model)
    assert clone.intermediate_dim == 24 and clone.count_params() == model.count_params()
    assert_keras_save_load(model, batch(), tmp_path, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_layers": 0}, "Received: num_layers=0"),
        ({"hidden_dim": 15}, "Received: hidden_dim=15, num_heads=2"),
        ({"dropout": 1.0}, "Received: dropout=1.0"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny(**kwargs)
    with pytest.raises(ValueError, match="Received: max_length=9"):
        tiny().generate(np.ones((1, 3), "int32"), np.ones((1, 3), "int32"), START, max_length=9)
