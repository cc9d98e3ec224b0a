"""`build_optimizer_variables`: the train step is traced once, and training is unchanged."""

import keras
import numpy as np
import pytest

from kerastune.training import adamw, build_optimizer_variables


class CountingModel(keras.Sequential):
    traces = 0

    def train_step(self, data):  # runs once per trace of Keras's train function
        CountingModel.traces += 1
        return super().train_step(data)


def _fit(prebuild):
    keras.utils.set_random_seed(0)
    CountingModel.traces = 0
    model = CountingModel([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=adamw(1e-2, ema_momentum=0.9, gradient_accumulation_steps=2), loss="mse",
                  metrics=[keras.metrics.MeanAbsoluteError()])  # an object, as kerastune's models pass: a
    # metric named by a string is created by Keras inside the first trace, which then runs twice anyway
    if prebuild:
        build_optimizer_variables(model)
        assert model.optimizer.built
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    model.fit(x, x.sum(axis=1, keepdims=True), batch_size=8, epochs=2, verbose=0)
    return CountingModel.traces, model.get_weights()


def test_a_prebuilt_optimizer_traces_the_train_step_once_and_trains_the_same():
    lazy_traces, lazy_weights = _fit(prebuild=False)
    traces, weights = _fit(prebuild=True)
    assert (lazy_traces, traces) == (2, 1)  # Keras's lazy build creates variables in the first trace
    for got, want in zip(weights, lazy_weights):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_an_unbuilt_model_or_an_uncompiled_one_is_left_alone():
    model = keras.Sequential([keras.layers.Dense(1)])  # no input shape: not built
    model.compile(optimizer="adam", loss="mse")
    build_optimizer_variables(model)
    assert not model.optimizer.built
    assert build_optimizer_variables(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])) is not None
