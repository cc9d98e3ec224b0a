"""Recipe: fine-tune a BERT-style encoder for BIO tagging (NER), to a string-in SavedModel.

Thin by design: `read_conll` / `read_tfds_conll` -> `TokenClassificationDataset` ->
`load_any_backbone` (KerasHub preset, Hugging Face directory, kerastune backbone directory or
`"kerastune_bert"`) -> `TokenClassifier` -> `adamw` + `WarmupLinearDecay`, under a strategy.

Example:

>>> run = token_classifier(  # doctest: +SKIP
...     backbone="../shared/models/all-MiniLM-L6-v2",
...     train="../shared/data/conll2003/train.txt", validation="../shared/data/conll2003/valid.txt",
...     epochs=3, learning_rate=1e-4)
>>> run.fit()  # doctest: +SKIP
>>> report = run.evaluate()  # entity-level precision / recall / F1 (seqeval)  # doctest: +SKIP
>>> path = run.export("saved_models", report=report)  # doctest: +SKIP
"""

import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf

from kerastune.data.conll import read_conll, read_tfds_conll
from kerastune.data.token_classification_dataset import TokenClassificationDataset
from kerastune.evaluation.sequence_labelling_report import sequence_labelling_report
from kerastune.export.token_classifier_export import export_token_classifier
from kerastune.models.backbone_directory import load_any_backbone
from kerastune.models.backbones import OWN_ENCODER, max_sequence_length
from kerastune.models.token_classifier import TokenClassifier
from kerastune.recipes.config import RecipeConfig, as_dict, resolve
from kerastune.recipes.fine_tuning_run import FineTuningRun
from kerastune.recipes.run_setup import start_run
from kerastune.training import WarmupLinearDecay, adamw


@dataclasses.dataclass
class TokenClassifierConfig(RecipeConfig):
    """Every argument of `token_classifier`, as plain typed data (saved beside the export).

    Data: `train` / `validation` are CoNLL files (`token<TAB>tag`), or split names with
    `tfds_name="conll2003"`. `invalid_bio`: `"error"` or `"repair"` (see `kerastune.data.conll`).
    Warmup: `warmup_steps` when set, else `warmup_ratio` of the total steps.
    Own encoder: `backbone="kerastune_bert"` with `vocabulary`, `num_layers`, ... (random init).
    """

    backbone: str
    train: str
    validation: Optional[str] = None
    tfds_name: Optional[str] = None
    data_dir: Optional[str] = None
    invalid_bio: str = "error"
    max_train_sentences: Optional[int] = None
    dropout: float = 0.1
    batch_size: int = 32
    epochs: int = 3
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    warmup_steps: Optional[int] = None
    global_clipnorm: Optional[float] = 1.0
    max_sequence_length: Optional[int] = None
    pad_to_multiple_of: int = 8
    jit_compile: bool = True
    steps_per_execution: int = 1
    strategy: str = "auto"
    mixed_precision: Optional[str] = None
    seed: int = 0
    name: str = "token_classifier"
    vocabulary: Optional[str] = None
    num_layers: int = 2
    num_heads: int = 2
    hidden_dim: int = 128
    intermediate_dim: int = 512


class TokenClassifierRun(FineTuningRun):
    """What `token_classifier(...)` returns.

    Attributes:
        model: the compiled `TokenClassifier`.
        tokenizer: the backbone's tokenizer.
        train_sentences, validation_sentences: `TaggedSentences` (validation may be None).
        train_data, validation_data: `TokenClassificationDataset` (validation may be None).
        tag_names: list of str.
        config: `TokenClassifierConfig`.
        strategy: the `tf.distribute.Strategy` the model was built under.
        sequence_length: int, the window length.
    """

    def __init__(self, model, tokenizer, train_sentences, validation_sentences, train_data, validation_data,
                 config, strategy, sequence_length):
        self.model = model
        self.tokenizer = tokenizer
        self.train_sentences = train_sentences
        self.validation_sentences = validation_sentences
        self.train_data = train_data
        self.validation_data = validation_data
        self.tag_names = train_data.tag_names
        self.config = config
        self.strategy = strategy
        self.sequence_length = sequence_length

    def predict(self, data=None):
        """Tag ids per word (list of int arrays, one per sentence, in order) for a `TokenClassificationDataset`."""
        data = data or self.validation_data
        values = []
        for features, _, _ in data.dataset:
            predicted = np.argmax(self.model.predict_on_batch(features), axis=-1)  # (batch, width)
            values.append(predicted[features["padding_mask"].numpy().astype(bool)])  # windows' real positions
        flat = tf.RaggedTensor.from_row_lengths(np.concatenate(values), data.token_ids.row_lengths())
        per_word = flat[:, 1:-1].flat_values.numpy()[data.is_first]  # one per word, in order
        return np.split(per_word, np.cumsum(data.words_per_sentence)[:-1])

    def evaluate(self, sentences=None, data=None):
        """`sequence_labelling_report` (entity-level P/R/F1) on validation, or on `sentences` + their `data`."""
        if sentences is None:
            sentences, data = self.validation_sentences, self.validation_data
        if sentences is None:
            raise ValueError("no validation data: pass validation= to token_classifier, or sentences= and data=")
        predicted = [[self.tag_names[i] for i in s] for s in self.predict(data)]
        return sequence_labelling_report(sentences.tag_strings(), predicted)

    def dataset(self, sentences):
        """A `TokenClassificationDataset` (in order) for other `TaggedSentences`, as validation is built."""
        return TokenClassificationDataset.from_sentences(
            sentences, self.tokenizer, self.config.batch_size, self.sequence_length, training=False,
            pad_to_multiple_of=self.config.pad_to_multiple_of,
        )

    def export(self, export_dir="saved_models", version=None, report=None):
        """Writes the string-in SavedModel to `export_dir/<config.name>/<version>/`; returns the path."""
        return export_token_classifier(
            self.model, self.tokenizer, self.tag_names, export_dir=export_dir, name=self.config.name,
            version=version, sequence_length=self.sequence_length, report=report, config=as_dict(self.config),
        )


def _read(config, source, tag_names=None):
    if config.tfds_name:
        return read_tfds_conll(source, config.data_dir, config.tfds_name)
    return read_conll(source, tag_names=tag_names, invalid_bio=config.invalid_bio)


def token_classifier(backbone, train, validation=None, **kwargs):
    """Builds data, model and optimizer for BIO tagging; returns a `TokenClassifierRun`.

    Every bad input (a line without a tag, an unknown tag, invalid BIO, an empty token, ...)
    raises here with the file and line, before any training.

    Args:
        backbone: a KerasHub preset, a Hugging Face / KerasHub directory, a kerastune backbone
            directory (`save_backbone_directory`), or `"kerastune_bert"`.
        train: a CoNLL file, or a TFDS split name with `tfds_name=`.
        validation: the same, or None.
        **kwargs: the remaining `TokenClassifierConfig` fields (unknown names are an error).
    """
    c = resolve(TokenClassifierConfig, {"backbone": str(backbone), "train": str(train), "validation": validation,
                                        **kwargs})
    strategy = start_run(c)
    train_sentences = _read(c, c.train).head(c.max_train_sentences)
    validation_sentences = _read(c, c.validation, train_sentences.tag_names) if c.validation else None

    with strategy.scope():
        if c.backbone == OWN_ENCODER:
            encoder_kwargs = {k: getattr(c, k) for k in ("num_layers", "num_heads", "hidden_dim", "intermediate_dim",
                                                         "dropout")}
            if c.max_sequence_length:
                encoder_kwargs["max_sequence_length"] = c.max_sequence_length
            backbone_model, tokenizer = load_any_backbone(OWN_ENCODER, vocabulary=c.vocabulary, **encoder_kwargs)
        else:
            backbone_model, tokenizer = load_any_backbone(c.backbone, dropout=c.dropout)
        sequence_length = min(c.max_sequence_length or 10**9, max_sequence_length(backbone_model))
        data_args = dict(tokenizer=tokenizer, batch_size=c.batch_size, sequence_length=sequence_length,
                         pad_to_multiple_of=c.pad_to_multiple_of, seed=c.seed)
        train_data = TokenClassificationDataset.from_sentences(train_sentences, training=True, **data_args)
        validation_data = None
        if validation_sentences is not None:
            validation_data = TokenClassificationDataset.from_sentences(validation_sentences, **data_args)
        model = TokenClassifier(backbone_model, num_tags=len(train_sentences.tag_names), dropout=c.dropout)
        total_steps = max(train_data.steps_per_epoch * c.epochs, 1)
        warmup = c.warmup_steps if c.warmup_steps is not None else int(c.warmup_ratio * total_steps)
        schedule = WarmupLinearDecay(c.learning_rate, total_steps=total_steps, warmup_steps=min(warmup, total_steps))
        model.compile(
            optimizer=adamw(schedule, weight_decay=c.weight_decay, global_clipnorm=c.global_clipnorm),
            jit_compile=c.jit_compile,
            steps_per_execution=c.steps_per_execution,
        )
    return TokenClassifierRun(model, tokenizer, train_sentences, validation_sentences, train_data, validation_data,
                              c, strategy, sequence_length)
