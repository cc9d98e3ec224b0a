import re

import keras
import numpy as np

from kerastune.training import ProgressLines, StopOnInvalidLoss


def test_a_nan_loss_stops_training_with_the_likely_causes():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    x = np.ones((8, 3), "float32")
    x[4:] = np.nan  # the second batch of 4 is broken
    printed = []
    stop = StopOnInvalidLoss(print_fn=printed.append)
    history = model.fit(x, np.zeros((8, 1)), batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=[stop])
    assert stop.stopped_at == 1 and len(history.history["loss"]) == 1  # stopped in the first epoch
    assert printed and "training stopped at batch 1: the loss is nan" in printed[0]
    assert "learning rate is too high" in printed[0] and "global_clipnorm" in printed[0]


def test_progress_lines_report_each_epochs_steps_and_loss_within_the_epoch():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    printed = []
    x, y = np.ones((12, 3), "float32"), np.zeros((12, 1), "float32")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[ProgressLines(every_seconds=0, print_fn=printed.append)])
    assert len(printed) == 6, printed  # 3 steps in each of 2 epochs, a line each at every_seconds=0
    pattern = r"epoch (\d)/2: step (\d)/3 \((\d+)%\), loss [0-9.]+, [0-9.]+ steps/s, 0m\d\ds"
    assert [re.fullmatch(pattern, line).groups() for line in printed] == [
        (str(e), str(s), str(round(100 * s / 3))) for e in (1, 2) for s in (1, 2, 3)], printed
    quiet = []
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[ProgressLines(every_seconds=3600, print_fn=quiet.append)])
    assert quiet == []  # at most one line per every_seconds


def test_progress_is_the_bar_on_a_terminal_and_lines_in_a_log(monkeypatch):
    import sys

    from kerastune.recipes.training_setup import progress

    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    verbosity, callbacks = progress("auto")
    assert verbosity == 2 and [type(c) for c in callbacks] == [ProgressLines]
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert progress("auto") == (1, [])
    assert progress(0) == (0, [])
