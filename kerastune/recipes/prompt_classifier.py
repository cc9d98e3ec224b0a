"""Recipe: few-shot classification by Pattern-Exploiting Training (PET), to a string-in SavedModel.

Thin by design: `read_labelled_text` -> `PromptPattern(...).tokenizer` (the cloze around each text)
-> `ClassificationDataset` -> `load_masked_lm_backbone` (backbone + its MLM head) ->
`PromptClassifier` -> `compile_for_training`. The whole model is fine-tuned on the few labelled
examples with cross-entropy over the verbaliser scores (Schick & Schuetze, 2021). Several runs
(one per pattern) ensemble with `ensemble_probabilities`, and `distill_ensemble` trains a plain
`TextClassifier` on the ensemble's soft labels over unlabelled text (iPET-lite: one generation).

Example:

>>> runs = [prompt_classifier("/tmp/minilm_mlm", "few.tsv", "../shared/data/sst2/dev.tsv",  # doctest: +SKIP
...                           pattern=p, verbalizer="terrible,great")
...         for p in ("<text> It was [MASK].", "<text> All in all, it was [MASK].")]
>>> for run in runs: run.fit()  # doctest: +SKIP
>>> probabilities = ensemble_probabilities(runs, ["a gorgeous film"])  # doctest: +SKIP
>>> runs[0].export()  # doctest: +SKIP
"""

import dataclasses
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from kerastune.data.bert_inputs import dense_inputs, pad_id, tokenize_and_pack
from kerastune.data.classification_dataset import ClassificationDataset
from kerastune.data.labelled_text import LabelledText
from kerastune.data.prompt_pattern import DEFAULT_PATTERN, PromptPattern, verbalizer_token_ids
from kerastune.models.backbones import freeze_token_embedding, max_sequence_length
from kerastune.models.prompt_classifier import PromptClassifier, load_masked_lm_backbone
from kerastune.models.text_classifier import TextClassifier
from kerastune.recipes.run_setup import start_run
from kerastune.recipes.text_classifier import LabelledTextColumns, TextClassifierRun, _read
from kerastune.recipes.training_config import FineTuningConfig, fine_tuning_config
from kerastune.recipes.training_setup import batch_splits, build_optimizer, compile_for_training, fine_tuning_dropout


@dataclasses.dataclass(kw_only=True)
class PromptClassifierConfig(LabelledTextColumns, FineTuningConfig):
    """Every argument of `prompt_classifier`: `FineTuningConfig`'s and `LabelledTextColumns`' (no
    `text_pair_column`: its patterns take one text) plus the pattern and verbaliser.

    `pattern`: one `<text>` and one `[MASK]` (`kerastune.data.prompt_pattern`). `verbalizer`: the
    label words in label-id order, comma-separated, several words of one label joined by `/`
    (`"terrible,great"`, `"bad/awful,good"`); each must be one word piece of the vocabulary.
    Defaults are PET's few-shot ones: lr 1e-5 (no layer-wise decay), batch 16, no weight average.
    """

    name: str = "prompt_classifier"
    pattern: str = DEFAULT_PATTERN
    verbalizer: str = "terrible,great"
    max_sequence_length: Optional[int] = 128
    learning_rate: float = 1e-5
    layerwise_lr_decay: Optional[float] = 1.0
    ema_momentum: float = 0.0
    batch_size: int = 16
    epochs: int = 10

    def __post_init__(self):
        super().__post_init__()
        PromptPattern(self.pattern)  # a bad pattern is an error here, before any weight is loaded
        if self.text_pair_column is not None:
            raise ValueError("prompt_classifier patterns take one text (<text>); text pairs are not supported. "
                             f"Received: text_pair_column={self.text_pair_column!r}")


def parse_verbalizer(text):
    """`"bad/awful,good"` -> `[["bad", "awful"], ["good"]]`."""
    return [[w.strip() for w in label.split("/")] for label in str(text).split(",")]


class PromptClassifierRun(TextClassifierRun):
    """What `prompt_classifier(...)` returns: `fit`, `evaluate`, `predict`, `export` as the text
    classifier's (the export's tokenizer builds the cloze, so it takes raw strings), and
    `predict_texts(texts)` for plain strings."""

    def export_options(self):
        return {}

    def predict_texts(self, texts, batch_size=64):
        """Label probabilities (n, num_labels) for a list of raw strings."""
        data = LabelledText(list(texts), None, [0] * len(texts), self.label_names)
        dataset = ClassificationDataset.from_labelled_text(
            data, self.tokenizer, batch_size=batch_size, sequence_length=self.sequence_length,
            pad_to_multiple_of=self.config.pad_to_multiple_of)
        return self.predict(dataset)


def prompt_classifier(backbone, train=None, validation=None, **kwargs):
    """Builds data, `PromptClassifier` and optimizer for PET fine-tuning; returns a `PromptClassifierRun`.

    Args:
        backbone: a backbone that has a masked-LM head (`load_masked_lm_backbone`): a kerastune
            backbone directory saved with its head, or a KerasHub masked-LM preset / directory.
            Or a whole `PromptClassifierConfig`.
        train, validation: labelled-text files (`.tsv`, `.csv`, `.jsonl`); validation may be None.
        **kwargs: the remaining `PromptClassifierConfig` fields (unknown names are an error).
    """
    config = fine_tuning_config(PromptClassifierConfig, backbone, train, validation, kwargs)
    strategy = start_run(config)
    train_text = _read(config, config.train).head(config.max_train_examples)
    validation_text = _read(config, config.validation, train_text.label_names, train_text.label_values) \
        if config.validation else None
    with strategy.scope():
        dropout = fine_tuning_dropout(config.dropout, config.peft)
        backbone_model, head, tokenizer = load_masked_lm_backbone(config.backbone, dropout=dropout)
        verbalizer = verbalizer_token_ids(parse_verbalizer(config.verbalizer), tokenizer)
        if len(verbalizer) != len(train_text.label_names):
            raise ValueError(f"verbalizer={config.verbalizer!r} names {len(verbalizer)} labels but the data has "
                             f"{len(train_text.label_names)} ({train_text.label_names}); give one word per label, in order")
        sequence_length = min(config.max_sequence_length or 512, max_sequence_length(backbone_model))
        prompt_tokenizer = PromptPattern(config.pattern).tokenizer(tokenizer, sequence_length)
        if config.freeze_token_embedding is not False:
            freeze_token_embedding(backbone_model)
        train_data, validation_data = batch_splits(
            ClassificationDataset.from_labelled_text, train_text, validation_text, config, prompt_tokenizer,
            sequence_length)
        model = PromptClassifier(backbone_model, head, verbalizer, prompt_tokenizer.mask_token_id)
        compile_for_training(model, config, train_data.steps_per_epoch)
    return PromptClassifierRun(
        model, prompt_tokenizer, train_data, validation_data, config, strategy, sequence_length,
        label_names=train_text.label_names,
        validation_labels=validation_text.labels if validation_text is not None else None,
    )


def ensemble_probabilities(runs, texts):
    """PET's ensemble: the mean of the runs' label probabilities (n, num_labels) over raw `texts`."""
    if not runs:
        raise ValueError("ensemble_probabilities needs at least one run")
    return np.mean([run.predict_texts(texts) for run in runs], axis=0)


def soft_label_dataset(texts, probabilities, tokenizer, sequence_length, batch_size=32, training=True, seed=0):
    """`({"token_ids", "segment_ids", "padding_mask"}, probabilities)` batches for distillation."""
    ds = tf.data.Dataset.from_tensor_slices((list(texts), np.asarray(probabilities, np.float32)))
    if training:
        ds = ds.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True).repeat()
    padding_id = pad_id(tokenizer)

    def encode(text, target):
        token_ids, segment_ids, _ = tokenize_and_pack(tokenizer, text, None, sequence_length)
        return dense_inputs(token_ids, segment_ids, padding_id), target

    return ds.batch(batch_size, drop_remainder=training).map(encode).prefetch(tf.data.AUTOTUNE)


def distill_ensemble(runs, unlabelled_texts, backbone, tokenizer, epochs=1, batch_size=32, learning_rate=5e-5,
                     sequence_length=128, pooling="mean", seed=0):
    """iPET-lite: a `TextClassifier` over `backbone` trained on the ensemble's soft labels; returns it.

    The targets are `ensemble_probabilities(runs, unlabelled_texts)`; the loss is the cross-entropy
    against them (PET's distillation, without its temperature). `tokenizer` is the backbone's
    plain one (the distilled model reads texts without the pattern).
    """
    targets = ensemble_probabilities(runs, unlabelled_texts)
    data = soft_label_dataset(unlabelled_texts, targets, tokenizer, sequence_length, batch_size, seed=seed)
    model = TextClassifier(backbone, num_classes=targets.shape[1], pooling=pooling)
    steps = max(len(unlabelled_texts) // batch_size, 1)
    config = PromptClassifierConfig(backbone="-", train="-", learning_rate=learning_rate, epochs=epochs)
    model.compile(optimizer=build_optimizer(config, steps * epochs, model),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    model.fit(data, epochs=epochs, steps_per_epoch=steps, verbose=2)
    return model
