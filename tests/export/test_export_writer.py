"""The one export writer: a versioned SavedModel whose endpoints are traced once, not once to find
their variables and again to save them."""

import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf

from kerastune.export.export_writer import write_export
from kerastune.export.versioned_directory import next_version


def test_each_endpoint_is_traced_once_and_serves_the_model(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    traced = {"serve": 0, "double": 0}

    def serve(x):
        traced["serve"] += 1
        return {"y": model(x)}

    def double(x):
        traced["double"] += 1
        return {"y": 2.0 * model(x)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = [tf.TensorSpec([None, 3], tf.float32, name="x")]
    archive.add_endpoint("serve", serve, input_signature=spec)
    path = write_export(archive, str(tmp_path), "tiny", files={"config.json": {"seed": 0}},
                        endpoints={"double": tf.function(double, input_signature=spec)})  # as the exporters pass them
    assert traced == {"serve": 1, "double": 1}, traced  # not once more inside tf.saved_model.save
    assert json.load(open(os.path.join(path, "config.json"))) == {"seed": 0}
    loaded = tf.saved_model.load(path)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    assert set(loaded.signatures) == {"serve", "double", "serving_default"}  # the first endpoint is the default
    np.testing.assert_allclose(loaded.signatures["serving_default"](x=x)["y"], model(x), atol=1e-6)
    np.testing.assert_allclose(loaded.signatures["double"](x=x)["y"], 2 * model(x), atol=1e-6)
    np.testing.assert_allclose(loaded.serve(x)["y"], model(x), atol=1e-6)  # the endpoints stay callable too
    # each weight stored once (Keras issue 23553: ExportArchive alone writes the kernel and bias twice)
    assert stored_values(path) == model.count_params() == 8
    assert sorted(tuple(v.shape) for v in loaded.variables) == sorted(tuple(v.shape) for v in model.variables)


def stored_values(path):
    """How many numbers the SavedModel's checkpoint holds (every saved variable's size, summed)."""
    shapes = tf.train.load_checkpoint(os.path.join(path, "variables", "variables")).get_variable_to_shape_map()
    return sum(int(np.prod(shape)) for key, shape in shapes.items() if key != "_CHECKPOINTABLE_OBJECT_GRAPH")


# Exports in processes that die with SIGKILL part-way (each a child forked from one interpreter that has
# imported TensorFlow but run nothing): "none" writes a whole export, "saved_model" dies once the
# SavedModel is written and before its JSON files, "rename" once every file is written and before the
# version directory is renamed into place.
EXPORT = r"""
import os, signal, sys
import keras
import tensorflow as tf
from kerastune.export import export_writer
from tests.forked_child import exit_code, fork_child

root = sys.argv[1]
die = lambda *args: os.kill(os.getpid(), signal.SIGKILL)

def export(kill_at):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_initializer="ones")])
    archive = keras.export.ExportArchive()
    archive.track(model)
    serve = tf.function(lambda x: {"y": model(x)}, input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    if kill_at == "saved_model":
        write = export_writer._write_saved_model
        export_writer._write_saved_model = lambda *args: (write(*args), die())
    elif kill_at == "rename":
        os.rename = die
    export_writer.write_export(archive, root, "tiny", files={"config.json": {"written_by": kill_at}},
                               endpoints={"serve": serve})

for kill_at in sys.argv[2:]:
    print(kill_at, exit_code(fork_child(export, kill_at)), flush=True)
"""


def test_a_kill_while_exporting_leaves_the_earlier_versions_whole_and_serving(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    kills = ["none", "saved_model", "rename", "none"]
    done = subprocess.run([sys.executable, "-c", EXPORT, str(tmp_path), *kills], cwd=root, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    codes = dict(line.split() for line in done.stdout.splitlines())
    assert [int(codes[k]) for k in ("saved_model", "rename")] == [-signal.SIGKILL] * 2, done.stdout
    model_dir = tmp_path / "tiny"
    versions = sorted(name for name in os.listdir(model_dir) if not name.startswith("."))
    assert versions == ["1", "2"], os.listdir(model_dir)  # the killed exports made no version; the next one is 2
    assert len([name for name in os.listdir(model_dir) if name.startswith(".tmp-2-")]) == 2  # hidden, never served
    assert next_version(str(model_dir)) == 3
    for version in versions:  # whole: its JSON sidecar and a SavedModel that serves
        assert json.load(open(model_dir / version / "config.json")) == {"written_by": "none"}
        served = tf.saved_model.load(str(model_dir / version)).signatures["serving_default"](x=tf.ones((1, 3)))
        np.testing.assert_allclose(served["y"], [[3.0, 3.0]])
