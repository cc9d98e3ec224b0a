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


def length_sorted_outputs(fn, token_ids, segment_ids, output_shape, padding_id=0, chunk_size=16, multiple=1,
                          limit=None, sort=True):
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
    count = tf.shape(lengths)[0]
    num_chunks = (count + chunk_size - 1) // chunk_size
    outputs = tf.TensorArray(tf.float32, size=num_chunks, infer_shape=False, element_shape=[None, *output_shape])

    def body(i, outputs):
        start = i * chunk_size
        stop = tf.minimum(start + chunk_size, count)
        features = dense_inputs(ids[start:stop], segments[start:stop], padding_id, multiple=multiple, limit=limit)
        return i + 1, outputs.write(i, tf.cast(fn(features), tf.float32))  # (chunk, *output_shape)

    _, outputs = tf.while_loop(lambda i, _: i < num_chunks, body, [tf.constant(0), outputs], parallel_iterations=1)
    # An empty batch wrote no chunk: concat() of nothing needs a known element shape, so answer zeros((0, ...)).
    in_sorted_order = tf.cond(
        num_chunks > 0, outputs.concat, lambda: tf.zeros([0, *output_shape], tf.float32)
    )  # (batch, *output_shape), shortest first
    return tf.gather(in_sorted_order, tf.math.invert_permutation(order))
