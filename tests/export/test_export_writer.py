"""The one export writer: a versioned SavedModel whose endpoints are traced once, not once to find
their variables and again to save them."""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from kerastune.export.export_writer import write_export


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
