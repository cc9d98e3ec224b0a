"""Recipe: fine-tune a BERT-style encoder for BIO tagging (NER), to a string-in SavedModel.

Thin by design: `read_conll` / `read_tfds_conll` -> `TokenClassificationDataset` ->
`load_fine_tuning_backbone` -> `TokenClassifier` -> `compile_for_training`, under a strategy. What
it shares with every fine-tuning recipe is `FineTuningConfig`'s; only the CoNLL reading, the
per-word predictions, the entity-level report and the export signature are its own.

Example:

>>> run = token_classifier(  # doctest: +SKIP
...     backbone="../shared/models/all-MiniLM-L6-v2",
...     train="../shared/data/conll2003/train.txt", validation="../shared/data/conll2003/valid.txt")
>>> run.fit()  # doctest: +SKIP
>>> report = run.evaluate()  # entity-level precision / recall / F1 (seqeval)  # doctest: +SKIP
>>> path = run.export(report=report)  # doctest: +SKIP
"""

import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf

from kerastune.data.conll import read_conll, read_tfds_conll
from kerastune.data.token_classification_dataset import TokenClassificationDataset
from kerastune.evaluation.sequence_labelling_report import sequence_labelling_report
from kerastune.export.token_classifier_export import export_token_classifier
from kerastune.models.token_classifier import TokenClassifier
from kerastune.recipes.fine_tuning_run import FineTuningRun
from kerastune.recipes.run_setup import start_run
from kerastune.recipes.training_config import FineTuningConfig, fine_tuning_config
from kerastune.recipes.training_setup import (batch_splits, compile_for_training, fine_tuning_dropout,
                                              load_fine_tuning_backbone, load_teacher)


@dataclasses.dataclass(kw_only=True)
class TokenClassifierConfig(FineTuningConfig):
    """Every argument of `token_classifier`: `FineTuningConfig`'s, plus the CoNLL options.

    Data: `train` / `validation` are CoNLL files (`token<TAB>tag`), or split names with
    `tfds_name="conll2003"`. `invalid_bio`: `"error"` or `"repair"` (see `kerastune.data.conll`).

    Defaults, measured on CoNLL-2003 valid with all-MiniLM-L6-v2 (lr 1e-4, batch 32, `benchmarks/README.md`):
    4 epochs with the weight average (0.999, capped to the run's length) gave entity F1 90.94, where
    3 epochs without it gave 90.07 on the same machine (90.20 on another). The text classifier's other
    defaults stay off: with layer-wise decay 0.85 and a frozen word-piece table as well, 3 epochs gave 88.3.
    """

    name: str = "token_classifier"
    epochs: int = 4
    ema_momentum: float = 0.999
    layerwise_lr_decay: Optional[float] = 1.0
    freeze_token_embedding: Optional[bool] = False
    invalid_bio: str = "error"
    max_train_sentences: Optional[int] = None


class TokenClassifierRun(FineTuningRun):
    """What `token_classifier(...)` returns (see `FineTuningRun` for `fit` and `export`).

    Attributes:
        train_sentences, validation_sentences: `TaggedSentences` (validation may be None).
        train_data, validation_data: `TokenClassificationDataset` (validation may be None).
        tag_names: list of str.
    """

    exporter = staticmethod(export_token_classifier)

    def __init__(self, *args, train_sentences, validation_sentences):
        super().__init__(*args)
        self.train_sentences = train_sentences
        self.validation_sentences = validation_sentences
        self.tag_names = self.names = self.train_data.tag_names

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
        sentences, data = self.evaluation_set((sentences, data), (self.validation_sentences, self.validation_data))
        predicted = [[self.tag_names[i] for i in s] for s in self.predict(data)]
        return sequence_labelling_report(sentences.tag_strings(), predicted)

    def dataset(self, sentences):
        """A `TokenClassificationDataset` (in order) for other `TaggedSentences`, as validation is built."""
        return TokenClassificationDataset.from_sentences(
            sentences, self.tokenizer, self.config.batch_size, self.sequence_length, training=False,
            pad_to_multiple_of=self.config.pad_to_multiple_of,
        )


def _read(config, source, tag_names=None):
    if config.tfds_name:
        return read_tfds_conll(source, config.data_dir, config.tfds_name)
    return read_conll(source, tag_names=tag_names, invalid_bio=config.invalid_bio)


def token_classifier(backbone, train=None, validation=None, **kwargs):
    """Builds data, model and optimizer for BIO tagging; returns a `TokenClassifierRun`.

    Every bad input (a line without a tag, an unknown tag, invalid BIO, an empty token, ...)
    raises here with the file and line, before any training.

    Args:
        backbone: a KerasHub preset, a Hugging Face / KerasHub directory, a kerastune backbone
            directory (`save_backbone_directory`), or `"kerastune_bert"`.
            Or a whole `TokenClassifierConfig` (then `**kwargs` only override its fields).
        train: a CoNLL file, or a TFDS split name with `tfds_name=`.
        validation: the same, or None.
        **kwargs: the remaining `TokenClassifierConfig` fields (unknown names are an error).
    """
    config = fine_tuning_config(TokenClassifierConfig, backbone, train, validation, kwargs)
    strategy = start_run(config)
    train_sentences = _read(config, config.train).head(config.max_train_sentences)
    validation_sentences = _read(config, config.validation, train_sentences.tag_names) if config.validation else None

    with strategy.scope():
        backbone_model, tokenizer, sequence_length = load_fine_tuning_backbone(config)
        train_data, validation_data = batch_splits(
            TokenClassificationDataset.from_sentences, train_sentences, validation_sentences, config, tokenizer,
            sequence_length,
        )
        model = TokenClassifier(backbone_model, num_tags=len(train_sentences.tag_names),
                                dropout=fine_tuning_dropout(config.dropout, config.peft))
        teacher = load_teacher(config, tokenizer, train_sentences.tag_names, sequence_length)
        compile_for_training(model, config, train_data.steps_per_epoch, teacher=teacher)
    return TokenClassifierRun(
        model, tokenizer, train_data, validation_data, config, strategy, sequence_length,
        train_sentences=train_sentences, validation_sentences=validation_sentences,
    )
