"""Recipe: pretrain a BERT-style encoder from scratch (masked LM, optionally + next-sentence prediction).

Thin by design: text files -> `split_documents` -> `train_wordpiece_tokenizer` (KerasHub) ->
`MaskedLMDataset` (KerasHub `MaskedLMMaskGenerator`) -> `BertEncoder` -> `BertPretrainer` ->
`adamw` + `WarmupLinearDecay`, under a strategy. `run.save_backbone(path)` writes the reusable
backbone directory that every fine-tuning recipe (`token_classifier(backbone=path)`, ...) loads by path.
`masked_lm(backbone=path)` continues pretraining such a directory on new text (domain- or
task-adaptive pretraining): its vocabulary, architecture, weights and MLM head are reused.

Example:

>>> run = masked_lm(data="../shared/data/wikitext2/valid.txt", epochs=1)  # doctest: +SKIP
>>> history = run.fit()  # doctest: +SKIP
>>> run.save_backbone("backbones/wiki_bert")  # doctest: +SKIP
"""

import dataclasses
import json
import os
import warnings
from typing import Optional

from kerastune.data.masked_lm_dataset import MaskedLMDataset, hold_out_documents, split_documents
from kerastune.data.subword_tokenizer import train_wordpiece_tokenizer
from kerastune.export.versioned_directory import next_version
from kerastune.models.backbone_directory import load_backbone_directory, load_masked_lm_head, save_backbone_directory
from kerastune.models.bert_encoder import BertEncoder
from kerastune.models.bert_pretrainer import BertPretrainer
from kerastune.recipes.config import as_dict, config_from
from kerastune.recipes.fine_tuning_run import FineTuningRun
from kerastune.recipes.run_setup import start_run
from kerastune.recipes.training_config import ArchitectureConfig, TrainingConfig
from kerastune.recipes.training_setup import compile_for_training


@dataclasses.dataclass(kw_only=True)
class MaskedLMConfig(TrainingConfig, ArchitectureConfig):
    """Every setting of `masked_lm`: `TrainingConfig`'s (optimizer, schedule, run settings) plus its own.

    `data`: comma-separated text files; WikiText-style files split into documents at their
    top-level headings, other files one document per blank-line block (`split_documents`). A
    `.tsv` file is read as its first column after the header (SST-2's sentences, labels unused),
    one single-sentence document per row.
    """

    name: str = "masked_lm"
    data: str = ""
    backbone: Optional[str] = None  # continue pretraining this backbone directory (see `masked_lm`)
    validation_fraction: float = 0.02
    vocabulary_size: int = 8000
    lowercase: bool = True
    next_sentence: bool = True
    pack_sentences: bool = False  # needs next_sentence=False: fill each example with consecutive sentences
    mask_selection_rate: float = 0.15
    sequence_length: int = 128
    batch_size: int = 64
    epochs: int = 1
    steps_per_epoch: Optional[int] = None  # default: one pass over the examples
    learning_rate: float = 5e-4
    warmup_ratio: float = 0.05


def read_documents(paths):
    """Documents (lists of sentences) from comma-separated text / TSV files."""
    documents = []
    for path in [p.strip() for p in paths.split(",") if p.strip()]:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file (pretraining text); check the data= paths")
        with open(path, encoding="utf-8") as f:
            if path.endswith(".tsv"):
                next(f)  # header
                documents += [[line.split("\t")[0].strip()] for line in f if line.split("\t")[0].strip()]
            else:
                documents += split_documents(f.read())
    if not documents:
        raise ValueError(f"data={paths!r} holds no text; pass text files (comma-separated)")
    return documents


class MaskedLMRun(FineTuningRun):
    """What `masked_lm` returns: the compiled pretrainer, its encoder and tokenizer, data, config.

    `fit` (from `FineTuningRun`) trains `config.epochs` x `steps_per_epoch` steps with progress;
    `export()` / `save_backbone(path)` write the reusable backbone directory.

    Attributes:
        model: the compiled `BertPretrainer`.
        encoder: its `BertEncoder`.
        train_data, validation_data: `MaskedLMDataset` (validation may be None).
    """

    def __init__(self, *args, encoder):
        super().__init__(*args)
        self.encoder = encoder

    def save_backbone(self, path):
        """The reusable backbone directory (config, weights, vocabulary, MLM head, `pretraining.json`)."""
        path = save_backbone_directory(self.encoder, self.tokenizer, path, masked_lm_head=self.model.masked_lm_head)
        with open(os.path.join(path, "pretraining.json"), "w", encoding="utf-8") as f:
            json.dump(as_dict(self.config), f, indent=1)
        return path

    def export(self, export_dir=None, version=None, report=None):
        """Saves the backbone directory to `export_dir/<config.name>/<version>/`; returns the path.

        `report` (e.g. the final losses) is written beside it as `evaluation.json` when given.
        """
        model_dir = os.path.join(export_dir or self.config.export_dir, self.config.name)
        path = self.save_backbone(os.path.join(model_dir, str(version or next_version(model_dir))))
        if report is not None:
            with open(os.path.join(path, "evaluation.json"), "w", encoding="utf-8") as f:
                json.dump(report, f, indent=1)
        return path


def masked_lm(config=None, **overrides):
    """Builds vocabulary, data and a compiled `BertPretrainer`; returns a `MaskedLMRun`.

    With `backbone=path` (a directory saved by `run.save_backbone`) no vocabulary is trained and no
    encoder is built: pretraining continues from that directory's vocabulary, architecture, weights
    and MLM head on `data` (e.g. the unlabelled text of the task to fine-tune on). Architecture and
    vocabulary settings then come from the directory; setting one to another value is an error, and
    `sequence_length` defaults to the encoder's maximum.
    """
    c = config_from(MaskedLMConfig, config, overrides)
    given = {**_changed_fields(config), **overrides}  # what the caller set, checked against a backbone
    strategy = start_run(c)
    documents = read_documents(c.data)
    train_documents, validation_documents = hold_out_documents(documents, c.validation_fraction, c.seed)
    with strategy.scope():
        if c.backbone:
            encoder, tokenizer = load_backbone_directory(c.backbone, dropout=c.dropout)
            c = _settings_from_backbone(c, given, encoder, tokenizer)
        else:
            tokenizer = _bert_tokenizer(train_wordpiece_tokenizer(
                [" ".join(doc) for doc in train_documents], c.vocabulary_size, lowercase=c.lowercase
            ))
            encoder = BertEncoder(
                vocabulary_size=tokenizer.vocabulary_size(), num_layers=c.num_layers, num_heads=c.num_heads,
                hidden_dim=c.hidden_dim, intermediate_dim=c.intermediate_dim, dropout=c.dropout,
                max_sequence_length=c.sequence_length,
            )
        model = BertPretrainer(encoder, dropout=c.dropout, next_sentence=c.next_sentence, name=c.name)
        if c.backbone and not load_masked_lm_head(c.backbone, model.masked_lm_head):
            warnings.warn(f"{c.backbone} holds no MLM head (saved without one): it starts from random init")
    data_args = dict(tokenizer=tokenizer, batch_size=c.batch_size, sequence_length=c.sequence_length,
                     next_sentence=c.next_sentence, pack_sentences=c.pack_sentences,
                     mask_selection_rate=c.mask_selection_rate, seed=c.seed)
    train_data = MaskedLMDataset.from_documents(train_documents, **data_args)
    validation_data = (MaskedLMDataset.from_documents(validation_documents, training=False, **data_args)
                       if validation_documents else None)
    with strategy.scope():
        compile_for_training(model, c, c.steps_per_epoch or train_data.steps_per_epoch)
    return MaskedLMRun(model, tokenizer, train_data, validation_data, c, strategy, c.sequence_length, encoder=encoder)


def _changed_fields(config):
    """The fields of `config` (or None) that differ from `MaskedLMConfig`'s defaults."""
    if config is None:
        return {}
    defaults = MaskedLMConfig(data=config.data)
    return {k: v for k, v in as_dict(config).items() if v != getattr(defaults, k)}


def _settings_from_backbone(c, given, encoder, tokenizer):
    """`c` with the architecture and vocabulary settings of the loaded backbone; conflicts are errors."""
    config = encoder.get_config()
    found = {key: config[key] for key in ("num_layers", "num_heads", "hidden_dim", "intermediate_dim")}
    found.update(vocabulary_size=tokenizer.vocabulary_size(), lowercase=bool(tokenizer.lowercase))
    conflicts = {k: (getattr(c, k), v) for k, v in found.items() if k in given and getattr(c, k) != v}
    if conflicts:
        listed = ", ".join(f"{k}={mine!r} (the backbone has {theirs!r})" for k, (mine, theirs) in conflicts.items())
        raise ValueError(f"backbone={c.backbone!r} fixes the vocabulary and architecture, but received {listed}; "
                         "drop these settings to continue pretraining that backbone")
    maximum = config["max_sequence_length"]
    sequence_length = c.sequence_length if "sequence_length" in given else maximum
    if sequence_length > maximum:
        raise ValueError(f"sequence_length={sequence_length} exceeds the max_sequence_length {maximum} of "
                         f"backbone={c.backbone!r}; pass sequence_length <= {maximum}")
    return dataclasses.replace(c, sequence_length=sequence_length, **found)


def _bert_tokenizer(wordpiece):
    """The trained WordPiece vocabulary as a `BertTokenizer` (`[CLS]`/`[SEP]`/`[MASK]` ids)."""
    import keras_hub

    return keras_hub.tokenizers.BertTokenizer(
        vocabulary=wordpiece.get_vocabulary(), lowercase=wordpiece.lowercase, strip_accents=wordpiece.strip_accents
    )
