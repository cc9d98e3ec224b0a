"""Pretrained encoder-decoders from KerasHub (BART, T5, T5Gemma): `load_seq2seq_lm(name_or_dir)`, and the TF
graph that writes their targets, shared by `PresetSeq2SeqRun.generate` and the exported SavedModel.

A KerasHub `Seq2SeqLM` task holds the backbone, its tokenizer (in its preprocessor), the key/value caches
and the samplers; kerastune fine-tunes it (`kerastune.recipes.preset_seq2seq`) and exports it string-in
(`kerastune.export.export_preset_seq2seq`). It is read from a KerasHub preset name (`"bart_base_en"`,
`"t5_small_multi"`: downloaded by KerasHub), a local KerasHub preset directory, or a local Hugging Face
directory of an architecture KerasHub converts (BART, T5Gemma).
"""

import keras_hub
import tensorflow as tf

from kerastune.models.preset_task import graph_token_ids, graph_written_text, load_preset_task, max_positions


def load_seq2seq_lm(name_or_dir, **kwargs):
    """Returns the KerasHub `Seq2SeqLM` (with its preprocessor and tokenizer) that `name_or_dir` holds.

    Args:
        name_or_dir: str, a KerasHub preset name or handle, a local KerasHub preset directory, or a
            local Hugging Face directory of an encoder-decoder KerasHub converts.
        **kwargs: passed to `keras_hub.models.Seq2SeqLM.from_preset` (e.g. `dtype="bfloat16"`).

    Raises:
        FileNotFoundError, ConnectionError: as `kerastune.models.preset_task.load_preset_task`.
        ValueError: the directory holds a model that is not an encoder-decoder (GPT-2, BERT).

    Example:

    >>> bart = load_seq2seq_lm("bart_base_en")  # doctest: +SKIP
    >>> bart.generate("The quick brown fox jumped.", max_length=30)  # doctest: +SKIP
    """
    return load_preset_task(keras_hub.models.Seq2SeqLM, name_or_dir, "sequence-to-sequence LM (encoder-decoder)",
                            "BART, T5 or T5Gemma", **kwargs)


def preset_seq2seq_targets(seq2seq_lm, tokenizer, layout, sources, max_source_length, max_new_tokens,
                           source_prefix="", chunk_size=8):
    """The target each source string is answered with, in TensorFlow ops (greedy or the compiled sampler).

    Each source (after `source_prefix`) is tokenized and laid out as in training (`layout`, a
    `kerastune.data.Seq2SeqLayout`), each chunk of `chunk_size` sources padded to its longest; the decoder
    starts from the layout's start ids and KerasHub's cached decoding (`seq2seq_lm.generate_step`: one
    encoder pass, then one decoder position per step) writes at most `max_new_tokens` tokens, stopping at
    the end token. A source longer than `max_source_length` tokens (the longest trained on) is an error,
    never cut. The sources are decoded in chunks of a fixed size, one chunk after another (the last one
    padded with copies of the first source, whose targets are dropped), because KerasHub's T5 decoding
    step needs a batch of known size.

    Args:
        seq2seq_lm: a KerasHub `Seq2SeqLM` (its preprocessor is not used: it may be detached).
        tokenizer: its tokenizer.
        layout: its `Seq2SeqLayout`.
        sources: tf.string tensor, [batch].
        max_source_length: int, the most tokens of a source (prefix included, special tokens not).
        max_new_tokens: int, the most tokens written (the end token included).
        source_prefix: str put before every source, as in training.
        chunk_size: int, sources decoded together.

    Returns:
        A tf.string [batch] tensor: each written target, special tokens left out.
    """
    count = tf.size(sources)
    filler = tf.tile(sources[:1], tf.reshape((chunk_size - count % chunk_size) % chunk_size, [1]))  # none if empty
    padded = tf.concat([sources, filler], 0)

    def chunk_targets(chunk):
        return _targets(seq2seq_lm, tokenizer, layout, tf.ensure_shape(chunk, [chunk_size]), max_source_length,
                        max_new_tokens, source_prefix)

    written = tf.map_fn(chunk_targets, tf.reshape(padded, [-1, chunk_size]),
                        fn_output_signature=tf.TensorSpec([chunk_size], tf.string),
                        parallel_iterations=1)  # one chunk's caches at a time; a sampler's seed advances in order
    return tf.reshape(written, [-1])[:count]


def _targets(seq2seq_lm, tokenizer, layout, sources, max_source_length, max_new_tokens, source_prefix):
    """`preset_seq2seq_targets` of one chunk of sources, of a known size."""
    rows = int(sources.shape[0])
    texts = tf.strings.join([source_prefix, sources]) if source_prefix else sources
    ragged = graph_token_ids(tokenizer, texts)
    lengths = tf.cast(ragged.row_lengths(), tf.int32)
    too_long = tf.debugging.assert_less_equal(
        tf.reduce_max(tf.concat([lengths, [0]], 0)), max_source_length,
        message=f"a source (with its prefix) is longer than max_source_length={max_source_length} tokens, the "
                "longest the model was trained on; split it or fine-tune with a larger max_source_length")

    def tiled(values, dtype=tf.int32):  # the same values in every row, [rows, len(values)]
        return tf.tile(tf.constant([list(values)], dtype, shape=[1, len(values)]), [rows, 1])

    with tf.control_dependencies([too_long]):
        encoder = tf.concat([tiled(layout.encoder_start), ragged, tiled(layout.encoder_end)], axis=1)
    encoder_ids = tf.ensure_shape(encoder.to_tensor(0), [rows, None])
    encoder_mask = tf.sequence_mask(encoder.row_lengths(), tf.shape(encoder_ids, out_type=tf.int64)[1])
    start = len(layout.decoder_start)
    decoder_ids = tiled(layout.decoder_start + (0,) * max_new_tokens)
    prefix_mask = tiled([True] * start + [False] * max_new_tokens, tf.bool)
    out = seq2seq_lm.generate_step({"encoder_token_ids": encoder_ids, "encoder_padding_mask": encoder_mask,
                                    "decoder_token_ids": decoder_ids, "decoder_padding_mask": prefix_mask},
                                   stop_token_ids=(layout.end_token_id,))
    ids = tf.cast(out["decoder_token_ids"], tf.int32)
    new = tf.logical_and(tf.cast(out["decoder_padding_mask"], tf.bool), tf.logical_not(prefix_mask))
    return tf.ensure_shape(graph_written_text(tokenizer, ids, new, layout.end_token_id), [rows])


def check_positions(seq2seq_lm, layout, max_source_length, max_target_length, name="the model"):
    """Raises when a source of `max_source_length` tokens or a target of `max_target_length` (with the layout's
    special tokens) would not fit in the model's positions (BART's learned table: 1,024); T5's are unbounded."""
    limit = max_positions(seq2seq_lm)
    if limit is None:
        return
    widths = {"max_source_length": (max_source_length, layout.special_tokens),
              "max_target_length": (max_target_length, len(layout.decoder_start) + 1)}
    for key, (value, extra) in widths.items():
        if value + extra > limit:
            raise ValueError(f"{key}={value} and the {extra} special tokens around it do not fit in the {limit} "
                             f"positions of {name}: pass {key} <= {limit - extra}. Received: {key}={value}")
