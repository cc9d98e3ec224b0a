"""Export an instruction-tuned KerasHub causal LM as a string-in SavedModel for TF Serving."""

import keras
import tensorflow as tf

from kerastune.export.export_writer import check_export_name, check_max_new_tokens
from kerastune.export.preset_task_export import write_preset_task_export
from kerastune.models.preset_responses import preset_responses


def export_preset_causal_lm(causal_lm, tokenizer, chat_template, export_dir="saved_models", name="causal_lm",
                            version=None, max_new_tokens=128, start_token_id=None, config=None, report=None):
    """Writes `export_dir/name/version/`, a SavedModel with two signatures:

    - `serving_default`: `prompts` (tf.string, [batch]) -> `response` (the answer, up to the chat
      template's end marker), `completion` (everything written) and `generated_text` (the wrapped
      prompt and the completion), all tf.string [batch]. Wrapping, tokenization, cached decoding
      (the sampler `causal_lm` was compiled with, at most `max_new_tokens` tokens, stopping at the
      end token) and detokenization run in the graph (`preset_responses`, which
      `PresetCausalLMRun.respond` runs too).
    - `next_token_logits`: `token_ids` (int32, [batch, length]) -> `logits` (float32,
      [batch, length, vocab]) and `next_token_logits` ([batch, vocab], the last position's).

    LoRA updates (Keras's `enable_lora`, KerasHub's `backbone.enable_lora`) are merged into the kernels
    for the export (`kerastune.peft.merged_for_export`): serving runs one matmul per projection, and
    `causal_lm` keeps its factors. The resolved config and the template go to
    `assets.extra/config.json`, `report` to `evaluation.json`. The version directory is written under
    a temporary name and renamed into place; an existing version is never overwritten. Loading it
    needs `import tensorflow_text` (the tokenizer's ops), as every kerastune export does.

    Args:
        causal_lm: a KerasHub `CausalLM`, compiled with its sampler.
        tokenizer: its tokenizer.
        chat_template: the `kerastune.data.ChatTemplate` it was tuned with.
        export_dir: str, the root (TF Serving's model base path is `export_dir/name`).
        name: str, the model name.
        version: positive int or None (the next free version).
        max_new_tokens: int, the most tokens written per prompt.
        start_token_id: int or None, the token before each prompt (as in training).
        config: optional dict (the recipe's resolved config).
        report: optional dict (an evaluation report), saved as `evaluation.json`.

    Returns:
        The path of the written version directory.

    Example:

    >>> export_preset_causal_lm(causal_lm, tokenizer, ChatTemplate(), name="gpt2_alpaca")  # doctest: +SKIP
    'saved_models/gpt2_alpaca/1'
    """
    check_max_new_tokens(max_new_tokens)
    check_export_name(name)

    def serve(prompts):
        return preset_responses(causal_lm, tokenizer, chat_template, prompts, max_new_tokens, start_token_id)

    def logits(token_ids):
        out = tf.cast(causal_lm({"token_ids": token_ids, "padding_mask": tf.ones_like(token_ids)}), tf.float32)
        return {"logits": out, "next_token_logits": out[:, -1, :]}

    files = {
        "assets.extra/config.json": {
            "model": type(causal_lm).__name__,
            "max_new_tokens": max_new_tokens,
            "start_token_id": start_token_id,
            "sampler": keras.saving.serialize_keras_object(causal_lm.sampler),
            "chat_template": chat_template.get_config(),
            "recipe": config,
        },
        "evaluation.json": report,
    }
    endpoints = {
        "serving_default": (serve, [tf.TensorSpec([None], tf.string, name="prompts")]),
        "next_token_logits": (logits, [tf.TensorSpec([None, None], tf.int32, name="token_ids")]),
    }
    return write_preset_task_export(causal_lm, tokenizer, export_dir, name, version, files, endpoints)
