"""Export a causal LM (e.g. `kerastune.models.GPT`) as a string-in SavedModel for TF Serving."""

import keras
import tensorflow as tf

from kerastune.export.export_writer import (check_export_name, check_max_new_tokens, check_nonempty,
                                            tokenizer_resources, track_sampler, write_export)
from kerastune.models.text_generation import generate_token_ids, make_sampler


def export_causal_lm(
    model,
    export_dir="saved_models",
    name="gpt",
    version=None,
    tokenizer=None,
    max_new_tokens=200,
    sampler="greedy",
    temperature=1.0,
    seed=None,
    config=None,
    chat_template=None,
):
    """Writes `export_dir/name/version/`, a SavedModel with two signatures:

    - `serving_default`: `prompts` (tf.string, [batch]) -> `generated_text` (prompt + continuation)
      and `completion` (the continuation alone), both tf.string [batch]. Tokenisation, the
      decoding loop (`max_new_tokens` steps of `sampler`) and detokenisation run inside the graph.
      With a `chat_template` (an instruction-tuned model), each prompt is wrapped in it first and
      a third output, `response`, holds the completion up to the template's end marker.
    - `next_token_logits`: `token_ids` (int32, [batch, length]) -> `logits` (float32,
      [batch, length, vocab]) and `next_token_logits` ([batch, vocab], the last position's).

    The tokenizer vocabulary (`assets.extra/tokenizer.json`) and the resolved config
    (`assets.extra/config.json`) are saved beside it. The version directory is written to a
    temporary directory and renamed into place, so TF Serving never sees a half-written version;
    an existing version is never overwritten.

    Args:
        model: the causal LM; called on (batch, length) int ids, returns float logits.
        export_dir: str, the root (TF Serving's model base path is `export_dir/name`).
        name: str, the model name.
        version: positive int or None (the next free version).
        tokenizer: tokenizer layer with `tokenize`/`detokenize`; default `model.tokenizer`.
        max_new_tokens: int, tokens generated per request.
        sampler, temperature, seed: decoding settings (see `GPT.generate`); greedy by default.
        config: optional dict (e.g. the recipe's resolved config) saved as `config.json`.
        chat_template: optional `kerastune.data.ChatTemplate` the model was instruction-tuned with.

    Returns:
        The path of the written version directory.

    Example:

    >>> path = export_causal_lm(gpt, export_dir="saved_models", name="shakespeare")  # doctest: +SKIP
    """
    tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise ValueError("export_causal_lm needs a tokenizer to take strings: pass tokenizer= or build the model with one")
    check_max_new_tokens(max_new_tokens)
    check_export_name(name)
    sampler = make_sampler(sampler, temperature=temperature, seed=seed)

    def serve(prompts):
        if chat_template is not None:
            prompts = chat_template.wrap_prompts(prompts)
        ragged = tokenizer.tokenize(prompts)  # (batch, None) int32
        lengths = ragged.row_lengths()
        with tf.control_dependencies([check_nonempty(lengths, "prompt", "to continue")]):
            token_ids = tf.cast(ragged.to_tensor(0), "int32")
        padding_mask = tf.sequence_mask(lengths, maxlen=tf.shape(token_ids)[1])
        ids, total_lengths = generate_token_ids(model, token_ids, padding_mask, max_new_tokens, sampler)
        ids = tf.convert_to_tensor(ids)
        generated = tokenizer.detokenize(tf.RaggedTensor.from_tensor(ids, lengths=total_lengths))
        positions = tf.cast(lengths, "int32")[:, None] + tf.range(max_new_tokens)[None, :]
        completion = tokenizer.detokenize(tf.gather(ids, positions, batch_dims=1))
        if chat_template is None:
            return {"generated_text": generated, "completion": completion}
        return {"generated_text": generated, "completion": completion,
                "response": chat_template.responses_from(completion)}

    def logits(token_ids):
        out = tf.convert_to_tensor(model(token_ids, training=False))
        return {"logits": out, "next_token_logits": out[:, -1, :]}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(tokenizer)
    for resource in tokenizer_resources(tokenizer):
        archive.track(resource)
    track_sampler(archive, sampler)
    archive.add_endpoint("serving_default", serve, input_signature=[tf.TensorSpec([None], tf.string, name="prompts")])
    archive.add_endpoint(
        "next_token_logits", logits, input_signature=[tf.TensorSpec([None, None], tf.int32, name="token_ids")]
    )
    files = {
        "assets.extra/tokenizer.json": keras.saving.serialize_keras_object(tokenizer),
        "assets.extra/config.json": {
            "model": model.get_config() if hasattr(model, "get_config") else None,
            "max_new_tokens": max_new_tokens,
            "sampler": keras.saving.serialize_keras_object(sampler),
            "recipe": config,
            "chat_template": None if chat_template is None else chat_template.get_config(),
        },
    }
    return write_export(archive, export_dir, name, version, files)
