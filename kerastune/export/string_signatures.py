"""The parts every string-in export of a BERT-style encoder shares: signatures over strings, the
`tokenize` signature, what each text was read as, and the encoder's outputs on dense inputs.

The text classifier's and the sentence encoder's exports are built from these, so both tokenise,
report and trace their encoder the same way.
"""

import tensorflow as tf

from kerastune.data.bert_inputs import dense_inputs, packer, pad_id, text_specs
from kerastune.export.length_sorted_chunks import check_chunk_size, length_sorted_outputs
from kerastune.export.packed_rows import packed_logits, packs
from kerastune.models.backbones import max_sequence_length
from kerastune.models.bert_encoder import INPUT_NAMES

DENSE_SPECS = [tf.TensorSpec([None, None], tf.int32, name=n) for n in INPUT_NAMES]


def string_signature(fn, pair):
    """`fn` as a `tf.function` over `text` (batch,) strings, and `text_pair` when `pair`."""
    if pair:
        def with_pair(text, text_pair):
            return fn(text, text_pair)

        return tf.function(with_pair, input_signature=text_specs(pair=True))

    def single(text):
        return fn(text)

    return tf.function(single, input_signature=text_specs())


def what_was_read(used, full_lengths, pair):
    """`num_tokens` (the word pieces read, [CLS]/[SEP] not counted) and `truncated` (the text was cut) of each
    text, from its packed length `used` and its length before the cut, both with the special tokens."""
    return {"num_tokens": used - (3 if pair else 2), "truncated": full_lengths > used}


def tokenize_function(tokenizer, sequence_length, pair=False, truncate="end"):
    """Returns a `tf.function`: strings -> the dense `{token_ids, segment_ids, padding_mask}` the encoder takes,
    and each text's `num_tokens` and `truncated` as `serving_default` reports them.

    The `tokenize` signature: what `serving_default` feeds its encoder (padded to the batch's
    longest text), for clients that run the encoder elsewhere (LiteRT) and to profile the stages.
    """
    padding_id = pad_id(tokenizer)
    pack = packer(tokenizer, sequence_length, pair, truncate)

    def tokenize(text, text_pair=None):
        token_ids, segment_ids, full_lengths = pack(text) if text_pair is None else pack(text, text_pair)
        used = tf.cast(token_ids.row_lengths(), tf.int32)
        return {
            **dense_inputs(token_ids, segment_ids, padding_id),  # (batch, longest) int32 each
            **what_was_read(used, full_lengths, text_pair is not None),  # (batch,) each
        }

    return string_signature(tokenize, pair)


def encoder_outputs_function(model):
    """Returns a `tf.function`: dense `token_ids, segment_ids, padding_mask` (batch, seq) int32 -> the model's
    float32 output (a classifier's logits (batch, num_classes), an encoder's embeddings (batch, dim), a span
    extractor's start and end logits (batch, 2, seq)).
    `serving_default`'s chunks and the `token_ids` signature both call it, so an export traces the model once."""

    def outputs(token_ids, segment_ids, padding_mask):
        features = {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}
        return tf.cast(model(features, training=False), tf.float32)

    return tf.function(outputs, input_signature=DENSE_SPECS)


def encoder_on_strings(model, tokenizer, output_shape, pair=False, sequence_length=None, chunk_size=None,
                       pad_to_multiple_of=1, truncate="end", outputs=None, packed=None):
    """Returns `encode(text, text_pair=None) -> (outputs, read)`: the model's float32 outputs (batch,
    *output_shape) for (batch,) strings, and `what_was_read` of each text, for a serving graph.

    Texts are tokenised by `packer`, as the training batches were. The encoder runs on length-sorted
    chunks of at most `chunk_size` texts, each padded only to its own longest text (rounded up to
    `pad_to_multiple_of`): see `length_sorted_chunks`; packed, each chunk's texts share rows
    (`packed_rows`), cut in the request's own order and at most about 16 x `sequence_length` tokens.

    Args:
        model: a `TextClassifier`, a `SentenceEncoder`, or any model taking the backbone inputs.
        tokenizer: the backbone's tokenizer.
        output_shape: tuple of ints, one text's output shape (`(num_classes,)`, `(embedding_dim,)`).
        pair: bool, whether a second text `text_pair` is taken.
        sequence_length: int or None for the backbone's maximum.
        chunk_size: int, the most texts the encoder runs at once, or None: 64 packed, 16 not.
        pad_to_multiple_of: int, chunk widths are rounded up to a multiple of it.
        truncate: `"end"` or `"middle"`, what a too-long text loses (as the model was trained).
        outputs: the `encoder_outputs_function(model)` to call unpacked, or None for a new one (an export
            passes the one its `token_ids` signature calls, so an unpacked model is traced once).
        packed: bool, or None to pack whenever `packed_rows.packs(model)`.
    """
    if sequence_length is None:
        sequence_length = max_sequence_length(getattr(model, "backbone", None))
    packed = packs(model) if packed is None else packed
    chunk_size = (64 if packed else 16) if chunk_size is None else chunk_size
    check_chunk_size(chunk_size)
    # packed chunks of many long texts stop where an unpacked chunk of 16 at the longest would: the same memory
    chunk_tokens = 16 * sequence_length if packed else None
    padding_id = pad_id(tokenizer)
    if packed:
        outputs_of = tf.function(packed_logits(model), input_signature=DENSE_SPECS)
    else:
        outputs_of = outputs or encoder_outputs_function(model)
    pack = packer(tokenizer, sequence_length, pair, truncate)  # the training batches' own

    def encode(text, text_pair=None):
        token_ids, segment_ids, full_lengths = pack(text) if text_pair is None else pack(text, text_pair)
        used = tf.cast(token_ids.row_lengths(), tf.int32)
        values = length_sorted_outputs(
            lambda features: outputs_of(**features), token_ids, segment_ids, tuple(output_shape), padding_id,
            chunk_size, pad_to_multiple_of, limit=sequence_length, sort=not packed, chunk_tokens=chunk_tokens,
        )
        return values, what_was_read(used, full_lengths, text_pair is not None)

    return encode
