"""Recipe: fine-tune a BERT-style encoder for text classification, to a string-in SavedModel.

Thin by design: it composes `read_labelled_text` / `read_tfds` -> `ClassificationDataset` ->
`load_backbone` -> `TextClassifier` -> `adamw` + `WarmupLinearDecay`, under a strategy, and hands
back an object whose `fit` is Keras's own (any callbacks).

Example:

>>> run = text_classifier(  # doctest: +SKIP
...     backbone="../shared/models/all-MiniLM-L6-v2",
...     train="../shared/data/sst2/train.tsv", validation="../shared/data/sst2/dev.tsv",
...     epochs=2, learning_rate=1e-4)
>>> run.fit(callbacks=[keras.callbacks.EarlyStopping(patience=1)])  # doctest: +SKIP
>>> report = run.evaluate()  # doctest: +SKIP
>>> path = run.export("saved_models", report=report)  # doctest: +SKIP
"""

import dataclasses
import typing

import keras
import numpy as np

from kerastune.data.classification_dataset import ClassificationDataset
from kerastune.data.labelled_text import read_labelled_text, read_tfds
from kerastune.evaluation.classification_report import classification_report
from kerastune.export.text_classifier_export import export_text_classifier
from kerastune.models.backbones import OWN_ENCODER, freeze_token_embedding, load_backbone, max_sequence_length
from kerastune.models.text_classifier import TextClassifier
from kerastune.recipes.config import RecipeConfig, resolve
from kerastune.recipes.fine_tuning_run import FineTuningRun
from kerastune.recipes.run_setup import start_run
from kerastune.training import WarmupLinearDecay, adamw, layerwise_decay_multipliers


@dataclasses.dataclass
class TextClassifierConfig(RecipeConfig):
    """Every argument of `text_classifier`, as plain typed data (saved beside the export).

    Data: `train` / `validation` are file paths (`.tsv`, `.csv`, `.jsonl`), or split names when
    `tfds_name` is set (`tfds_name="glue/sst2", train="train", validation="validation"`).
    Warmup: `warmup_steps` when set, else `warmup_ratio` of the total steps.
    Own encoder: `backbone="kerastune_bert"` with `vocabulary` and `num_layers`, `num_heads`,
    `hidden_dim`, `intermediate_dim`.
    """

    backbone: str
    train: str
    validation: typing.Optional[str] = None
    tfds_name: typing.Optional[str] = None
    data_dir: typing.Optional[str] = None
    text_column: typing.Optional[str] = None
    text_pair_column: typing.Optional[str] = None
    label_column: typing.Optional[str] = None
    label_name_column: typing.Optional[str] = None
    format: typing.Optional[str] = None
    max_train_examples: typing.Optional[int] = None
    pooling: str = "pooled"
    dropout: float = 0.1
    batch_size: int = 32
    epochs: int = 2
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    warmup_steps: typing.Optional[int] = None
    global_clipnorm: typing.Optional[float] = 1.0
    ema_momentum: float = 0.0  # > 0: average the weights (Keras use_ema), written into the model when fit ends
    layerwise_lr_decay: float = 1.0  # < 1: each layer down trains at this factor of the one above (head: 1)
    freeze_token_embedding: bool = False  # keep the pretrained word-piece table fixed (no gradient, no Adam state)
    max_sequence_length: typing.Optional[int] = None
    pad_to_multiple_of: int = 8
    jit_compile: bool = True
    steps_per_execution: int = 1
    strategy: str = "auto"
    mixed_precision: typing.Optional[str] = None
    seed: int = 0
    name: str = "text_classifier"
    vocabulary: typing.Optional[str] = None
    num_layers: int = 2
    num_heads: int = 2
    hidden_dim: int = 128
    intermediate_dim: int = 512


class TextClassifierRun(FineTuningRun):
    """What `text_classifier(...)` returns: model, data, label names and the resolved config.

    Attributes:
        model: the compiled `TextClassifier`.
        tokenizer: the backbone's tokenizer.
        train_data, validation_data: `ClassificationDataset` (validation may be None).
        label_names: list of str.
        validation_labels: list of int label ids of the validation set, in order (or None).
        config: `TextClassifierConfig`.
        strategy: the `tf.distribute.Strategy` the model was built under.
        sequence_length: int, the longest packed input (truncation length).
    """

    def __init__(
        self, model, tokenizer, train_data, validation_data, validation_labels, label_names, config, strategy,
        sequence_length,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.train_data = train_data
        self.validation_data = validation_data
        self.label_names = label_names
        self.config = config
        self.strategy = strategy
        self.validation_labels = validation_labels
        self.sequence_length = sequence_length

    def predict(self, data=None):
        """Probabilities (n, num_classes) for a `ClassificationDataset` (default: validation), in order."""
        data = data or self.validation_data
        logits = self.model.predict(data.dataset, verbose=0)
        return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))

    def evaluate(self, data=None, labels=None):
        """`classification_report` on the validation set (or `data` with its `labels`)."""
        if data is None:
            data, labels = self.validation_data, self.validation_labels
        if data is None:
            raise ValueError("no validation data: pass validation= to text_classifier, or data= and labels=")
        predictions = self.predict(data).argmax(axis=-1)
        return classification_report(np.asarray(labels), predictions, self.label_names)

    def export(self, export_dir="saved_models", version=None, report=None):
        """Writes the string-in SavedModel to `export_dir/<config.name>/<version>/`; returns the path."""
        return export_text_classifier(
            self.model,
            self.tokenizer,
            self.label_names,
            export_dir=export_dir,
            name=self.config.name,
            version=version,
            pair=self.config.text_pair_column is not None,
            sequence_length=self.sequence_length,
            report=report,
            config=dataclasses.asdict(self.config),
        )


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


def text_classifier(backbone, train, validation=None, **kwargs):
    """Builds data, model and optimizer for fine-tuning; returns a `TextClassifierRun`.

    Every bad input (missing file or column, empty text, unknown label, non-UTF-8 bytes, ...)
    raises here, before any training.

    Args:
        backbone: a KerasHub preset name, a local Hugging Face / KerasHub directory, or
            `"kerastune_bert"`.
        train: a labelled-text file, or a TFDS split name with `tfds_name=`.
        validation: the same, or None.
        **kwargs: the remaining `TextClassifierConfig` fields (unknown names are an error).
    """
    config = resolve(
        TextClassifierConfig, {"backbone": str(backbone), "train": str(train), "validation": validation, **kwargs}
    )
    strategy = start_run(config)
    train_text = _read(config, config.train).head(config.max_train_examples)
    validation_text = None
    if config.validation:
        validation_text = _read(config, config.validation, train_text.label_names, train_text.label_values)

    with strategy.scope():
        if config.backbone == OWN_ENCODER:
            encoder_kwargs = {
                k: getattr(config, k) for k in ("num_layers", "num_heads", "hidden_dim", "intermediate_dim", "dropout")
            }
            if config.max_sequence_length:
                encoder_kwargs["max_sequence_length"] = config.max_sequence_length
            backbone_model, tokenizer = load_backbone(OWN_ENCODER, vocabulary=config.vocabulary, **encoder_kwargs)
        else:
            backbone_model, tokenizer = load_backbone(config.backbone, dropout=config.dropout)
        sequence_length = min(config.max_sequence_length or 10**9, max_sequence_length(backbone_model))
        if config.freeze_token_embedding:
            freeze_token_embedding(backbone_model)

        data_args = dict(
            tokenizer=tokenizer,
            batch_size=config.batch_size,
            sequence_length=sequence_length,
            pad_to_multiple_of=config.pad_to_multiple_of,
            seed=config.seed,
        )
        train_data = ClassificationDataset.from_labelled_text(train_text, training=True, **data_args)
        validation_data = None
        if validation_text is not None:
            validation_data = ClassificationDataset.from_labelled_text(validation_text, training=False, **data_args)

        model = TextClassifier(
            backbone_model, num_classes=len(train_text.label_names), pooling=config.pooling, dropout=config.dropout
        )
        total_steps = max(train_data.steps_per_epoch * config.epochs, 1)
        warmup = config.warmup_steps if config.warmup_steps is not None else int(config.warmup_ratio * total_steps)
        schedule = WarmupLinearDecay(config.learning_rate, total_steps=total_steps, warmup_steps=min(warmup, total_steps))
        multipliers = None
        if config.layerwise_lr_decay != 1.0:
            multipliers = layerwise_decay_multipliers(model, config.layerwise_lr_decay)
        model.compile(
            optimizer=adamw(
                schedule,
                weight_decay=config.weight_decay,
                global_clipnorm=config.global_clipnorm,
                ema_momentum=config.ema_momentum or None,
                learning_rate_multipliers=multipliers,
            ),
            jit_compile=config.jit_compile,
            steps_per_execution=config.steps_per_execution,
        )
    return TextClassifierRun(
        model,
        tokenizer,
        train_data,
        validation_data,
        validation_text.labels if validation_text is not None else None,
        train_text.label_names,
        config,
        strategy,
        sequence_length,
    )
