import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastune.compression import MagnitudePruning, polynomial_sparsity, prunable_kernels
from tests.compression.conftest import PRUNING


def test_schedule_is_zhu_and_gupta_polynomial():
    steps = np.arange(0, 30)
    got = [polynomial_sparsity(t, 0.8, 5, 25) for t in steps]
    progress = np.clip((steps - 5) / 20, 0, 1)
    want = np.where(steps < 5, 0.0, 0.8 * (1 - (1 - progress) ** 3))
    np.testing.assert_allclose(got, want)


def test_every_kernel_ends_at_the_target_sparsity_with_zeros_kept_in_the_export(fitted, compressed_exports):
    model, _, pruning = fitted
    kernels = prunable_kernels(model)
    assert {v.path.split("/")[-2] for v in kernels} >= {"query", "key", "value", "attention_output"}
    assert all("logits" not in v.path for v in kernels)
    for v in kernels:
        assert np.mean(keras.ops.convert_to_numpy(v) == 0) == pytest.approx(PRUNING, abs=1 / v.shape[-1])
    assert pruning.sparsity() == pytest.approx(PRUNING, abs=0.01)
    saved = {v.name.split(":")[0]: v.numpy() for v in tf.saved_model.load(compressed_exports[0]["pruned"]).variables}
    for v in kernels:
        np.testing.assert_array_equal(saved[v.path] == 0, keras.ops.convert_to_numpy(v) == 0)


def test_the_smallest_weights_are_the_ones_pruned():
    layer = keras.layers.Dense(4, name="dense")
    model = keras.Sequential([keras.Input((6,)), layer])
    pruning = MagnitudePruning(0.25, end_step=1)
    pruning.set_model(model)
    pruning.on_train_begin()
    before = keras.ops.convert_to_numpy(layer.kernel)
    pruning.prune(0.25)
    pruning.apply_masks()
    after = keras.ops.convert_to_numpy(layer.kernel)
    threshold = np.sort(np.abs(before).ravel())[6]  # 6 of 24 weights pruned: those below the 7th smallest
    np.testing.assert_array_equal(after == 0, np.abs(before) < threshold)
    np.testing.assert_array_equal(after[after != 0], before[after != 0])


@pytest.mark.parametrize("arguments, received", [
    ({"target_sparsity": 1.0, "end_step": 5}, "target_sparsity=1.0"),
    ({"target_sparsity": 0.5, "end_step": -1}, "end_step=-1"),
    ({"target_sparsity": 0.5, "end_step": 5, "frequency": 0}, "frequency=0"),
])
def test_bad_arguments_are_refused(arguments, received):
    with pytest.raises(ValueError, match=f"Received: {received}"):
        MagnitudePruning(**arguments)


def test_pruned_export_serves_strings_with_tensorflow_alone(served):
    assert served["modules"] == []
    assert len(served["answers"]["pruned"]["label_names"]) == 4
    assert "error" not in served["answers"]["pruned_bad_input"]


def test_target_is_reached_when_keras_runs_several_steps_per_callback():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, name="dense"), keras.layers.Dense(2, name="logits")])
    model.compile(optimizer="adam", loss="mse", steps_per_execution=4)
    pruning = MagnitudePruning(0.8, end_step=10, frequency=3)
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    model.fit(x, x[:, :2], batch_size=4, epochs=1, callbacks=[pruning], verbose=0)  # 16 steps, 4 callbacks
    assert pruning.sparsity() == pytest.approx(0.8, abs=1 / 96)
    assert np.mean(keras.ops.convert_to_numpy(model.get_layer("logits").kernel) == 0) == 0  # the head stays dense
