import keras
import numpy as np

from kerastune.training import StopOnInvalidLoss


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
