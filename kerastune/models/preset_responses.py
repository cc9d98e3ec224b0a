"""Responses of an instruction-tuned KerasHub causal LM, in TensorFlow ops: the same graph answers in
`PresetCausalLMRun.respond` and in the exported SavedModel."""

import tensorflow as tf

from kerastune.models.preset_task import end_token_id, graph_token_ids, graph_written_text, max_positions


def prompt_token_ids(tokenizer, chat_template, prompts, start_token_id=None):
    """The ids generation starts from, in TensorFlow ops: `start_token_id` (when not None), then the tokenizer's
    ids of each prompt wrapped in `chat_template`, as `encode_instruction_examples` lays them out in training.

    Args:
        tokenizer: a KerasHub tokenizer.
        chat_template: a `kerastune.data.ChatTemplate`.
        prompts: tf.string tensor, [batch].
        start_token_id: int or None.

    Returns:
        An int32 `tf.RaggedTensor`, [batch, None].
    """
    ragged = graph_token_ids(tokenizer, chat_template.wrap_prompts(prompts))
    if start_token_id is None:
        return ragged
    starts = tf.fill(tf.stack([ragged.nrows(), 1]), tf.constant(start_token_id, tf.int32))
    return tf.concat([starts, ragged], axis=1)


def preset_responses(causal_lm, tokenizer, chat_template, prompts, max_new_tokens, start_token_id=None):
    """Wraps each prompt in `chat_template`, continues it with KerasHub's cached decoding, cuts the answer.

    The prompt is encoded as in training (`prompt_token_ids`), left-aligned in a batch padded to the
    longest prompt plus `max_new_tokens`. Decoding (`causal_lm.generate_step`: the model's key/value
    cache and the sampler it was compiled with) stops at the tokenizer's end token; each row keeps at
    most `max_new_tokens` new tokens. A prompt that does not leave room for `max_new_tokens` within
    the model's positions is an error, never cut.

    Args:
        causal_lm: a KerasHub `CausalLM` (its preprocessor is not used: it may be detached, as for training on
            prepared batches).
        tokenizer: its tokenizer.
        chat_template: the `kerastune.data.ChatTemplate` it was tuned with.
        prompts: tf.string tensor, [batch].
        max_new_tokens: int, the most tokens written per prompt (the end token included).
        start_token_id: int or None, the token before each prompt (the preprocessor's `add_start_token`).

    Returns:
        dict of tf.string [batch] tensors: `generated_text` (wrapped prompt + completion),
        `completion` (the new text, special tokens left out) and `response` (the completion up to
        the template's end marker).
    """
    ragged = prompt_token_ids(tokenizer, chat_template, prompts, start_token_id)
    lengths = tf.cast(ragged.row_lengths(), tf.int32)
    width = tf.reduce_max(tf.concat([lengths, [0]], 0)) + max_new_tokens
    limit = max_positions(causal_lm)
    checks = []
    if limit is not None:
        checks.append(tf.debugging.assert_less_equal(
            width, limit, message=f"A prompt wrapped in the chat template and max_new_tokens={max_new_tokens} do not "
                                  f"fit in the {limit} positions of the model: shorten the prompt or lower "
                                  "max_new_tokens"))
    with tf.control_dependencies(checks):
        token_ids = ragged.to_tensor(0, shape=tf.stack([ragged.nrows(), tf.cast(width, tf.int64)]))
    prompt_mask = tf.sequence_mask(lengths, width)
    out = causal_lm.generate_step({"token_ids": token_ids, "padding_mask": prompt_mask},
                                  stop_token_ids=(end_token_id(tokenizer),))
    ids = tf.cast(out["token_ids"], tf.int32)
    new = tf.logical_and(tf.cast(out["padding_mask"], tf.bool), tf.logical_not(prompt_mask))
    new = tf.logical_and(new, tf.sequence_mask(lengths + max_new_tokens, width))
    completion = graph_written_text(tokenizer, ids, new, end_token_id(tokenizer))
    return {"generated_text": tf.strings.join([chat_template.wrap_prompts(prompts), completion]),
            "completion": completion, "response": chat_template.responses_from(completion)}

