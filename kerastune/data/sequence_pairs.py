"""Source/target text pairs as encoder-decoder batches: ids with start and end tokens, teacher forcing.

A tokenizer's ids are shifted up by `NUM_SPECIAL_IDS`, so any tokenizer (characters, SentencePiece)
gets the three ids an encoder-decoder needs without a vocabulary of its own: 0 pads, 1 starts a
target, 2 ends it. The model's vocabulary is the tokenizer's plus these three.
"""

import numpy as np
import tensorflow as tf

from kerastune.data.length_buckets import batch_by_length, padded_width
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


def sequence_pair_dataset(source_ids, target_ids, batch_size, seed=None, pad_to_multiple_of=16, training=True,
                          max_target_length=None):
    """`tf.data` batches for teacher forcing of `Seq2SeqTransformer`, batched by length so little is padded.

    The source goes into the encoder as it is, `[START] target` into the decoder and `target [END]` are
    the labels (`encoder_decoder_batches` batches them). By default both sides of a pair share one width
    (sources and targets of similar lengths: translation, correction). With `max_target_length` the decoder
    side is always `max_target_length + 1` wide (rounded up to `pad_to_multiple_of`) and the batches are
    bucketed by their sources alone: short targets of long sources (summarisation) then do not pay for the
    source's width in the decoder.

    Args:
        source_ids, target_ids: lists of 1-D int arrays (`pair_token_ids`).
        batch_size, seed, pad_to_multiple_of, training: as `encoder_decoder_batches`.
        max_target_length: int or None, the longest target (without its start or end token); None gives
            each pair's two sides one width.

    Returns:
        `(dataset, steps)`: the batches and how many make one pass.
    """
    decoder_ids = [np.concatenate([[START_ID], target]) for target in target_ids]
    label_ids = [np.concatenate([target, [END_ID]]) for target in target_ids]
    decoder_width = None if max_target_length is None else padded_width(max_target_length + 1, pad_to_multiple_of)
    return encoder_decoder_batches(source_ids, decoder_ids, label_ids, batch_size, seed, pad_to_multiple_of, training,
                                   decoder_width=decoder_width)


def encoder_decoder_batches(encoder_ids, decoder_ids, label_ids, batch_size, seed=None, pad_to_multiple_of=16,
                            training=True, decoder_width=None, max_width=None):
    """`tf.data` batches of laid-out encoder-decoder examples, batched by length so little is padded.

    Each example is `({"encoder_token_ids", "encoder_padding_mask", "decoder_token_ids",
    "decoder_padding_mask"}, labels, sample_weight)`: the padding masks and the weights are 1 on every
    given token, whatever its id, and 0 on padding (id 0). Examples of similar widths are batched together
    (`length_buckets.batch_by_length`, widths rounded up to `pad_to_multiple_of`, so XLA compiles once per
    width). With `decoder_width` None both sides of an example are padded to one width, the longer of the
    two (sources and targets of similar lengths: translation, correction); with an int the decoder side is
    always padded to it and the batches are bucketed by the source alone (short targets of long sources:
    summarisation, labels, where padding the decoder to the source's length would multiply its work).

    Args:
        encoder_ids: list of 1-D int arrays, each source as the encoder reads it.
        decoder_ids: list of 1-D int arrays, what the decoder reads (its start token(s), then the target).
        label_ids: list of 1-D int arrays as long as `decoder_ids`: the next token at each decoder position.
        batch_size: int.
        seed: int or None: shuffle the examples each epoch with this seed (None: keep their order).
        pad_to_multiple_of: int, the bucket widths' granularity.
        training: bool; True leaves out each length bucket's last partial batch (one batch shape per
            width; up to batch_size - 1 examples a bucket, different ones each pass as the order is
            reshuffled) and repeats endlessly (fit with `steps_per_epoch=steps`); False keeps every
            example, one pass (evaluation).
        decoder_width: int or None, the decoder side's fixed width (at least the longest decoder input).
        max_width: int or None, the widest bucket (a model's positions): widths are rounded up to
            `pad_to_multiple_of` but never past it.

    Returns:
        `(dataset, steps)`: the batches and how many make one pass.
    """
    if any(len(decoder) != len(labels) for decoder, labels in zip(decoder_ids, label_ids)):
        raise ValueError("each example's labels must be as long as its decoder inputs (the next token at each "
                         "decoder position)")
    encoder_lengths = np.asarray([len(e) for e in encoder_ids])
    decoder_lengths = np.asarray([len(d) for d in decoder_ids])
    if decoder_width is not None and decoder_lengths.max(initial=0) > decoder_width:
        raise ValueError(f"a decoder input of {decoder_lengths.max()} tokens does not fit in decoder_width="
                         f"{decoder_width}; pass a larger decoder_width")
    widths = encoder_lengths if decoder_width is not None else np.maximum(encoder_lengths, decoder_lengths)
    columns = {}
    for name, rows, fixed in (("source", encoder_ids, False), ("decoder", decoder_ids, decoder_width is not None),
                              ("labels", label_ids, decoder_width is not None)):
        row_widths = np.full(len(rows), decoder_width) if fixed else widths
        values, mask = _packed(rows, row_widths)
        if fixed:  # a dense [examples, decoder_width] column: every example's side has that static width
            columns[name], columns[name + "_mask"] = values.reshape(len(rows), -1), mask.reshape(len(rows), -1)
        else:
            columns[name], columns[name + "_mask"] = (tf.RaggedTensor.from_row_lengths(column, row_widths)
                                                      for column in (values, mask))
    del columns["labels_mask"]
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    if seed is not None:
        dataset = dataset.shuffle(len(widths), seed=seed, reshuffle_each_iteration=True)

    def example(pair):
        inputs = {
            "encoder_token_ids": pair["source"],
            "encoder_padding_mask": pair["source_mask"],
            "decoder_token_ids": pair["decoder"],
            "decoder_padding_mask": pair["decoder_mask"],
        }
        return inputs, pair["labels"], tf.cast(pair["decoder_mask"], "float32")

    dataset = dataset.map(example, num_parallel_calls=tf.data.AUTOTUNE)
    widest = padded_width(widths.max(), pad_to_multiple_of, max_width)  # rounded up: every width a multiple
    dataset, steps = batch_by_length(dataset, widths, batch_size, pad_to_multiple_of, widest, training)
    # Batching by length hides the pass's length from Keras: training repeats (fit with `steps_per_epoch`),
    # evaluation states it.
    dataset = dataset.repeat() if training else dataset.apply(tf.data.experimental.assert_cardinality(steps))
    return dataset.prefetch(tf.data.AUTOTUNE), steps


def _packed(rows, widths):
    """`(values, mask)`, flat int32 arrays: each row left-aligned in its width, zeros after it, and a mask of ones
    over the row."""
    offsets = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
    values, mask = np.zeros(offsets[-1], "int32"), np.zeros(offsets[-1], "int32")
    for row, start in zip(rows, offsets):
        values[start:start + len(row)] = row
        mask[start:start + len(row)] = 1
    return values, mask


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
