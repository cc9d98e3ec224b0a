"""`MultiWorkerTrainer` against Keras's own `fit`: on one device, under MirroredStrategy, and across two
worker processes on 127.0.0.1 under MultiWorkerMirroredStrategy (configured by TF_CONFIG)."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastune.distribute import MultiWorkerTrainer, get_strategy, is_chief, local_cluster, training_loop, worker_dir
from kerastune.training.r_drop import enable_r_drop
from tests.distribute.multi_worker_job import EPOCHS, STEPS_PER_EPOCH, batches, tiny_gpt

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _keras_fit(model):
    return model.fit(batches(), epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, verbose=0, shuffle=False)


def _loop_fit(model, strategy=None):
    return MultiWorkerTrainer(model, strategy).fit(batches(), epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH,
                                                   verbose=0)


@pytest.fixture(scope="module")
def keras_reference():
    """The single-worker run: Keras's `fit` on one device with the same global batch."""
    model = tiny_gpt(tf.distribute.get_strategy())
    history = _keras_fit(model)
    return history.history["loss"], model.get_weights()


def test_the_loop_on_one_device_is_keras_fit(keras_reference):
    loss, weights = keras_reference
    model = tiny_gpt(tf.distribute.get_strategy())
    history = _loop_fit(model)
    np.testing.assert_allclose(history.history["loss"], loss, rtol=1e-6)
    for actual, expected in zip(model.get_weights(), weights):
        np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_under_mirrored_strategy_two_replicas_clip_the_global_gradient_as_one_device_does():
    # A clip norm small enough to clip every step: Keras's distributed step would clip each replica's
    # half of the gradient; the loop clips their sum, as one device with the whole batch does.
    def dense(strategy):
        keras.utils.set_random_seed(3)
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                      keras.layers.Dense(3)])
            model.compile(keras.optimizers.AdamW(1e-2, global_clipnorm=0.05),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        return model

    rng = np.random.default_rng(0)
    data = tf.data.Dataset.from_tensor_slices((rng.normal(size=(32, 4)).astype("float32"),
                                               rng.integers(0, 3, 32))).batch(8)
    reference = dense(tf.distribute.get_strategy())
    expected = reference.fit(data, epochs=2, verbose=0, shuffle=False).history
    mirrored = get_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
    model = dense(mirrored)
    trainer = MultiWorkerTrainer(model)
    history = trainer.fit(data, epochs=2, verbose=0, validation_data=data).history
    assert mirrored.num_replicas_in_sync == 2
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-5)
    np.testing.assert_allclose(history["accuracy"], expected["accuracy"])
    for actual, wanted in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(actual, wanted, atol=1e-6)
    assert history["val_loss"][-1] == pytest.approx(reference.evaluate(data, verbose=0)[0], rel=1e-5)
    assert trainer.evaluate(data, return_dict=True)["loss"] == pytest.approx(history["val_loss"][-1])
    kernel = model.trainable_variables[0].value.values  # one copy per replica, updated alike
    np.testing.assert_array_equal(kernel[0].numpy(), kernel[1].numpy())


def test_what_the_loop_refuses():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="trains a compiled model"):
        MultiWorkerTrainer(model)
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match="Received: x=ndarray"):
        MultiWorkerTrainer(model).fit(np.zeros((4, 4)))
    gpt = tiny_gpt(tf.distribute.get_strategy())
    enable_r_drop(gpt, 1.0)
    with pytest.raises(ValueError, match="applies its own gradients"):
        MultiWorkerTrainer(gpt)


def test_outside_a_cluster_every_process_is_the_chief_and_trains_with_keras_fit():
    strategy = tf.distribute.get_strategy()
    assert is_chief(strategy)
    assert worker_dir("runs/gpt", strategy) == "runs/gpt"
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert training_loop(model, strategy) is model



def _worker_env():
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    env.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2",
               KERAS_BACKEND="tensorflow")
    return env


def run_two_workers(command, timeout=300):
    """Runs `command(index)` (a Python module and its arguments) as worker 0 and worker 1 of a cluster on
    127.0.0.1, one thread each, from the repository root; returns their output. A worker's failure fails."""
    cluster = local_cluster(2)
    env = _worker_env()
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        workers.append(subprocess.Popen([sys.executable, "-m", *command(index)], cwd=ROOT,
                                        env=dict(env, TF_CONFIG=tf_config), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True))
    try:
        logs = [worker.communicate(timeout=timeout)[0] for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    for worker, log in zip(workers, logs):
        assert worker.returncode == 0, log[-3000:]
    return logs


# Worker 0 and worker 1 of `multi_worker_job`, as two processes forked from one interpreter that has
# imported TensorFlow, Keras and kerastune but run nothing (one thread, no TF runtime or gRPC yet):
# each child reads its own TF_CONFIG when it builds its strategy, as a freshly started worker does,
# and the import (~5 s) is paid once instead of twice.
FORKED_WORKERS = r"""
import json, os, sys
import keras, numpy as np, tensorflow as tf
import kerastune.distribute, kerastune.models, kerastune.training
from tests.distribute import multi_worker_job
from tests.forked_child import exit_code, fork_child

cluster, out = json.loads(sys.argv[1]), sys.argv[2]

def worker(index):
    os.environ["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
    multi_worker_job.main(os.path.join(out, f"{index}.npz"))  # a forked child ends with os._exit, not a plain exit

children = [fork_child(worker, index) for index in range(2)]
codes = [exit_code(pid) for pid in children]
print("worker exit codes", codes, flush=True)
sys.exit(1 if any(codes) else 0)
"""


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """What each of two workers saved after training the tiny GPT (`multi_worker_job`)."""
    out = tmp_path_factory.mktemp("workers")
    result = subprocess.run([sys.executable, "-c", FORKED_WORKERS, json.dumps(local_cluster(2)), str(out)], cwd=ROOT,
                            env=_worker_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout[-1000:], result.stderr[-3000:])
    return [dict(np.load(out / f"{index}.npz")) for index in range(2)]


def test_two_workers_finish_with_equal_weights(two_workers):
    first, second = two_workers
    assert int(first["replicas"]) == 2
    assert bool(first["chief"]) and not bool(second["chief"])
    assert str(first["worker_dir"]) == "runs/gpt" and str(second["worker_dir"]) == "runs/gpt/workertemp_1"
    weights = sorted(key for key in first if key.startswith("w") and key[1:].isdigit())
    assert weights
    for key in weights:
        np.testing.assert_allclose(first[key], second[key], atol=1e-6)


def test_two_workers_follow_the_single_worker_run_with_the_same_global_batch(two_workers, keras_reference):
    loss, weights = keras_reference
    for worker in two_workers:
        np.testing.assert_allclose(worker["loss"], loss, rtol=1e-4)
        for i, expected in enumerate(weights):  # float sums in another order, through Adam: not bit-equal
            np.testing.assert_allclose(worker[f"w{i}"], expected, atol=1e-3)


@pytest.mark.slow
def test_the_causal_lm_recipe_trains_and_exports_on_two_workers(tmp_path):
    flags = ["--strategy=multi_worker", "--num_layers=1", "--num_heads=2", "--hidden_dim=16", "--intermediate_dim=32",
             "--sequence_length=16", "--batch_size=4", "--epochs=2", "--steps_per_epoch=3", "--validation_batches=2",
             "--sample_tokens=8", "--max_new_tokens=4", "--jit_compile=false", f"--run_dir={tmp_path / 'runs'}",
             f"--export_dir={tmp_path / 'exports'}"]
    logs = run_two_workers(lambda index: ["kerastune", "run", "recipes/pydoc_gpt.toml", *flags], timeout=600)
    losses = [[line for line in log.splitlines() if line.startswith("validation loss")] for log in logs]
    assert losses[0] and losses[0] == losses[1]  # the same model on both workers
    assert (tmp_path / "exports" / "pydoc_gpt" / "1" / "saved_model.pb").is_file()  # the chief's export
    assert (tmp_path / "runs" / "pydoc_gpt" / "checkpoint.weights.h5").is_file()
    assert (tmp_path / "runs" / "pydoc_gpt" / "workertemp_1" / "checkpoint.weights.h5").is_file()  # the other's
