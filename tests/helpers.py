"""Shared test helpers: config round-trip and `.keras` save/load checks, random weights."""

import numpy as np
import keras


def assert_config_round_trip(obj):
    """`get_config()` -> `from_config()` -> the same config."""
    config = obj.get_config()
    clone = obj.__class__.from_config(config)
    assert clone.get_config() == config
    return clone


def assert_keras_save_load(model, inputs, tmp_path, atol=1e-6):
    """`model.save(x.keras)` -> `load_model` -> identical outputs on `inputs`."""
    expected = model(inputs, training=False)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    actual = loaded(inputs, training=False)
    for e, a in zip(keras.tree.flatten(expected), keras.tree.flatten(actual)):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(e), atol=atol
        )
    return loaded


def assert_layer_saves(layer, inputs, tmp_path, call_kwargs=None, atol=1e-6):
    """Wraps `layer` in a functional model over `inputs` and checks config and `.keras` save/load."""
    assert_config_round_trip(layer)
    call_kwargs = call_kwargs or {}
    flat = keras.tree.flatten(inputs)
    symbolic = [keras.Input(shape=x.shape[1:], dtype=getattr(x.dtype, "name", str(x.dtype))) for x in flat]
    packed = keras.tree.pack_sequence_as(inputs, symbolic)
    if isinstance(packed, (list, tuple)):
        out = layer(*packed, **call_kwargs)
    else:
        out = layer(packed, **call_kwargs)
    model = keras.Model(symbolic if len(symbolic) > 1 else symbolic[0], out)
    return assert_keras_save_load(model, flat if len(flat) > 1 else flat[0], tmp_path, atol)


def randomize_weights(weights, seed=0, scale=1.0):
    """Assigns every float weight in `weights`, in order, values drawn from N(0, `scale`^2).

    Away from the initial values a bug cannot hide behind near-uniform attention (0.02-scale kernels)
    or a zero-initialised layer. `seed`: an int, or a NumPy `Generator` that goes on drawing after."""
    rng = np.random.default_rng(seed)
    for weight in weights:
        if "float" in str(weight.dtype):
            weight.assign(rng.normal(0.0, scale, weight.shape).astype(weight.dtype))


def token_cross_entropy(logits, targets):
    """Per-token next-token cross-entropy in numpy (float64): -log softmax(logits)[target], shape of `targets`."""
    logits = np.asarray(logits, "float64")
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return -np.take_along_axis(log_probs, np.asarray(targets)[..., None], -1)[..., 0]


def levenshtein(a, b):
    """The edit distance between two sequences (insertions, deletions, substitutions), by the textbook recurrence."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]

