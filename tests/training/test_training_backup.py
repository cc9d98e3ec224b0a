"""Kill a training process with SIGKILL at three points (mid-epoch 1, an epoch boundary, mid-epoch 2);
running the same command again each time ends with the weights of an uninterrupted run (dropout and
the weight average on). A kill or a crash while a backup is written leaves the previous one whole."""

import json
import os
import select
import signal
import subprocess
import sys

import numpy as np

from kerastune.recipes import causal_lm
from kerastune.training import latest_backup

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SETTINGS = dict(num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32, sequence_length=16, batch_size=4,
                epochs=3, steps_per_epoch=4, backup_every_steps=2, validation_batches=1, sample_tokens=0,
                run_eagerly=True, dropout=0.1, ema_momentum=0.9, warmup_steps=2, total_steps=12, name="t")

# The command a user runs (and runs again after a crash), in a process that dies where KILL says.
# Each run is a child forked from one interpreter that has imported TensorFlow, Keras and kerastune
# but run nothing (one thread, no TF runtime yet): a new process per run, which knows nothing of the
# killed one but what its backups on disk hold, without paying the ~5 s import three times.
TRAIN = r"""
import json, os, signal, sys
import keras
from kerastune.recipes import causal_lm
from tests.forked_child import exit_code, fork_child

settings = json.loads(sys.argv[1])
die = lambda: os.kill(os.getpid(), signal.SIGKILL)

class Kill(keras.callbacks.Callback):
    step = 0
    def __init__(self, kind, at):
        super().__init__()
        self.kind, self.at = kind, at
    def on_train_begin(self, logs=None):
        self.step = self.model.optimizer.iterations.numpy()  # batches already trained (restored)
    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.kind == "step" and self.step == self.at:
            die()
    def on_epoch_begin(self, epoch, logs=None):
        if self.kind == "epoch" and epoch == self.at:
            die()

def train(kind, at):
    if kind == "backup":  # dies once backup step-<at> is written whole, before it is renamed into place
        rename = os.rename
        os.rename = lambda src, dst: die() if dst.endswith(f"step-{at}") else rename(src, dst)
    causal_lm(**settings).train(callbacks=[Kill(kind, at)], verbose=0)

for line in sys.stdin:  # one KILL ("step:3", "epoch:1", "backup:8") per run; answers the run's exit status
    kind, _, at = line.strip().partition(":")
    print(exit_code(fork_child(train, kind, int(at or 0))), flush=True)
"""


class _Runs:
    """The interpreter that forks one run of TRAIN per `run(kill)`; returns each run's exit status."""

    def __init__(self, settings, log):
        self.log = log
        self.process = subprocess.Popen([sys.executable, "-c", TRAIN, json.dumps(settings)], cwd=ROOT, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(log, "w"))

    def run(self, kill):
        self.process.stdin.write(kill + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], 600)
        answer = self.process.stdout.readline() if ready else ""
        assert answer.strip(), (kill, "no exit status", open(self.log).read()[-3000:])
        return int(answer)

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


def test_killed_runs_resume_and_end_with_the_weights_of_an_uninterrupted_run(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 40, encoding="utf-8")
    settings = dict(SETTINGS, data=str(corpus), run_dir=str(tmp_path / "runs"), logging_dir=str(tmp_path / "tb"))
    backups = tmp_path / "runs" / "t" / "backup"
    steps_seen = []
    runs = _Runs(settings, tmp_path / "runs.log")
    try:
        for kill in ("step:3", "epoch:1", "step:7", "backup:8"):  # each run resumes from the last one's backup
            assert runs.run(kill) == -signal.SIGKILL, (kill, open(runs.log).read()[-3000:])
            path, state = latest_backup(str(backups))
            steps_seen.append(state["step"])
            assert os.path.isfile(os.path.join(path, "backup.weights.h5"))
    finally:
        runs.close()
    # mid-epoch 1 -> the step-2 backup; at the boundary -> step 4 (epoch 1 done); mid-epoch 2 -> step 6;
    # killed while writing the step-8 backup -> step 6 again, whole, and the half-made one never picked
    assert steps_seen == [2, 4, 6, 6]
    assert any(name.startswith(".tmp-step-8") for name in os.listdir(backups)), os.listdir(backups)
    resumed = causal_lm(**settings)  # the same command once more, here: it finishes the run
    resumed.train(verbose=0)
    assert not backups.exists()  # a finished run leaves no backup: running it again trains afresh

    uninterrupted = causal_lm(**dict(settings, run_dir=str(tmp_path / "once")))
    uninterrupted.train(verbose=0)
    for got, want in zip(resumed.model.get_weights(), uninterrupted.model.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_a_crash_while_writing_a_backup_leaves_the_previous_one_whole(tmp_path, monkeypatch):
    import keras

    from kerastune.training.training_backup import save_backup

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((2, 2)), np.ones((2, 3)), verbose=0)
    save_backup(model, str(tmp_path), step=2, steps_per_epoch=4)
    before = model.get_weights()
    model.fit(np.ones((2, 2)), np.ones((2, 3)), verbose=0)

    def power_cut(src, dst):  # the new backup is written whole, then the process dies before the rename
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(os, "rename", power_cut)
    try:
        save_backup(model, str(tmp_path), step=4, steps_per_epoch=4)
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    path, state = latest_backup(str(tmp_path))
    assert state["step"] == 2 and path.endswith("step-2")  # the half-finished one is never picked
    model.load_weights(os.path.join(path, "backup.weights.h5"))
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    save_backup(model, str(tmp_path), step=6, steps_per_epoch=4)  # the next backup clears the leftover
    assert sorted(os.listdir(tmp_path)) == ["step-2", "step-6"]


def test_a_killed_run_on_a_token_directory_resumes_mid_accumulation(tmp_path):
    """GPT-2 small's path (`recipes/gpt2_small.toml`): a corpus read from a token directory, 2 micro-batches
    per update, backed up every 3 micro-batches, so the kill's backup falls inside an update (its gradient
    half accumulated). Resumed, the run ends with the weights of an uninterrupted one."""
    from kerastune.data import prepare_token_directory

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 40, encoding="utf-8")
    tokens = prepare_token_directory(tmp_path / "tokens", str(corpus), tokenizer="character")
    settings = dict(SETTINGS, data=str(tokens.path), run_dir=str(tmp_path / "runs"), logging_dir=str(tmp_path / "tb"),
                    gradient_accumulation_steps=2, backup_every_steps=3, total_steps=6, warmup_steps=1)
    backups = tmp_path / "runs" / "t" / "backup"
    runs = _Runs(settings, tmp_path / "runs.log")
    try:
        assert runs.run("step:4") == -signal.SIGKILL, open(runs.log).read()[-3000:]  # before the epoch-end backup
    finally:
        runs.close()
    assert latest_backup(str(backups))[1]["step"] == 3  # one micro-batch into the second update
    resumed = causal_lm(**settings)
    resumed.train(verbose=0)
    uninterrupted = causal_lm(**dict(settings, run_dir=str(tmp_path / "once")))
    uninterrupted.train(verbose=0)
    for got, want in zip(resumed.model.get_weights(), uninterrupted.model.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
