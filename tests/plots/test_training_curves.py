"""`plot_training_curves`: one subplot per metric, train and `val_` series together, from a real History."""

import keras
import numpy as np
import pytest

from kerastune.plots import plot_training_curves
from kerastune.plots.training_curves import curves
from tests.plots.png import assert_png


def history():
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model.fit(x, y, validation_split=0.25, epochs=3, batch_size=4, verbose=0)


def test_a_fit_history_gives_one_png_subplot_per_metric_with_train_and_validation(tmp_path):
    fitted = history()
    series = curves(fitted)
    assert list(series) == ["loss", "accuracy"]  # loss first; val_loss joins loss, val_accuracy accuracy
    for name in series:
        assert series[name]["train"] == pytest.approx(fitted.history[name])
        assert series[name]["validation"] == pytest.approx(fitted.history[f"val_{name}"])
    path = tmp_path / "deep" / "curves.png"
    assert plot_training_curves(fitted, path) == str(path)
    assert_png(path, width=2 * 400, height=320)  # 4 x 3.2 inches per subplot at 100 dpi


def test_a_history_dict_without_validation_also_plots(tmp_path):
    logs = {"loss": [1.0, 0.6, 0.4], "accuracy": [0.5, 0.7, 0.9], "learning_rate": [1e-3, 5e-4, 1e-4]}
    assert list(curves(logs)) == ["loss", "accuracy", "learning_rate"]
    assert_png(plot_training_curves(logs, tmp_path / "c.png"), width=3 * 400, height=320)


@pytest.mark.parametrize(
    "bad, message",
    [({}, "Received: history={}"), ([1.0, 2.0], "Received: history=\\[1.0, 2.0\\]"),
     ({"loss": ["high"]}, "Received: loss=\\['high'\\]")],
)
def test_bad_history_is_a_clear_error(bad, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        plot_training_curves(bad, tmp_path / "c.png")


def test_the_path_must_be_a_png(tmp_path):
    with pytest.raises(ValueError, match="ending in .png. Received: path="):
        plot_training_curves({"loss": [1.0]}, tmp_path / "c.jpg")
