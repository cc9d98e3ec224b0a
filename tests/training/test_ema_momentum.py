import math

import pytest

from kerastune.training import ema_momentum_for


@pytest.mark.parametrize("updates", [16, 469, 1000, 4210, 100_000])
def test_average_forgets_the_initial_weights_whatever_the_run_length(updates):
    momentum = ema_momentum_for(0.999, updates)
    assert 0 < momentum <= 0.999
    # Keras's average starts at the initial weights and keeps momentum**t of them after t updates.
    assert momentum ** updates <= math.exp(-4) * 1.01 or momentum == 0.999
    assert momentum ** updates <= 0.02  # never dominated by untrained weights


def test_long_runs_keep_the_configured_momentum_and_off_stays_off():
    assert ema_momentum_for(0.999, 4210) == 0.999  # SST-2, 2 epochs: the measured configuration is unchanged
    assert ema_momentum_for(0.999, 469) == pytest.approx(1 - 1 / (469 / 4))
    assert ema_momentum_for(0.0, 1000) is None and ema_momentum_for(0.99, 2) is None  # too short to average
    with pytest.raises(ValueError, match=r"Received: ema_momentum=1.5"):
        ema_momentum_for(1.5, 100)
