"""`benchmarks/shakespeare_char.StepTimer`: ms per train step, also when Keras runs several steps per call."""

import os
import sys

import keras
import numpy as np
import pytest

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
sys.path.insert(0, os.path.abspath(BENCHMARKS))

from shakespeare_char import StepTimer  # noqa: E402


def test_each_interval_is_divided_by_the_steps_it_covered():
    timer = StepTimer()
    # Calls back after steps 7, 15, 23, 31 (8 steps per call): 0.8 s, then 0.4 s, then 0.8 s per call.
    timer.marks = [(7, 1.0), (15, 1.8), (23, 2.2), (31, 3.0)]
    assert timer.median_ms(skip=0) == pytest.approx(100.0)
    # Skipping the warm-up leaves the intervals after step 15: 50 and 100 ms per step.
    assert timer.median_ms(skip=15) == pytest.approx(75.0)
    # A warm-up longer than the run falls back to the last interval instead of failing.
    assert timer.median_ms(skip=1000) == pytest.approx(100.0)
    timer.marks = [(0, 1.0)]
    with pytest.raises(ValueError, match="at least two calls"):
        timer.median_ms(skip=0)


@pytest.mark.parametrize("steps_per_execution, expected", [(1, list(range(8))), (4, [3, 7])])
def test_keras_reports_the_last_step_of_each_call(steps_per_execution, expected):
    """What the division relies on: with N steps per call, fit calls back once per call at its last step."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", steps_per_execution=steps_per_execution)
    timer = StepTimer()
    model.fit(np.zeros((32, 3)), np.zeros((32, 1)), batch_size=4, epochs=1, verbose=0, callbacks=[timer.callback])
    assert [batch for batch, _ in timer.marks] == expected
