"""Export a fine-tuned KerasHub encoder-decoder (BART, T5) as a strings-in, strings-out SavedModel for TF Serving."""

import dataclasses

import keras
import tensorflow as tf

from kerastune.export.export_writer import check_export_name, check_max_new_tokens
from kerastune.export.preset_task_export import write_preset_task_export
from kerastune.models.preset_seq2seq_lm import preset_seq2seq_targets


def export_preset_seq2seq(seq2seq_lm, tokenizer, layout, max_source_length, max_new_tokens, source_prefix="",
                          export_dir="saved_models", name="seq2seq", version=None, config=None, report=None):
    """Writes `export_dir/name/version/`, a SavedModel whose `serving_default` takes `sources` (tf.string,
    [batch]) and answers `targets` (tf.string, [batch]).

    Prefixing, tokenization, cached decoding (the sampler `seq2seq_lm` was compiled with, at most
    `max_new_tokens` tokens, stopping at the end token) and detokenization run in the graph
    (`preset_seq2seq_targets`, which `PresetSeq2SeqRun.generate` runs too); a source longer than
    `max_source_length` tokens is refused, not cut. LoRA updates are merged into the kernels. The resolved
    config and the layout go to `assets.extra/config.json`, `report` to `evaluation.json`; the version
    directory is written under a temporary name and renamed into place. Loading it needs
    `import tensorflow_text` (the tokenizer's ops), as every kerastune export does.

    Args:
        seq2seq_lm: a KerasHub `Seq2SeqLM`, compiled with its sampler.
        tokenizer: its tokenizer.
        layout: its `kerastune.data.Seq2SeqLayout`.
        max_source_length: int, the most tokens of a source (prefix included, special tokens not).
        max_new_tokens: int, the most tokens written per source (the end token included).
        source_prefix: str put before every source, as in training.
        export_dir: str, the root (TF Serving's model base path is `export_dir/name`).
        name: str, the model name.
        version: positive int or None (the next free version).
        config: optional dict (the recipe's resolved config).
        report: optional dict (an evaluation report), saved as `evaluation.json`.

    Returns:
        The path of the written version directory.

    Example:

    >>> export_preset_seq2seq(bart, bart.preprocessor.tokenizer, Seq2SeqLayout.from_preprocessor(bart.preprocessor),
    ...                       max_source_length=256, max_new_tokens=65, name="bart_summaries")  # doctest: +SKIP
    'saved_models/bart_summaries/1'
    """
    check_max_new_tokens(max_new_tokens)
    check_export_name(name)

    def serve(sources):
        return {"targets": preset_seq2seq_targets(seq2seq_lm, tokenizer, layout, sources, max_source_length,
                                                  max_new_tokens, source_prefix)}

    files = {
        "assets.extra/config.json": {
            "model": type(seq2seq_lm).__name__,
            "max_source_length": max_source_length,
            "max_new_tokens": max_new_tokens,
            "source_prefix": source_prefix,
            "layout": dataclasses.asdict(layout),
            "sampler": keras.saving.serialize_keras_object(seq2seq_lm.sampler),
            "recipe": config,
        },
        "evaluation.json": report,
    }
    endpoints = {"serving_default": (serve, [tf.TensorSpec([None], tf.string, name="sources")])}
    return write_preset_task_export(seq2seq_lm, tokenizer, export_dir, name, version, files, endpoints)
