"""Run an encoder over a ragged batch in length-sorted chunks: padding only to each chunk's longest text.

A served batch mixes short and long texts. Padding all of them to the longest (or, as KerasHub's
preprocessor does, to a fixed `sequence_length`) makes the encoder compute on padding: for SST-2
sentences (about 25 word pieces, the longest of 64 random ones about 60) that is more than half
of the work. Here the batch is sorted by length, cut into chunks of `chunk_size` texts, each chunk
padded to its own longest text (optionally rounded up to a multiple of `multiple`: fewer distinct
shapes, but measured slower on CPU, so 1 by default), run through the model one chunk after the other in a
`tf.while_loop`, and the outputs are put back in the request's order.

All of it is graph code inside the serving signature: a batch of any size and any lengths runs the
same traced graph (no retracing per length), and a batch of 0 texts answers an empty result.
"""

import tensorflow as tf

from kerastune.data.bert_inputs import dense_inputs


def check_chunk_size(chunk_size):
    """Raises unless `chunk_size` is a positive int (how many texts the encoder runs at once)."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(
            "chunk_size is how many texts of a request the encoder runs at once; pass a positive integer "
            f"such as 16. Received: chunk_size={chunk_size!r}"
        )


def chunk_bounds(lengths, chunk_size, chunk_tokens=None):
    """Where each chunk of consecutive texts starts and stops: at most `chunk_size` texts, and with
    `chunk_tokens`, a new chunk wherever the tokens before a text pass another multiple of it (so a
    chunk's texts before its last hold fewer than `chunk_tokens` tokens).

    Args:
        lengths: int (n,), each text's tokens, in the order the chunks are cut.
        chunk_size: int, the most texts in a chunk.
        chunk_tokens: int or None, the token bound (None: texts alone count).

    Returns:
        `(starts, stops)`: int32 (num_chunks,) each.

    Example:

    >>> starts, stops = chunk_bounds(tf.constant([4, 4, 4, 1, 1]), chunk_size=4, chunk_tokens=8)
    >>> starts.numpy().tolist(), stops.numpy().tolist()
    ([0, 2, 4], [2, 4, 5])
    """
    lengths = tf.cast(lengths, tf.int64)
    count = tf.size(lengths, out_type=tf.int64)
    index = tf.range(count)
    new_chunk = tf.not_equal(index // chunk_size, (index - 1) // chunk_size)
    if chunk_tokens is not None:
        budgets = tf.cumsum(lengths, exclusive=True) // chunk_tokens
        new_chunk |= tf.not_equal(budgets, tf.concat([[-1], budgets[:-1]], axis=0))
    starts = tf.cast(tf.where(new_chunk)[:, 0], tf.int32)
    return starts, tf.concat([starts[1:], tf.cast([count], tf.int32)], axis=0)[:tf.size(starts)]


def length_sorted_outputs(fn, token_ids, segment_ids, output_shape, padding_id=0, chunk_size=16, multiple=1,
                          limit=None, sort=True, chunk_tokens=None):
    """`fn(dense inputs)` for every row of a ragged batch, run in length-sorted chunks, in the batch's order.

    Args:
        fn: callable, a `{"token_ids", "segment_ids", "padding_mask"}` dict of (n, width) int32
            tensors -> float32 (n, *output_shape) (a classifier's logits).
        token_ids: int32 `tf.RaggedTensor` (batch, None), packed `[CLS] ... [SEP]` ids.
        segment_ids: int32 `tf.RaggedTensor` like `token_ids`.
        output_shape: tuple of ints, the shape of one row of `fn`'s output (`(num_classes,)`).
        padding_id: int, the id written at padding positions.
        chunk_size: int, the most texts run through `fn` at once.
        multiple: int, each chunk's width is rounded up to a multiple of it (at most `limit`).
        limit: int or None, the widest a chunk may be padded to (the backbone's maximum).
        sort: bool, False to cut the chunks in the batch's own order (for an `fn` that packs a chunk's
            texts into shared rows, `packed_rows`: mixed lengths pack tighter than similar ones).
        chunk_tokens: int or None, also cut a chunk before its texts pass this many tokens
            (`chunk_bounds`): bounds the memory of chunks of many long texts.

    Returns:
        float32 tensor (batch, *output_shape).

    Example:

    >>> ids = tf.ragged.constant([[2, 5, 3], [2, 3]])  # doctest: +SKIP
    >>> length_sorted_outputs(model, ids, tf.zeros_like(ids), (2,), chunk_size=1)  # doctest: +SKIP
    """
    check_chunk_size(chunk_size)
    lengths = token_ids.row_lengths()  # (batch,)
    order = tf.argsort(lengths, stable=True) if sort else tf.range(tf.size(lengths))  # shortest first, or as sent
    ids, segments = tf.gather(token_ids, order), tf.gather(segment_ids, order)
    starts, stops = chunk_bounds(tf.gather(lengths, order), chunk_size, chunk_tokens)
    num_chunks = tf.size(starts)
    outputs = tf.TensorArray(tf.float32, size=num_chunks, infer_shape=False, element_shape=[None, *output_shape])

    def body(i, outputs):
        start, stop = starts[i], stops[i]
        features = dense_inputs(ids[start:stop], segments[start:stop], padding_id, multiple=multiple, limit=limit)
        return i + 1, outputs.write(i, tf.cast(fn(features), tf.float32))  # (chunk, *output_shape)

    _, outputs = tf.while_loop(lambda i, _: i < num_chunks, body, [tf.constant(0), outputs], parallel_iterations=1)
    # An empty batch wrote no chunk: concat() of nothing needs a known element shape, so answer zeros((0, ...)).
    in_sorted_order = tf.cond(
        num_chunks > 0, outputs.concat, lambda: tf.zeros([0, *output_shape], tf.float32)
    )  # (batch, *output_shape), shortest first
    return tf.gather(in_sorted_order, tf.math.invert_permutation(order))
