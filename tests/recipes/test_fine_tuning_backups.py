"""A fine-tuning run that crashes resumes from its backup and ends with an uninterrupted run's weights."""

import keras
import numpy as np
import pytest

from kerastune.recipes.text_classifier import text_classifier
from kerastune.training import latest_backup
from tests.recipes.test_text_classifier_recipe import VOCAB, write_task


class PowerCut(keras.callbacks.Callback):
    def __init__(self, at):
        super().__init__()
        self.at, self.seen = at, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.at:
            raise RuntimeError("power cut")


def test_a_crashed_fine_tuning_run_resumes_at_the_next_batch(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB))
    settings = dict(
        backbone="kerastune_bert", train=write_task(tmp_path, 64, 0), vocabulary=str(tmp_path / "vocab.txt"),
        num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=16,
        pad_to_multiple_of=16, batch_size=16, epochs=2, learning_rate=1e-2, dropout=0.1, ema_momentum=0.9,
        run_eagerly=True, backup_dir=str(tmp_path / "backups"), backup_every_steps=3,
    )
    backups = str(tmp_path / "backups" / "text_classifier")
    uninterrupted = text_classifier(**settings)
    assert uninterrupted.train_data.steps_per_epoch == 4
    uninterrupted.fit(verbose=0)
    expected = uninterrupted.model.get_weights()
    assert latest_backup(backups) is None  # a finished run leaves none

    with pytest.raises(RuntimeError, match="power cut"):
        text_classifier(**settings).fit(callbacks=[PowerCut(at=5)], verbose=0)  # mid-epoch 2
    state = latest_backup(backups)[1]  # the epoch-end backup after batch 4
    assert (state["step"], state["epoch"], state["step_in_epoch"]) == (4, 1, 0)
    with pytest.raises(RuntimeError, match="power cut"):
        text_classifier(**settings).fit(callbacks=[PowerCut(at=3)], verbose=0)  # resumed, then cut again
    assert latest_backup(backups)[1]["step"] == 6  # backed up every 3 batches: steps 3 and 6
    with pytest.raises(ValueError, match="belongs to a run with other settings"):
        text_classifier(**{**settings, "learning_rate": 5e-3}).fit(verbose=0)

    resumed = text_classifier(**settings)
    resumed.fit(verbose=0)
    for got, want in zip(resumed.model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
