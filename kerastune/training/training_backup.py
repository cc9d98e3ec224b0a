"""Crash-safe training: backups a killed `fit` resumes from, ending with the weights of an uninterrupted run.

A backup holds the weights (Keras's own LoRA layers' base kernels and factors apart:
`kerastune.peft.keras_lora`), the optimizer (its step, hence the schedule's position, its moments and the
weight average), the dropout layers' random-generator states and the data position (batches trained).
Each is written to a temporary directory and renamed into place, so a kill while writing leaves the
previous backup whole. Keras's own `BackupAndRestore` restarts an interrupted epoch from its first batch
and writes in place; `fit_with_backups` resumes at the batch after the backup.

The data must be a stream whose batch n depends only on n (e.g. `causal_lm_datasets`'s seeded
random windows): resuming skips the batches already trained.
"""

import json
import os
import re
import shutil

import keras
import numpy as np

from kerastune.peft.keras_lora import keras_lora_factors, keras_lora_layers, keras_lora_off

_BACKUP = re.compile(r"^step-(\d+)$")
_WEIGHTS = "backup.weights.h5"
_LORA = "keras_lora_factors.npz"
_STATE = "state.json"


def _seed_states(model):
    """The random-generator states of the model's layers (dropout), which `save_weights` skips."""
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


def latest_backup(backup_dir):
    """`(path, state)` of the newest complete backup in `backup_dir`, or None.

    `state` is `{"step": batches trained, "epoch": ..., "step_in_epoch": ...}`.
    """
    if not os.path.isdir(backup_dir):
        return None
    steps = sorted((int(m.group(1)) for m in map(_BACKUP.match, os.listdir(backup_dir)) if m), reverse=True)
    for step in steps:
        path = os.path.join(backup_dir, f"step-{step}")
        try:
            with open(os.path.join(path, _STATE), encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError):
            continue  # not a complete backup (renamed into place only when whole, so never expected)
        if os.path.isfile(os.path.join(path, _WEIGHTS)):
            return path, state
    return None


def save_backup(model, backup_dir, step, steps_per_epoch, keep=2, fingerprint=None):
    """Writes `backup_dir/step-<step>/` atomically (temporary directory, then a rename); keeps the
    newest `keep` backups. Returns the path."""
    os.makedirs(backup_dir, exist_ok=True)
    final = os.path.join(backup_dir, f"step-{step}")
    if os.path.isdir(final):
        return final
    temporary = os.path.join(backup_dir, f".tmp-step-{step}-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    os.makedirs(temporary)
    lora = keras_lora_layers(model)
    with keras_lora_off(lora):  # the base kernels as they are, not merged with the update (see keras_lora)
        model.save_weights(os.path.join(temporary, _WEIGHTS))
    if lora:  # the factors, which save_weights leaves out (float32 whatever the policy)
        np.savez(os.path.join(temporary, _LORA), *[keras.ops.convert_to_numpy(v) for v in keras_lora_factors(lora)])
    epoch, step_in_epoch = divmod(step, steps_per_epoch)
    state = {"step": step, "epoch": epoch, "step_in_epoch": step_in_epoch, "fingerprint": fingerprint,
             "seed_states": [np.asarray(v.numpy()).tolist() for v in _seed_states(model)]}
    with open(os.path.join(temporary, _STATE), "w", encoding="utf-8") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(temporary, final)
    steps = sorted(int(m.group(1)) for m in map(_BACKUP.match, os.listdir(backup_dir)) if m)
    for old in steps[:-keep]:
        shutil.rmtree(os.path.join(backup_dir, f"step-{old}"), ignore_errors=True)
    for name in os.listdir(backup_dir):  # temporaries a killed process left behind
        if name.startswith(".tmp-"):
            shutil.rmtree(os.path.join(backup_dir, name), ignore_errors=True)
    return final


def _plain(value):
    """`value` as JSON gives it back (tuples become lists), for comparing with a saved fingerprint."""
    return json.loads(json.dumps(value))


def restore_backup(model, backup_dir, fingerprint=None):
    """Loads the newest backup into the compiled `model`; returns its state, or None when there is none.

    `fingerprint` (JSON-able, e.g. the run's config): a backup written with another one is refused,
    so a changed command never resumes a different run's training.
    """
    found = latest_backup(backup_dir)
    if found is None:
        return None
    path, state = found
    if fingerprint is not None and state.get("fingerprint") != _plain(fingerprint):
        raise ValueError(
            f"The backup {path} belongs to a run with other settings, and resuming it would mix two runs. "
            f"Run the same command as before to resume it, or delete {backup_dir} (or pass another "
            f"backup_dir / name) to start afresh. Received: backup_dir={backup_dir!r}"
        )
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    lora = keras_lora_layers(model)
    try:
        model.load_weights(os.path.join(path, _WEIGHTS))  # Keras's LoRA layers take the base kernel, zero the factors
    except ValueError as error:
        raise ValueError(
            f"The backup {path} was written by a different model ({error}). Resume with the settings it "
            f"was trained with, or start afresh with another backup folder. Received: backup_dir={backup_dir!r}"
        ) from None
    if lora:
        if not os.path.isfile(os.path.join(path, _LORA)):
            raise ValueError(f"The backup {path} holds no LoRA factors, and the model has LoRA layers: it was written "
                             "by a different model. Start afresh with another backup folder. "
                             f"Received: backup_dir={backup_dir!r}")
        with np.load(os.path.join(path, _LORA)) as saved:
            for index, factor in enumerate(keras_lora_factors(lora)):
                factor.assign(saved[f"arr_{index}"])
    seeds = _seed_states(model)
    if len(seeds) == len(state.get("seed_states", [])):
        for variable, value in zip(seeds, state["seed_states"]):
            variable.assign(np.asarray(value, dtype=variable.dtype))
    return state


class TrainingBackup(keras.callbacks.Callback):
    """Writes a backup every `save_every_steps` batches and at every epoch end (see `save_backup`).

    Args:
        backup_dir: str, the folder of the backups.
        steps_per_epoch: int, batches per epoch (to record the position in the epoch).
        save_every_steps: int or None; None backs up at epoch ends only.
        start_step: int, batches trained before this `fit` (when resuming).
        fingerprint: JSON-able or None, saved with each backup (see `restore_backup`).
    """

    def __init__(self, backup_dir, steps_per_epoch, save_every_steps=None, start_step=0, fingerprint=None):
        super().__init__()
        if save_every_steps is not None and save_every_steps < 1:
            raise ValueError(
                f"save_every_steps must be an int >= 1 or None. Received: save_every_steps={save_every_steps}"
            )
        self.backup_dir = backup_dir
        self.steps_per_epoch = steps_per_epoch
        self.save_every_steps = save_every_steps
        self.step = start_step
        self.fingerprint = None if fingerprint is None else _plain(fingerprint)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.save_every_steps and self.step % self.save_every_steps == 0:
            save_backup(self.model, self.backup_dir, self.step, self.steps_per_epoch, fingerprint=self.fingerprint)

    def on_epoch_end(self, epoch, logs=None):
        save_backup(self.model, self.backup_dir, self.step, self.steps_per_epoch, fingerprint=self.fingerprint)


def fit_with_backups(model, dataset, *, epochs, steps_per_epoch, backup_dir, save_every_steps=None,
                     callbacks=(), delete_when_done=True, fingerprint=None, fit=None, **fit_kwargs):
    """`model.fit` that resumes from the newest backup in `backup_dir` and writes new ones.

    Run the same call again after a crash: it loads the backup, skips the batches already trained
    in the stream `dataset` (batch n must depend only on n), finishes the interrupted epoch and
    trains the rest, ending with the weights an uninterrupted run ends with. A run whose backups
    show it complete trains nothing.

    Args:
        model: a compiled Keras model.
        dataset: a `tf.data.Dataset` stream of batches, at least `epochs * steps_per_epoch` long.
        epochs, steps_per_epoch: int, the run's length.
        backup_dir: str, where the backups go.
        save_every_steps: int or None, also back up every this many batches (not only at epoch ends).
        callbacks: more Keras callbacks.
        delete_when_done: bool, remove `backup_dir` when training returns (all epochs done, or
            stopped by a callback such as `EarlyStopping`), so running the command again trains
            afresh, as with Keras's `BackupAndRestore`. A crash leaves it for the next call.
        fingerprint: JSON-able or None, e.g. the run's config: a backup written with another one
            is refused (`restore_backup`).
        fit: the `fit` to call (`model.fit` when None; e.g. `MultiWorkerTrainer(model).fit`).
        **fit_kwargs: passed to `fit` (`validation_data`, `verbose`, ...).

    Returns:
        The `History` of the last `fit` call made (the run's last epochs), or None when nothing was
        left to train.
    """
    fit = fit or model.fit
    state = restore_backup(model, backup_dir, fingerprint)
    done = state["step"] if state else 0
    if done >= epochs * steps_per_epoch:
        return None
    backup = TrainingBackup(backup_dir, steps_per_epoch, save_every_steps, start_step=done, fingerprint=fingerprint)
    callbacks = [backup, *callbacks]
    epoch, step_in_epoch = divmod(done, steps_per_epoch)
    history = None
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    if step_in_epoch:  # finish the interrupted epoch; the average goes into the weights at the run's end
        optimizer.hold_average = epoch + 1 < epochs
        try:
            history = fit(dataset.skip(done), epochs=epoch + 1, initial_epoch=epoch,
                                steps_per_epoch=steps_per_epoch - step_in_epoch, callbacks=callbacks, **fit_kwargs)
        finally:
            optimizer.hold_average = False
        epoch += 1
    if epoch < epochs and not model.stop_training:
        history = fit(dataset.skip(epoch * steps_per_epoch), epochs=epochs, initial_epoch=epoch,
                            steps_per_epoch=steps_per_epoch, callbacks=callbacks, **fit_kwargs)
    if delete_when_done:
        shutil.rmtree(backup_dir, ignore_errors=True)
    return history
