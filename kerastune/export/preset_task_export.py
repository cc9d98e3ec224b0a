"""The SavedModel of a tuned KerasHub generative task (a causal LM or an encoder-decoder), LoRA merged: what
`export_preset_causal_lm` and `export_preset_seq2seq` share."""

import keras
import tensorflow as tf

from kerastune.export.export_writer import tokenizer_resources, track_sampler, write_export
from kerastune.peft import merged_for_export


def write_preset_task_export(task, tokenizer, export_dir, name, version, files, endpoints):
    """Writes `export_dir/name/version/` (atomically, `write_export`) with `endpoints` (name -> `(function,
    input signature)`) traced over `task`, its tokenizer and its sampler, LoRA updates merged into the kernels.

    LoRA updates (Keras's `enable_lora`, KerasHub's `backbone.enable_lora`) are merged in float32 for the
    export (`kerastune.peft.merged_for_export`): serving runs one matmul per projection, and `task` keeps
    its factors. Returns the path of the written version directory.
    """
    if not tokenizer.built:  # a tokenizer loaded from a preset and not called yet
        tokenizer.build(None)
    with merged_for_export(task):  # traced and saved merged; the factors come back afterwards
        archive = keras.export.ExportArchive()
        archive.track(task)
        archive.track(tokenizer)
        for resource in tokenizer_resources(tokenizer):
            archive.track(resource)
        track_sampler(archive, task.sampler)
        functions = {key: tf.function(function, input_signature=signature)
                     for key, (function, signature) in endpoints.items()}
        return write_export(archive, export_dir, name, version, files, endpoints=functions)
