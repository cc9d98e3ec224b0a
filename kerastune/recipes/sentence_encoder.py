"""Recipe: fine-tune a BERT-style encoder into a sentence encoder for semantic search, to a string-in SavedModel.

Thin by design: it composes `read_sentence_pairs` / `read_labelled_text` -> `ContrastiveDataset` ->
`load_fine_tuning_backbone` -> `SentenceEncoder` inside `InBatchContrastive` -> `compile_for_training`,
under a strategy. The training data is either pairs (anchor/positive columns, e.g. a question and
its passage, with an optional hard negative) or labelled texts (text/label columns: texts of the
same label are drawn as pairs each epoch). What it shares with every fine-tuning recipe (backbone,
PEFT, optimizer, schedule, averaging, backups) is `FineTuningConfig`'s.

Example:

>>> run = sentence_encoder(  # doctest: +SKIP
...     backbone="../shared/models/all-MiniLM-L6-v2",
...     train="../shared/data/agnews/train_subset.tsv", validation="../shared/data/agnews/test.tsv")
>>> run.fit()  # doctest: +SKIP
>>> report = run.evaluate()  # doctest: +SKIP  (precision@k, MRR, MAP of same-topic search)
>>> path = run.export(report=report)  # doctest: +SKIP
"""

import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf

from kerastune.data.bert_inputs import check_truncate, text_specs
from kerastune.data.contrastive_dataset import ContrastiveDataset
from kerastune.data.labelled_text import infer_format, read_labelled_text, read_records
from kerastune.data.sentence_pairs import COLUMN_GUESSES, SentencePairs, read_sentence_pairs
from kerastune.evaluation.retrieval_report import retrieval_report
from kerastune.export.sentence_encoder_export import export_sentence_encoder
from kerastune.export.string_signatures import encoder_on_strings
from kerastune.models.in_batch_contrastive import InBatchContrastive
from kerastune.models.sentence_encoder import SentenceEncoder
from kerastune.models.sentence_pooling import check_pooling
from kerastune.recipes.fine_tuning_run import FineTuningRun
from kerastune.recipes.run_setup import start_run
from kerastune.recipes.training_config import FineTuningConfig, fine_tuning_config, refuse_classifier_options
from kerastune.recipes.training_setup import batch_splits, compile_for_training, load_fine_tuning_backbone

@dataclasses.dataclass(kw_only=True)
class SentenceEncoderConfig(FineTuningConfig):
    """Every argument of `sentence_encoder`: `FineTuningConfig`'s, the data columns and the encoder's.

    Data: `train` / `validation` are `.tsv`, `.csv` or `.jsonl` files of either
    - pairs: an anchor and a positive column (`anchor`/`positive`, `query`/`positive`, `query`/`document`,
      `query`/`passage`, `sentence1`/`sentence2` or `text1`/`text2`, or `anchor_column`/`positive_column`),
      and optionally a hard negative (`negative`, or `negative_column`); or
    - labelled texts (any file `read_labelled_text` reads, `text_column`/`label_column`): each epoch
      pairs every text with another of its label, and same-label texts are not counted as negatives.
    A file with pair columns is read as pairs, any other as labelled text.
    `pooling`: `"mean"`, `"cls"` or `"pooled"`; `normalize`: unit-length embeddings; `scale`: the
    inverse temperature of the in-batch softmax (20 = temperature 0.05, sentence-transformers').
    `top_k`: the depth `evaluate` reports precision and recall at (besides 1).
    `truncate`: what a text longer than `max_sequence_length` loses, in training and in the export.
    `max_train_examples`: keep the first N training rows (None: all).
    Under a `tf.distribute` strategy every anchor is scored against the whole batch's candidates, gathered
    from every replica (`InBatchContrastive`): a step on 8 devices computes what it would on one.
    `jit_compile` is off by default: batches have many widths (their own longest text, a multiple of
    `pad_to_multiple_of`), and XLA compiles the train step again for each. all-MiniLM-L6-v2 on AG News, batch
    32, 40 steps from the start, on the 2-core AMD EPYC: 88.6 s without XLA, 159.2 s with it and widths
    rounded to 32 (compiles included).
    """

    name: str = "sentence_encoder"
    jit_compile: bool = False
    pooling: str = "mean"
    normalize: bool = True
    scale: float = 20.0
    anchor_column: Optional[str] = None
    positive_column: Optional[str] = None
    negative_column: Optional[str] = None
    text_column: Optional[str] = None
    label_column: Optional[str] = None
    format: Optional[str] = None
    max_train_examples: Optional[int] = None
    top_k: int = 10
    truncate: str = "end"

    def __post_init__(self):
        super().__post_init__()
        check_truncate(self.truncate)
        refuse_classifier_options(self, "sentence_encoder", "the in-batch contrastive loss on files of pairs or "
                                  "labelled texts", also=("tfds_name",))
        check_pooling(self.pooling)
        InBatchContrastive.check_scale(self.scale)
        if isinstance(self.top_k, bool) or self.top_k < 1:
            raise ValueError(f"top_k must be a positive int. Received: top_k={self.top_k!r}")


class SentenceEncoderRun(FineTuningRun):
    """What `sentence_encoder(...)` returns (see `FineTuningRun` for `fit` and `export`).

    Attributes:
        model: the compiled `InBatchContrastive` that `fit` trains.
        encoder: its `SentenceEncoder`, what `encode` runs and `export` writes.
        train_data, validation_data: `ContrastiveDataset` (validation may be None).
        validation_examples: the validation `SentencePairs` or `LabelledText` (or None).
    """

    exporter = staticmethod(export_sentence_encoder)
    names = None

    def __init__(self, *args, encoder, validation_examples):
        super().__init__(*args)
        self.encoder = encoder
        self.validation_examples = validation_examples
        self._encode = None

    def exported(self):
        return self.encoder, self.tokenizer

    def export_options(self):
        return {"truncate": self.config.truncate}

    def encode(self, texts, batch_size=256):
        """Embeddings of `texts` (a list of str), float32 (n, dim), computed as the export's `serving_default` does."""
        if self._encode is None:
            encode = encoder_on_strings(self.encoder, self.tokenizer, (self.encoder.embedding_dim,),
                                        sequence_length=self.sequence_length, truncate=self.config.truncate)
            self._encode = tf.function(lambda text: encode(text)[0], input_signature=text_specs())
        chunks = [self._encode(tf.constant(list(texts[start:start + batch_size]), tf.string)).numpy()
                  for start in range(0, len(texts), batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.encoder.embedding_dim), np.float32)

    def evaluate(self, data=None):
        """`retrieval_report` (precision and recall at 1 and `top_k`, hit rate, MRR, MAP) on the validation set
        (or `data`, `SentencePairs` or `LabelledText`).

        Pairs: each anchor searches the distinct texts among all the positives and hard negatives; its
        own positive is the one relevant document (a passage that answers several anchors is one document).
        Labelled texts: each text searches all the others (itself left out); texts of its label are relevant.
        """
        data, _ = self.evaluation_set((data, None), (self.validation_examples, None))
        k = sorted({1, self.config.top_k})
        if isinstance(data, SentencePairs):
            documents = list(dict.fromkeys(list(data.positives) + list(data.negatives or [])))  # each text once
            document_ids = {text: i for i, text in enumerate(documents)}
            relevant = np.array([document_ids[text] for text in data.positives])  # each anchor's positive text
            return retrieval_report(self.encode(data.anchors), self.encode(documents), relevant,
                                    np.arange(len(documents)), k=k)
        embeddings = self.encode(data.texts)
        labels = np.asarray(data.labels)
        return retrieval_report(embeddings, embeddings, labels, labels, k=k, exclude_self=True)


# Columns that say a pair is not always a match (GLUE's RTE / MNLI / STS-B): such a file needs filtering first.
PAIR_LABEL_COLUMNS = ("label", "score", "gold_label")


def _read(config, path):
    """`SentencePairs` when the file has pair columns (or they are named), else `LabelledText`."""
    header = _header(config, path)
    if config.anchor_column or config.positive_column or not _looks_labelled(config, header):
        pairs = read_sentence_pairs(path, config.anchor_column, config.positive_column, config.negative_column,
                                    format=config.format)
        graded = [name for name in PAIR_LABEL_COLUMNS if name in header]
        if graded and not (config.anchor_column and config.positive_column):
            raise ValueError(f"{path} holds pairs and a {graded[0]!r} column: every row is trained as a match, so "
                             "pairs that are not (a contradiction, a low score) would be learned as similar. Keep "
                             "the matching rows only, or name the columns (anchor_column=, positive_column=) to train "
                             f"on every row. Received: columns {list(header)}")
        return pairs
    return read_labelled_text(path, text_column=config.text_column, label_column=config.label_column or "label",
                              format=config.format)


def _header(config, path):
    """The file's column names (its header, or its first object's keys); empty when it cannot be read."""
    try:
        _, first = next(iter(read_records(str(path), config.format or infer_format(path))))
    except (StopIteration, OSError, ValueError):
        return []  # the readers say what is wrong with the file
    return list(first)


def _looks_labelled(config, header):
    """Whether the file's `header` (first object's keys) holds no pair columns, or labelled-text columns were named."""
    if config.text_column or config.label_column:
        return True
    if not header:
        return False
    return not any(anchor in header and positive in header for anchor, positive in COLUMN_GUESSES)


def sentence_encoder(backbone, train=None, validation=None, **kwargs):
    """Builds data, model and optimizer for contrastive fine-tuning; returns a `SentenceEncoderRun`.

    Every bad input (missing file or column, empty text, a label with a single text, ...) raises here,
    before any training.

    Args:
        backbone: a KerasHub preset name, a local Hugging Face / KerasHub directory (e.g. all-MiniLM-L6-v2),
            a kerastune backbone directory, or `"kerastune_bert"`.
            Or a whole `SentenceEncoderConfig` (then `**kwargs` only override its fields).
        train: a file of pairs or labelled texts.
        validation: the same, or None.
        **kwargs: the remaining `SentenceEncoderConfig` fields (unknown names are an error).
    """
    config = fine_tuning_config(SentenceEncoderConfig, backbone, train, validation, kwargs)
    strategy = start_run(config)
    train_examples = _read(config, config.train).head(config.max_train_examples)
    validation_examples = _read(config, config.validation) if config.validation else None
    with strategy.scope():
        backbone_model, tokenizer, sequence_length = load_fine_tuning_backbone(config)
        train_data, validation_data = batch_splits(
            ContrastiveDataset.from_examples, train_examples, validation_examples, config, tokenizer, sequence_length,
            truncate=config.truncate,
        )
        encoder = SentenceEncoder(backbone_model, pooling=config.pooling, normalize=config.normalize)
        model = InBatchContrastive(encoder, scale=config.scale)
        compile_for_training(model, config, train_data.steps_per_epoch)
    return SentenceEncoderRun(model, tokenizer, train_data, validation_data, config, strategy, sequence_length,
                              encoder=encoder, validation_examples=validation_examples)
