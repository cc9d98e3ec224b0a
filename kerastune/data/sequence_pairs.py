"""Source/target text pairs as encoder-decoder batches: ids with start and end tokens, teacher forcing.

A tokenizer's ids are shifted up by `NUM_SPECIAL_IDS`, so any tokenizer (characters, SentencePiece)
gets the three ids an encoder-decoder needs without a vocabulary of its own: 0 pads, 1 starts a
target, 2 ends it. The model's vocabulary is the tokenizer's plus these three.
"""

import numpy as np
import tensorflow as tf

from kerastune.data.length_buckets import batch_by_length
from kerastune.data.text_encoding import encode_texts

PAD_ID, START_ID, END_ID = 0, 1, 2
NUM_SPECIAL_IDS = 3


def pair_token_ids(tokenizer, texts):
    """Each text's ids, shifted past the special ids: a list of 1-D int32 numpy arrays."""
    return [np.asarray(ids, "int32") + NUM_SPECIAL_IDS for ids in encode_texts(tokenizer, texts)]


def check_lengths(ids, limit, side, source="", lines=None):
    """Raises a `ValueError` naming how many texts are longer than `limit` tokens and the first one,
    instead of cutting them (a cut target would teach the model to stop mid-sentence).

    Args:
        ids: list of 1-D arrays.
        limit: int, the most tokens a text may have.
        side: str, `"source"` or `"target"` (names the setting to raise in the message).
        source: str, where the texts came from.
        lines: list of int or None, each text's line in `source`.
    """
    lengths = np.asarray([len(row) for row in ids])
    too_long = np.flatnonzero(lengths > limit)
    if too_long.size:
        first = int(too_long[0])
        where = f"line {lines[first]} of {source}" if lines else f"pair {first} of {source or 'the pairs'}"
        raise ValueError(
            f"{too_long.size} {side} texts are longer than max_{side}_length={limit} tokens (the longest has "
            f"{lengths.max()}; the first is on {where}, {lengths[first]} tokens). Nothing is cut: raise "
            f"max_{side}_length, or leave such pairs out of the file."
        )


def sequence_pair_dataset(source_ids, target_ids, batch_size, seed=None, pad_to_multiple_of=16, training=True):
    """`tf.data` batches for teacher forcing, batched by length so little is padded.

    Each example is `({"encoder_token_ids", "encoder_padding_mask", "decoder_token_ids",
    "decoder_padding_mask"}, labels, sample_weight)`: the source, `[START] target` into the decoder,
    `target [END]` as the labels (the next token at each decoder position) and weight 1 on them, 0 on
    padding. Source and decoder sides of an example are padded to one width, the longer of the two,
    and examples of similar widths are batched together (`length_buckets.batch_by_length`, widths
    rounded up to `pad_to_multiple_of`, so XLA compiles once per width).

    Args:
        source_ids, target_ids: lists of 1-D int arrays (`pair_token_ids`).
        batch_size: int.
        seed: int or None: shuffle the pairs each epoch with this seed (None: keep their order).
        pad_to_multiple_of: int, the bucket widths' granularity.
        training: bool; True leaves out each length bucket's last partial batch (one batch shape per
            width; up to batch_size - 1 pairs a bucket, different ones each pass as the order is
            reshuffled) and repeats endlessly (fit with `steps_per_epoch=steps`); False keeps every
            pair, one pass (evaluation).

    Returns:
        `(dataset, steps)`: the batches and how many make one pass.
    """
    widths = np.asarray([max(len(s), len(t) + 1) for s, t in zip(source_ids, target_ids)])
    columns = {name: np.zeros(widths.sum(), "int32") for name in ("source", "decoder", "labels")}
    offsets = np.concatenate([[0], np.cumsum(widths)])
    for i, (source, target) in enumerate(zip(source_ids, target_ids)):
        start = offsets[i]
        columns["source"][start:start + len(source)] = source
        columns["decoder"][start:start + len(target) + 1] = np.concatenate([[START_ID], target])
        columns["labels"][start:start + len(target) + 1] = np.concatenate([target, [END_ID]])
    ragged = {name: tf.RaggedTensor.from_row_lengths(values, widths) for name, values in columns.items()}
    dataset = tf.data.Dataset.from_tensor_slices(ragged)
    if seed is not None:
        dataset = dataset.shuffle(len(widths), seed=seed, reshuffle_each_iteration=True)

    def example(pair):
        inputs = {
            "encoder_token_ids": pair["source"],
            "encoder_padding_mask": tf.cast(pair["source"] != PAD_ID, "int32"),
            "decoder_token_ids": pair["decoder"],
            "decoder_padding_mask": tf.cast(pair["decoder"] != PAD_ID, "int32"),
        }
        return inputs, pair["labels"], tf.cast(pair["labels"] != PAD_ID, "float32")

    dataset = dataset.map(example, num_parallel_calls=tf.data.AUTOTUNE)
    widest = -(-int(widths.max()) // pad_to_multiple_of) * pad_to_multiple_of  # rounded up: every width a multiple
    dataset, steps = batch_by_length(dataset, widths, batch_size, pad_to_multiple_of, widest, training)
    # Batching by length hides the pass's length from Keras: training repeats (fit with `steps_per_epoch`),
    # evaluation states it.
    dataset = dataset.repeat() if training else dataset.apply(tf.data.experimental.assert_cardinality(steps))
    return dataset.prefetch(tf.data.AUTOTUNE), steps


def source_inputs(tokenizer, texts):
    """Strings -> `(encoder_token_ids, encoder_padding_mask)`, int32 (batch, longest). Call it inside a
    `tf.function` (KerasHub tokenizers answer Python lists eagerly); the export and `generate` do."""
    ragged = tokenizer.tokenize(texts)  # (batch, None)
    ids = tf.cast(ragged, "int32") + NUM_SPECIAL_IDS
    tokens = ids.to_tensor(PAD_ID)
    return tokens, tf.cast(tokens != PAD_ID, "int32")


def target_texts(tokenizer, written):
    """The written ids (`Seq2SeqTransformer.generate`'s: start token first) -> strings, each cut at its
    first end token, the special ids dropped. Call it inside a `tf.function`, as `source_inputs`."""
    written = tf.convert_to_tensor(written)[:, 1:]  # (batch, length - 1), after the start token
    before_end = tf.cumsum(tf.cast(written == END_ID, "int32"), axis=1) == 0
    keep = before_end & (written >= NUM_SPECIAL_IDS)
    return tokenizer.detokenize(tf.ragged.boolean_mask(written, keep) - NUM_SPECIAL_IDS)
