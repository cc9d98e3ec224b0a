"""Autoregressive decoding for causal LMs, built on `keras_hub.samplers`."""

import keras_hub
from keras import ops

SAMPLERS = {
    "greedy": keras_hub.samplers.GreedySampler,
    "top_k": keras_hub.samplers.TopKSampler,
    "top_p": keras_hub.samplers.TopPSampler,
    "random": keras_hub.samplers.RandomSampler,
}


def make_sampler(sampler="greedy", temperature=1.0, seed=None, **kwargs):
    """Returns a `keras_hub.samplers.Sampler` from a name (or the instance given).

    Args:
        sampler: `"greedy"`, `"top_k"` (takes `k`), `"top_p"` (takes `p`, `k`), `"random"`, or an instance.
        temperature: float > 0.
        seed: int or None, for the random samplers.
    """
    if isinstance(sampler, keras_hub.samplers.Sampler):
        return sampler
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)} or a keras_hub Sampler; received {sampler!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive; received {temperature!r}")
    if sampler != "greedy":
        kwargs["seed"] = seed
    return SAMPLERS[sampler](temperature=temperature, **kwargs)


def generate_token_ids(model, token_ids, padding_mask, max_new_tokens, sampler):
    """Fills `max_new_tokens` positions after each (left-aligned) prompt.

    Works eagerly and inside `tf.function` (the exported SavedModel uses it). Each step runs the
    model over the last `model.sequence_length` tokens (nanoGPT's context crop).

    Args:
        model: a causal LM with `sequence_length`, called on (batch, length) ids -> logits.
        token_ids: (batch, prompt_width) int32, prompts left-aligned and zero-padded.
        padding_mask: (batch, prompt_width) bool, True on prompt tokens.
        max_new_tokens: int or scalar int tensor.
        sampler: a `keras_hub.samplers.Sampler`.

    Returns:
        (ids, lengths): ids (batch, prompt_width + max_new_tokens) int32, and each row's length
        (its prompt length + max_new_tokens); positions past a row's length are to be ignored.
    """
    token_ids = ops.cast(token_ids, "int32")
    padding_mask = ops.cast(padding_mask, "bool")
    batch = ops.shape(token_ids)[0]
    total = ops.shape(token_ids)[1] + max_new_tokens
    buffer = ops.pad(token_ids, [[0, 0], [0, max_new_tokens]])
    mask = ops.pad(padding_mask, [[0, 0], [0, max_new_tokens]], constant_values=False)
    lengths = ops.sum(ops.cast(padding_mask, "int32"), axis=1)
    window = ops.minimum(model.sequence_length, total)

    def next_logits(prompt, cache, index):
        # The window of at most sequence_length tokens that ends at position index - 1.
        start = ops.clip(index - window, 0, total - window)
        context = ops.slice(prompt, [0, start], [batch, window])
        logits = model(context, training=False)  # (batch, window, vocab)
        return ops.take(logits, index - 1 - start, axis=1), None, cache

    out = sampler(next_logits, buffer, index=ops.min(lengths), mask=mask)
    return out, lengths + max_new_tokens
