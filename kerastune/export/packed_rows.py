"""Run a text encoder on packed rows: several texts share one row, each attending only to itself.

Length-sorted chunks (`length_sorted_chunks`) keep padding small only when a request holds many texts
of similar lengths. A request of 64 mixed texts cut into 4 chunks still pads each chunk to its longest
text, and one chunk of 64 padded to its longest would compute mostly on padding.

Packing places the texts of a chunk side by side in rows as wide as its longest text (first fit,
longest first). The encoder gets a block-diagonal attention mask, so every token attends only to the
tokens of its own text. Each text gets what the encoder gives it alone (within float rounding), while
every matmul runs over all the chunk's tokens at once with almost no padding. Embeddings are computed
per text before packing (positions count from each text's start), and the encoder's outputs are put
back per text before the model's head pools them.

It works for backbones built like BERT: a list `transformer_layers` that take an `attention_mask`, an
`embeddings_dropout` layer whose output is the embedding output, and `pooled_dense` over the [CLS]
vector (KerasHub's `BertBackbone`, kerastune's `BertEncoder`), under a `TextClassifier` or a
`SentenceEncoder`. `packs(model)`
says whether a model is one; others run unpacked.
"""

import keras
import tensorflow as tf


def packs(model):
    """Whether `packed_logits` can run `model`: a `TextClassifier` or `SentenceEncoder` (a model with
    `head_from_backbone_outputs`) over a BERT-built backbone without a
    tuned prompt (whose positions the packed embeddings would not hold)."""
    backbone = getattr(model, "backbone", None)
    return (
        hasattr(model, "head_from_backbone_outputs")
        and backbone is not None
        and getattr(backbone, "soft_prompt", None) is None
        and bool(getattr(backbone, "transformer_layers", None))
        and hasattr(backbone, "pooled_dense")
        and any(layer.name == "embeddings_dropout" for layer in backbone.layers)
    )


def first_fit_rows(lengths, width):
    """Places texts in rows of `width` tokens, longest first, each in the first row with room for it.

    Args:
        lengths: int32 (n,), each text's tokens (at most `width`).
        width: int32 scalar, the tokens a row holds.

    Returns:
        `(rows, offsets, num_rows)`: int32 (n,) each text's row and first column, in the texts' own
        order, and the number of rows used.

    Example:

    >>> rows, offsets, num_rows = first_fit_rows(tf.constant([3, 6, 2]), 6)
    >>> rows.numpy().tolist(), offsets.numpy().tolist(), int(num_rows)
    ([1, 0, 1], [0, 0, 3], 2)
    """
    lengths = tf.cast(lengths, tf.int32)
    count = tf.size(lengths)
    order = tf.argsort(lengths, direction="DESCENDING", stable=True)
    longest_first = tf.gather(lengths, order)

    def place(i, used, rows, offsets):
        length = longest_first[i]
        row = tf.argmax(tf.cast(used + length <= width, tf.int32), output_type=tf.int32)  # the first with room
        return (i + 1, tf.tensor_scatter_nd_add(used, [[row]], [length]), rows.write(i, row),
                offsets.write(i, used[row]))

    placed = [tf.TensorArray(tf.int32, size=count, element_shape=[]) for _ in range(2)]
    _, used, rows, offsets = tf.while_loop(
        lambda i, *_: i < count, place, [tf.constant(0), tf.zeros([count], tf.int32), *placed]
    )
    own_order = tf.math.invert_permutation(order)
    num_rows = tf.reduce_sum(tf.cast(used > 0, tf.int32))
    return tf.gather(rows.stack(), own_order), tf.gather(offsets.stack(), own_order), num_rows


def packed_logits(model):
    """Returns `logits(token_ids, segment_ids, padding_mask)`: `model`'s output (a classifier's logits, an
    encoder's embeddings), its encoder run on packed rows.

    Args:
        model: a `TextClassifier` or `SentenceEncoder` for which `packs(model)` holds.

    Returns:
        A callable: dense int32 (batch, seq) `token_ids`, `segment_ids`, `padding_mask` (real tokens
        first in each row, as `kerastune.data.bert_inputs.dense_inputs` writes them) -> float32 logits
        (batch, num_classes) or embeddings (batch, dim), equal to `model(...)`'s within float rounding.

    Example:

    >>> logits = tf.function(packed_logits(model))  # doctest: +SKIP
    >>> logits(**dense_inputs(token_ids, segment_ids, pad_id(tokenizer)))  # doctest: +SKIP
    """
    if not packs(model):
        raise ValueError(
            "packed_logits runs a TextClassifier or SentenceEncoder over a BERT-built backbone (transformer_layers, an "
            "embeddings_dropout layer and pooled_dense; no tuned prompt); run this model unpacked instead. "
            f"Received: model={type(model).__name__} {model.name!r}"
        )
    backbone = model.backbone
    embed = keras.Model(backbone.inputs, backbone.get_layer("embeddings_dropout").output)

    def logits(token_ids, segment_ids, padding_mask):
        features = {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}
        embedded = embed(features, training=False)  # (batch, seq, hidden), positions from each text's start
        width = tf.shape(token_ids)[1]
        lengths = tf.reduce_sum(tf.cast(padding_mask, tf.int32), axis=1)  # (batch,)
        rows, offsets, num_rows = first_fit_rows(lengths, width)
        positions = tf.range(width)[None, :]  # (1, seq)
        real = positions < lengths[:, None]  # (batch, seq)
        tokens = tf.where(real)  # (tokens, 2): each real token's (text, position)
        text = tf.cast(tokens[:, 0], tf.int32)
        slots = tf.stack([tf.gather(rows, text), tf.gather(offsets, text) + tf.cast(tokens[:, 1], tf.int32)], axis=1)
        packed = tf.scatter_nd(slots, tf.gather_nd(embedded, tokens), [num_rows, width, embedded.shape[-1]])
        owner = tf.scatter_nd(slots, text + 1, [num_rows, width])  # (rows, width): 1 + the slot's text, 0 empty
        attention_mask = (owner[:, :, None] == owner[:, None, :]) & (owner[:, None, :] > 0)  # (rows, width, width)
        for layer in backbone.transformer_layers:
            packed = layer(packed, attention_mask=attention_mask, training=False)
        # text i's position p sits at (rows[i], offsets[i] + p); its padding reads some slot of the same row,
        # which the head's padding mask leaves out
        unpacked = tf.stack([tf.broadcast_to(rows[:, None], tf.shape(real)),
                             tf.minimum(offsets[:, None] + positions, width - 1)], axis=-1)  # (batch, seq, 2)
        outputs = {"sequence_output": tf.gather_nd(packed, unpacked)}  # (batch, seq, hidden)
        if model.pooling == "pooled":
            outputs["pooled_output"] = backbone.pooled_dense(outputs["sequence_output"][:, 0, :])
        return tf.cast(model.head_from_backbone_outputs(outputs, padding_mask), tf.float32)

    return logits
