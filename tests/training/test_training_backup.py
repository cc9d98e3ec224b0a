"""Kill a training process with SIGKILL at three points (mid-epoch 1, an epoch boundary, mid-epoch 2)
and once while it writes a backup; running the same command again each time ends with the weights
of an uninterrupted run (dropout and the weight average on)."""

import json
import os
import signal
import subprocess
import sys

import numpy as np

from kerastune.recipes import causal_lm
from kerastune.training import latest_backup

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SETTINGS = dict(num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32, sequence_length=16, batch_size=4,
                epochs=3, steps_per_epoch=4, backup_every_steps=2, validation_batches=1, sample_tokens=0,
                jit_compile=False, dropout=0.1, ema_momentum=0.9, warmup_steps=2, total_steps=12, name="t")

# The command a user runs (and runs again after a crash); KILL says where this process dies.
TRAIN = r"""
import json, os, signal, sys
import keras, numpy as np
from kerastune.recipes import causal_lm

settings, kill, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
kind, _, at = kill.partition(":")
at = int(at or 0)

class Kill(keras.callbacks.Callback):
    step = 0
    def on_train_begin(self, logs=None):
        self.step = self.model.optimizer.iterations.numpy()  # batches already trained (restored)
    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if kind == "step" and self.step == at:
            die()
    def on_epoch_begin(self, epoch, logs=None):
        if kind == "epoch" and epoch == at:
            die()

if kind == "rename":  # die while writing the backup of step `at`: written, not yet renamed into place
    real_rename = os.rename
    def rename(src, dst):
        if dst.endswith(f"step-{at}"):
            die()
        real_rename(src, dst)
    os.rename = rename

run = causal_lm(**settings)
run.train(callbacks=[Kill()], verbose=0)
np.savez(out, *run.model.get_weights())
"""


def _train(settings, kill, out):
    return subprocess.run([sys.executable, "-c", TRAIN, json.dumps(settings), kill, out], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_killed_runs_resume_and_end_with_the_weights_of_an_uninterrupted_run(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 40, encoding="utf-8")
    settings = dict(SETTINGS, data=str(corpus), run_dir=str(tmp_path / "runs"), logging_dir=str(tmp_path / "tb"))
    backups = tmp_path / "runs" / "t" / "backup"
    steps_seen = []
    for kill in ("step:3", "rename:4", "epoch:1", "step:7"):  # each run resumes from the last one's backup
        result = _train(settings, kill, str(tmp_path / "never.npz"))
        assert result.returncode == -signal.SIGKILL, (kill, result.stderr[-3000:])
        path, state = latest_backup(str(backups))
        steps_seen.append(state["step"])
        assert os.path.isfile(os.path.join(path, "backup.weights.h5"))
    # mid-epoch 1 -> the step-2 backup; killed writing step 4 -> step 2 still whole; at the boundary
    # -> step 4 (epoch 1 done); mid-epoch 2 -> step 6
    assert steps_seen == [2, 2, 4, 6]
    result = _train(settings, "none", str(tmp_path / "resumed.npz"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert not backups.exists()  # a finished run leaves no backup: running it again trains afresh

    uninterrupted = causal_lm(**dict(settings, run_dir=str(tmp_path / "once")))
    uninterrupted.train(verbose=0)
    resumed = np.load(tmp_path / "resumed.npz")
    expected = uninterrupted.model.get_weights()
    assert len(resumed.files) == len(expected)
    for i, want in enumerate(expected):
        np.testing.assert_allclose(resumed[f"arr_{i}"], want, rtol=1e-6, atol=1e-7)
