"""Masked-LM (+ next-sentence prediction) batches for BERT pretraining, in `tf.data` with dynamic padding.

BERT's pretraining data (Devlin et al., 2019, section 3.1 and appendix A.1):

- examples are `[CLS] A [SEP]` or, for next-sentence prediction (NSP), `[CLS] A [SEP] B [SEP]`,
  where B is the sentence after A in the same document with probability 1/2 (label 1, "IsNext")
  and a random sentence from another document otherwise (label 0, "NotNext"); pairs are built
  once from documents with a seeded `numpy` generator. An A with no next sentence (the last of its
  document, or one-sentence documents such as SST-2 phrases) stays single and gets NSP weight 0;
- without NSP, `pack_sentences=True` fills each example RoBERTa-style ("FULL-SENTENCES", Liu et
  al., 2019): consecutive sentences, across document ends, joined up to `sequence_length`, so a
  corpus of short lines (SST-2 phrases average ~10 tokens) gives full-length examples and several times more
  masked tokens per step instead of mostly padding; a sentence longer than the budget is split,
  never dropped;
- KerasHub's `MaskedLMMaskGenerator` selects 15% of the non-special tokens (at most
  `mask_selection_length` per example); of those, 80% become `[MASK]`, 10% a random token, 10%
  stay. Masks are drawn inside `tf.data` each time an example is seen (dynamic masking);
- each batch is padded to its own longest example (rounded up to `pad_to_multiple_of`).

Batches are `(features, targets, sample_weights)`:
`features = {token_ids, segment_ids, padding_mask, mask_positions}`,
`targets = {"mlm": mask_ids (batch, mask_selection_length), "nsp": (batch,)}`,
`sample_weights = {"mlm": mask_weights, "nsp": nsp_weight}` -- padded mask slots and single
segments weigh 0, so `BertPretrainer`'s loss counts only real masked tokens and real pairs.
With `next_sentence=False` the batches carry the `"mlm"` target and weight only (the matching
`BertPretrainer(next_sentence=False)` has no NSP head).
"""

import dataclasses
import math
import re

import keras_hub
import numpy as np
import tensorflow as tf

from kerastune.data.bert_inputs import dense_inputs, packer, pad_id

_SENTENCE_END = re.compile(r"(?<=[.!?]) (?=\S)")
_TITLE = re.compile(r"^ ?= [^=].* = ?$")


def split_documents(text):
    """WikiText-style text -> documents (lists of sentences).

    When the text has top-level headings (WikiText's ` = Title = ` lines) each starts a document and
    all headings are dropped; otherwise blank lines separate documents. Each line is split into
    sentences after `.`, `!` or `?` followed by a space.
    """
    lines = text.splitlines()
    by_heading = any(_TITLE.match(line.rstrip()) for line in lines)
    documents, current = [], []
    for line in lines:
        stripped = line.strip()
        if (by_heading and _TITLE.match(line.rstrip())) or (not by_heading and not stripped):
            if current:
                documents.append(current)
            current = []
            continue
        if not stripped or (by_heading and stripped.startswith("= ")):
            continue
        current.extend(s.strip() for s in _SENTENCE_END.split(stripped) if s.strip())
    if current:
        documents.append(current)
    return documents


def hold_out_documents(documents, validation_fraction, seed=0):
    """Splits documents into (train, validation): a seeded random `validation_fraction` of them.

    Drawn across the whole list, not its head, so a corpus made of several files (one of short
    single-sentence documents, one of long articles) gives a validation set with both kinds, and
    next-sentence validation has pairs to score. Each side keeps the documents' original order.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1); received {validation_fraction!r}")
    n_validation = int(len(documents) * validation_fraction)
    held_out = set(np.random.default_rng(seed).permutation(len(documents))[:n_validation].tolist())
    train = [doc for i, doc in enumerate(documents) if i not in held_out]
    validation = [doc for i, doc in enumerate(documents) if i in held_out]
    return train, validation


def next_sentence_pairs(documents, next_sentence=True, seed=0):
    """BERT's NSP pairs from documents; returns `(first, second, label, weight)` lists.

    With `next_sentence=False` every sentence is a single segment (`second=""`, weight 0).
    """
    rng = np.random.default_rng(seed)
    flat = [(d, i) for d, doc in enumerate(documents) for i in range(len(doc))]
    first, second, labels, weights = [], [], [], []
    for d, i in flat:
        doc = documents[d]
        first.append(doc[i])
        if not next_sentence or i + 1 >= len(doc):
            second.append("")
            labels.append(0)
            weights.append(0.0)
            continue
        if rng.random() < 0.5 or len(documents) < 2:
            second.append(doc[i + 1])
            labels.append(1)
        else:
            other = d
            while other == d:
                other_d, other_i = flat[rng.integers(len(flat))]
                other = other_d
            second.append(documents[other_d][other_i])
            labels.append(0)
        weights.append(1.0)
    return first, second, labels, weights


def pack_token_ids(sentences, budget):
    """Greedy packing: consecutive token-id lists joined while they fit in `budget` tokens.

    A list longer than `budget` is cut into `budget`-sized pieces (nothing is dropped). Returns a
    list of packed lists in corpus order.

    Example:

    >>> pack_token_ids([[1, 2], [3], [4, 5, 6], [7, 8, 9, 10, 11]], 4)
    [[1, 2, 3], [4, 5, 6], [7, 8, 9, 10], [11]]
    """
    if budget < 1:
        raise ValueError(f"budget must be a positive number of tokens; received {budget!r}")
    rows, current = [], []
    for ids in sentences:
        ids = list(ids)
        if current and len(current) + len(ids) > budget:
            rows.append(current)
            current = []
        while len(ids) > budget:  # longer than an example: split it
            rows.append(ids[:budget])
            ids = ids[budget:]
        current += ids
        if len(current) == budget:
            rows.append(current)
            current = []
    if current:
        rows.append(current)
    return rows


def _token_ids(tokenizer, sentences):
    """Tokenizer ids of many sentences (batched in `tf.data`), as lists."""
    batches = tf.data.Dataset.from_tensor_slices(sentences).batch(4096).map(lambda t: tf.cast(tokenizer(t), tf.int32))
    return [row for batch in batches for row in batch.to_list()]


@dataclasses.dataclass
class MaskedLMDataset:
    """A repeating `tf.data.Dataset` of masked-LM (+NSP) batches; see the module doc.

    Attributes:
        dataset: the batches (endless; pass `steps_per_epoch` to `fit`).
        steps_per_epoch: int, batches in one pass over the examples.
        num_examples: int, examples in one pass (packed rows with `pack_sentences`).
        num_pairs: int, examples with a second segment (NSP weight 1).
    """

    dataset: tf.data.Dataset
    steps_per_epoch: int
    num_examples: int
    num_pairs: int

    @classmethod
    def from_documents(
        cls, documents, tokenizer, batch_size=32, sequence_length=128, next_sentence=True, mask_selection_rate=0.15,
        mask_selection_length=None, seed=0, pad_to_multiple_of=8, training=True, pack_sentences=False,
    ):
        """Builds the batches from documents (lists of sentences).

        Args:
            documents: list of lists of str.
            tokenizer: a KerasHub WordPiece tokenizer with `[CLS]`, `[SEP]`, `[PAD]`, `[MASK]`.
            batch_size, sequence_length: int.
            next_sentence: bool, build NSP pairs (else single segments).
            mask_selection_rate: float, the share of tokens selected for prediction (BERT: 0.15).
            mask_selection_length: int, most selected tokens per example (default
                `ceil(rate * sequence_length)` + 1).
            seed: int, pairs and shuffle order.
            pad_to_multiple_of: int.
            training: bool, shuffle each pass (evaluation sets keep order).
            pack_sentences: bool, join consecutive sentences up to `sequence_length` (needs
                `next_sentence=False`; see the module doc).
        """
        if pack_sentences and next_sentence:
            raise ValueError(
                "pack_sentences=True joins consecutive sentences into one segment, which leaves no sentence "
                "pairs for next-sentence prediction; pass next_sentence=False with it (RoBERTa-style MLM)"
            )
        first, second, labels, weights = next_sentence_pairs(documents, next_sentence, seed)
        if not first:
            raise ValueError("documents hold no sentence; pass the pretraining text")
        mask_selection_length = mask_selection_length or math.ceil(mask_selection_rate * sequence_length) + 1
        special = [tokenizer.token_to_id(t) for t in ("[PAD]", "[CLS]", "[SEP]", "[MASK]")]
        masker = keras_hub.layers.MaskedLMMaskGenerator(
            vocabulary_size=tokenizer.vocabulary_size(),
            mask_selection_rate=mask_selection_rate,
            mask_token_id=tokenizer.token_to_id("[MASK]"),
            mask_selection_length=mask_selection_length,
            unselectable_token_ids=special,
        )
        cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        if pack_sentences:
            rows = pack_token_ids(_token_ids(tokenizer, first), sequence_length - 2)
            lengths = [len(r) for r in rows]
            packed = tf.RaggedTensor.from_row_lengths(np.concatenate(rows).astype(np.int32), lengths)
            ds = tf.data.Dataset.from_tensor_slices({
                "ids": packed, "label": np.zeros(len(rows), np.int32), "weight": np.zeros(len(rows), np.float32),
            })
            has_pair = np.zeros(len(rows), bool)
        else:
            has_pair = np.asarray(weights) > 0
            ds = tf.data.Dataset.from_tensor_slices({
                "a": first, "b": second, "pair": has_pair, "label": np.asarray(labels, np.int32),
                "weight": np.asarray(weights, np.float32),
            })
        if training:
            ds = ds.shuffle(len(has_pair), seed=seed, reshuffle_each_iteration=True)
        multiple = max(int(pad_to_multiple_of), 1)
        padding_id = pad_id(tokenizer)

        def pack(batch):
            if pack_sentences:  # [CLS] packed sentences [SEP], one segment
                ids = batch["ids"]
                n = tf.shape(ids.row_lengths())[0]
                token_ids = tf.concat([tf.fill([n, 1], cls_id), ids, tf.fill([n, 1], sep_id)], axis=1)
                segment_ids = tf.zeros_like(token_ids)
            else:
                single_ids, single_segments, _ = packer(tokenizer, sequence_length)(batch["a"])
                pair_ids, pair_segments, _ = packer(tokenizer, sequence_length, pair=True)(batch["a"], batch["b"])
                token_ids = tf.ragged.stack([single_ids, pair_ids], axis=1)  # choose per example
                segment_ids = tf.ragged.stack([single_segments, pair_segments], axis=1)
                index = tf.cast(batch["pair"], tf.int32)
                token_ids = tf.gather(token_ids, index, batch_dims=1)
                segment_ids = tf.gather(segment_ids, index, batch_dims=1)
            masked = masker(token_ids)
            ids = masked["token_ids"]
            sequences = dense_inputs(ids, segment_ids, padding_id, multiple, sequence_length)
            features = {**sequences, "mask_positions": masked["mask_positions"]}  # (batch, masks): not a sequence, not padded
            targets = {"mlm": masked["mask_ids"]}
            sample_weights = {"mlm": masked["mask_weights"]}
            if next_sentence:
                targets["nsp"], sample_weights["nsp"] = batch["label"], batch["weight"]
            return features, targets, sample_weights

        batched = ds.ragged_batch(batch_size, drop_remainder=training) if pack_sentences else ds.batch(
            batch_size, drop_remainder=training
        )
        ds = batched.map(pack, num_parallel_calls=tf.data.AUTOTUNE)
        if training:
            ds = ds.repeat()
        n = len(has_pair)
        steps = n // batch_size if training else math.ceil(n / batch_size)
        return cls(ds.prefetch(tf.data.AUTOTUNE), max(steps, 1), n, int(has_pair.sum()))
