"""Recipe: fine-tune a BERT-style encoder for text classification, to a string-in SavedModel.

Thin by design: it composes `read_labelled_text` / `read_tfds` -> `ClassificationDataset` ->
`load_fine_tuning_backbone` -> `TextClassifier` -> `compile_for_training`, under a strategy, and
hands back an object whose `fit` is Keras's own (any callbacks). What it shares with every
fine-tuning recipe (backbone, optimizer, schedule, averaging, run settings) is
`FineTuningConfig`'s; only data columns, pooling, evaluation and the export signature are its own.

Example:

>>> run = text_classifier(  # doctest: +SKIP
...     backbone="../shared/models/all-MiniLM-L6-v2",
...     train="../shared/data/sst2/train.tsv", validation="../shared/data/sst2/dev.tsv")
>>> run.fit(callbacks=[keras.callbacks.EarlyStopping(patience=1)])  # doctest: +SKIP
>>> report = run.evaluate()  # doctest: +SKIP
>>> path = run.export(report=report)  # doctest: +SKIP
"""

import dataclasses
from typing import Optional

import keras
import numpy as np

from kerastune.data.bert_inputs import check_truncate
from kerastune.data.classification_dataset import ClassificationDataset
from kerastune.data.labelled_text import read_labelled_text, read_tfds
from kerastune.data.text_augmentation import augment_examples, read_synonyms
from kerastune.evaluation.classification_report import classification_report
from kerastune.export.text_classifier_export import export_text_classifier
from kerastune.models.text_classifier import TextClassifier
from kerastune.recipes.fine_tuning_run import FineTuningRun
from kerastune.recipes.run_setup import start_run
from kerastune.recipes.training_config import FineTuningConfig, fine_tuning_config
from kerastune.recipes.training_setup import (batch_splits, compile_for_training, fine_tuning_dropout,
                                              load_fine_tuning_backbone, load_teacher)


@dataclasses.dataclass(kw_only=True)
class LabelledTextColumns:
    """Where a labelled-text file keeps its texts and labels (`kerastune.data.read_labelled_text`).

    `text_column` / `text_pair_column` / `label_column` / `label_name_column`: column names (None:
    the reader's defaults for the format); `format`: `"tsv"`, `"csv"` or `"jsonl"` (None: from the
    file's extension); `max_train_examples`: keep the first N training examples (None: all).
    """

    text_column: Optional[str] = None
    text_pair_column: Optional[str] = None
    label_column: Optional[str] = None
    label_name_column: Optional[str] = None
    format: Optional[str] = None
    max_train_examples: Optional[int] = None


@dataclasses.dataclass(kw_only=True)
class TextClassifierConfig(LabelledTextColumns, FineTuningConfig):
    """Every argument of `text_classifier`: `FineTuningConfig`'s, `LabelledTextColumns`' and the pooling.

    Data: `train` / `validation` are file paths (`.tsv`, `.csv`, `.jsonl`), or split names when
    `tfds_name` is set (`tfds_name="glue/sst2", train="train", validation="validation"`).
    `pooling`: `"mean"` (masked mean of the sequence output), `"cls"` or `"pooled"` (the tanh pooler).
    `augment`: comma-separated `"delete"`, `"swap"`, `"synonym"`, `"ngram"` (`kerastune.data.text_augmentation`):
    `augment_copies` seeded copies of each training text, each operation touching
    `augment_probability` of its words; `synonyms` is a file of `word<TAB>syn1,syn2` lines. An `ngram` copy
    keeps its text's label, which a few words of it may not carry: it suits a transfer set a teacher labels
    (`distill_from` with `distillation_student_loss_weight=0`).
    `truncate`: what a text longer than `max_sequence_length` loses, in training and in the
    export alike: `"end"`, or `"middle"` (it keeps its first quarter and last three quarters).
    """

    name: str = "text_classifier"
    pooling: str = "mean"
    augment: Optional[str] = None
    augment_probability: float = 0.1
    augment_copies: int = 1
    synonyms: Optional[str] = None
    truncate: str = "end"

    def __post_init__(self):
        super().__post_init__()
        check_truncate(self.truncate)


class TextClassifierRun(FineTuningRun):
    """What `text_classifier(...)` returns (see `FineTuningRun` for `fit` and `export`).

    Attributes:
        train_data, validation_data: `ClassificationDataset` (validation may be None).
        label_names: list of str.
        validation_labels: list of int label ids of the validation set, in order (or None).
    """

    exporter = staticmethod(export_text_classifier)

    def __init__(self, *args, label_names, validation_labels):
        super().__init__(*args)
        self.label_names = self.names = label_names
        self.validation_labels = validation_labels

    def export_options(self):
        return {"pair": self.config.text_pair_column is not None, "truncate": self.config.truncate}

    def predict(self, data=None):
        """Probabilities (n, num_classes) for a `ClassificationDataset` (default: validation), in order."""
        data = data or self.validation_data
        logits = self.model.predict(data.dataset, verbose=0)
        return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))

    def evaluate(self, data=None, labels=None):
        """`classification_report` on the validation set (or `data` with its `labels`)."""
        data, labels = self.evaluation_set((data, labels), (self.validation_data, self.validation_labels))
        predictions = self.predict(data).argmax(axis=-1)
        return classification_report(np.asarray(labels), predictions, self.label_names)


def _read(config, source, label_names=None, label_values=None):
    if config.tfds_name:
        return read_tfds(
            config.tfds_name, source, config.data_dir, config.text_column, config.text_pair_column, config.label_column
        )
    return read_labelled_text(
        source,
        text_column=config.text_column,
        text_pair_column=config.text_pair_column,
        label_column=config.label_column or "label",
        label_names=label_names,
        label_name_column=config.label_name_column,
        format=config.format,
        label_values=label_values,
    )


def _augmented(config, train_text):
    if train_text.text_pairs:
        raise ValueError("augment changes single texts; this task has text pairs (text_pair_column). "
                         f"Unset augment. Received: augment={config.augment!r}")
    copies = config.augment_copies
    texts, labels = augment_examples(
        train_text.texts, train_text.labels, operations=tuple(config.augment.split(",")),
        probability=config.augment_probability, copies=copies,
        synonyms=read_synonyms(config.synonyms) if config.synonyms else None, seed=config.seed,
    )
    lines = train_text.lines * (copies + 1) if train_text.lines else None
    return dataclasses.replace(train_text, texts=texts, labels=labels, lines=lines)


def text_classifier(backbone, train=None, validation=None, **kwargs):
    """Builds data, model and optimizer for fine-tuning; returns a `TextClassifierRun`.

    With no other argument it uses the best configuration measured on SST-2 (mean pooling, lr 1e-4,
    layer-wise decay 0.85, weight average 0.999 capped to the run's length, frozen word-piece table).
    Every bad input (missing file or column, empty text, unknown label, non-UTF-8 bytes, ...)
    raises here, before any training.

    Args:
        backbone: a KerasHub preset name, a local Hugging Face / KerasHub directory, a kerastune
            backbone directory, or `"kerastune_bert"`.
            Or a whole `TextClassifierConfig` (then `**kwargs` only override its fields).
        train: a labelled-text file, or a TFDS split name with `tfds_name=`.
        validation: the same, or None.
        **kwargs: the remaining `TextClassifierConfig` fields (unknown names are an error).
    """
    config = fine_tuning_config(TextClassifierConfig, backbone, train, validation, kwargs)
    strategy = start_run(config)
    train_text = _read(config, config.train).head(config.max_train_examples)
    train_text.check_classes(config.label_column or "label")
    if config.augment:
        train_text = _augmented(config, train_text)
    validation_text = None
    if config.validation:
        validation_text = _read(config, config.validation, train_text.label_names, train_text.label_values)

    with strategy.scope():
        backbone_model, tokenizer, sequence_length = load_fine_tuning_backbone(config)
        train_data, validation_data = batch_splits(
            ClassificationDataset.from_labelled_text, train_text, validation_text, config, tokenizer, sequence_length,
            truncate=config.truncate,
        )
        model = TextClassifier(
            backbone_model, num_classes=len(train_text.label_names), pooling=config.pooling,
            dropout=fine_tuning_dropout(config.dropout, config.peft),
        )
        teacher = load_teacher(config, tokenizer, train_text.label_names, sequence_length)
        compile_for_training(model, config, train_data.steps_per_epoch, teacher=teacher)
    return TextClassifierRun(
        model, tokenizer, train_data, validation_data, config, strategy, sequence_length,
        label_names=train_text.label_names,
        validation_labels=validation_text.labels if validation_text is not None else None,
    )
