"""What every fine-tuning recipe hands back: `fit`, `export` and the callbacks they share."""

import os

import keras

from kerastune.distribute import training_loop, worker_dir
from kerastune.peft import merged_for_export, save_adapter, trainable_summary
from kerastune.recipes.config import as_dict, training_fingerprint
from kerastune.recipes.training_setup import progress
from kerastune.training.callbacks import StopOnInvalidLoss
from kerastune.training.training_backup import fit_with_backups


class FineTuningRun:
    """Base of `TextClassifierRun`, `TokenClassifierRun`, `SentenceEncoderRun`, `MaskedLMRun` and
    `PresetTaskRun` (`PresetCausalLMRun`, `PresetSeq2SeqRun`: they export and save adapters their own way).

    Subclasses set `exporter` (a `staticmethod` of a function `(*exported(), export_dir=, name=,
    version=, sequence_length=, report=, config=, **export_options())` -> path, `exported()` being
    `(model, tokenizer, names)` unless they say otherwise) and `names` (label or tag names), and add
    their own `predict` / `evaluate`.

    Attributes:
        model: the compiled task model.
        tokenizer: the backbone's tokenizer.
        train_data, validation_data: datasets with `.dataset` (and, for training, `.steps_per_epoch`);
            validation may be None.
        config: the resolved recipe config (a `FineTuningConfig`).
        strategy: the `tf.distribute.Strategy` the model was built under.
        sequence_length: int, the longest packed input (truncation length).
    """

    exporter = None

    def __init__(self, model, tokenizer, train_data, validation_data, config, strategy, sequence_length):
        self.model = model
        self.tokenizer = tokenizer
        self.train_data = train_data
        self.validation_data = validation_data
        self.config = config
        self.strategy = strategy
        self.sequence_length = sequence_length

    def callbacks(self):
        """The callbacks `fit` adds: a stop with the likely causes when the loss turns NaN or infinite,
        early stopping that restores the best weights when `early_stopping_patience` is set, and
        TensorBoard logs under `logging_dir/name/` when `logging_dir` is set."""
        callbacks = [StopOnInvalidLoss()]
        if self._early_stopping_patience() is not None:
            callbacks.append(keras.callbacks.EarlyStopping(
                self.config.early_stopping_monitor, patience=self.config.early_stopping_patience,
                restore_best_weights=True, verbose=1,
            ))
        if self.config.logging_dir:
            logs = worker_dir(os.path.join(self.config.logging_dir, self.config.name), self.strategy)
            callbacks.append(keras.callbacks.TensorBoard(logs))
        return callbacks

    def _early_stopping_patience(self):
        return getattr(self.config, "early_stopping_patience", None)  # masked LM has no validation metric

    def fit(self, callbacks=None, epochs=None, validate=True, verbose="auto", **kwargs):
        """`model.fit` on the training batches (validating each epoch when `validate`); returns History.

        Prints progress (Keras's bar on a terminal; otherwise one line per epoch and a line a minute within it). With
        `config.backup_dir` set it writes crash-safe backups to `backup_dir/name/`, and after a
        crash the same call resumes at the batch after the last one (`fit_with_backups`). Under
        MultiWorkerMirroredStrategy it trains with `MultiWorkerTrainer` (Keras's `fit` does not run
        there), the other workers writing under `workertemp_<id>/` beside the chief. The learning-rate
        schedule was sized for `config.epochs`; a different `epochs` here trains on (the rate stays
        at its end value) or stops early. Any Keras callbacks work.
        """
        kwargs.setdefault("shuffle", False)  # the training batches shuffle themselves (seeded); Keras would warn
        validation = self.validation_data.dataset if validate and self.validation_data is not None else None
        if self._early_stopping_patience() is not None and validation is None:
            raise ValueError("early_stopping_patience watches a validation metric, and this fit has no validation "
                             "data: pass validation= to the recipe (and validate=True), or unset "
                             f"early_stopping_patience. Received: early_stopping_patience={self.config.early_stopping_patience}")
        verbosity, progress_lines = progress(verbose)
        arguments = dict(
            validation_data=validation,
            epochs=epochs or self.config.epochs,
            steps_per_epoch=getattr(self.config, "steps_per_epoch", None) or self.train_data.steps_per_epoch,
            callbacks=self.callbacks() + progress_lines + list(callbacks or []),
            verbose=verbosity,
            **kwargs,
        )
        c = self.config
        fit = training_loop(self.model, self.strategy).fit  # a custom loop under several workers
        if not c.backup_dir:
            return fit(self.train_data.dataset, **arguments)
        # the training batches are an endless seeded stream: batch n depends only on (seed, n)
        return fit_with_backups(
            self.model, self.train_data.dataset, fit=fit,
            backup_dir=worker_dir(os.path.join(c.backup_dir, c.name), self.strategy),
            save_every_steps=c.backup_every_steps, fingerprint=training_fingerprint(c), **arguments,
        )

    def evaluation_set(self, given, validation):
        """`given` (a tuple: data and what goes with it) when its first item is set, else `validation`."""
        if given[0] is not None:
            return given
        if validation[0] is None:
            raise ValueError("There is no validation data to evaluate: pass validation= to the recipe, or the "
                             f"data to evaluate here. Received: {type(self).__name__}.validation_data=None")
        return validation

    def export_options(self):
        """Extra keyword arguments of `exporter` (e.g. the text classifier's `pair`)."""
        return {}

    def exported(self):
        """The positional arguments of `exporter`: the model to export, its tokenizer and `names`."""
        return self.model, self.tokenizer, self.names

    def export(self, export_dir=None, version=None, report=None):
        """Writes the string-in SavedModel to `export_dir/<config.name>/<version>/`; returns the path.

        LoRA / DoRA updates are merged into the base kernels for the export (the run's model keeps them).

        Args:
            export_dir: str, or None for `config.export_dir`.
            version: positive int, or None for the next free version.
            report: dict or None, the `evaluate()` report, saved as `evaluation.json` beside it.
        """
        with merged_for_export(self.model):  # LoRA / DoRA in the kernels, prefix MLPs computed: no extra op serving
            return self.exporter(
                *self.exported(),
                export_dir=worker_dir(export_dir or self.config.export_dir, self.strategy),
                name=self.config.name, version=version, sequence_length=self.sequence_length, report=report,
                config=as_dict(self.config), **self.export_options(),
            )

    def save_adapter(self, path):
        """Writes what parameter-efficient fine-tuning trained (`config.peft`) to `path`, without the base;
        returns its size in bytes. `kerastune.peft.load_adapter` puts it back on the same base."""
        return save_adapter(self.model, path)

    def trainable_summary(self):
        """`{"trainable", "total", "trainable_percent"}`: the weights fine-tuning updates, of all of them."""
        return trainable_summary(self.model)
