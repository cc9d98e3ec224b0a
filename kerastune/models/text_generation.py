"""Autoregressive decoding for causal LMs, built on `keras_hub.samplers`."""

import numbers

import keras_hub
import numpy as np
from keras import ops

from kerastune.data.text_encoding import encode_texts

SAMPLERS = {
    "greedy": keras_hub.samplers.GreedySampler,
    "top_k": keras_hub.samplers.TopKSampler,
    "top_p": keras_hub.samplers.TopPSampler,
    "random": keras_hub.samplers.RandomSampler,
}
# The settings each sampler takes besides `temperature` and `seed` (keras_hub's argument names).
SAMPLER_SETTINGS = {"greedy": (), "top_k": ("k",), "top_p": ("p", "k"), "random": ()}


def check_sampler_settings(sampler, temperature=1.0, p=None, k=None, names=None):
    """Raises a `ValueError` for an unknown sampler name or a setting out of range.

    Args:
        sampler: a name in `SAMPLERS` or a `keras_hub.samplers.Sampler`.
        temperature: float > 0.
        p: float in (0, 1] or None (top-p's probability mass).
        k: int >= 1 or None (top-k's count, or top-p's optional top-k cutoff).
        names: optional dict mapping `"sampler"`, `"temperature"`, `"p"`, `"k"` to the names the
            caller's users know them by (e.g. `{"p": "top_p"}`), used in the messages.
    """
    names = {"sampler": "sampler", "temperature": "temperature", "p": "p", "k": "k", **(names or {})}
    if not isinstance(sampler, keras_hub.samplers.Sampler) and sampler not in SAMPLERS:
        raise ValueError(
            f"{names['sampler']} must be one of {sorted(SAMPLERS)} or a keras_hub Sampler. "
            f"Received: {names['sampler']}={sampler!r}"
        )
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not temperature > 0:
        raise ValueError(
            f"{names['temperature']} must be a positive float. Received: {names['temperature']}={temperature!r}"
        )
    if p is not None and (isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 < p <= 1):
        raise ValueError(f"{names['p']} must be a float in (0, 1]. Received: {names['p']}={p!r}")
    if k is not None and (isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1):
        raise ValueError(f"{names['k']} must be an int >= 1. Received: {names['k']}={k!r}")


def empty_key_value_cache(batch_size, num_layers, length, num_heads, head_dim, dtype):
    """Zeros for a decoder stack's key/value cache: (batch_size, num_layers, 2, length, num_heads, head_dim)
    (each layer's keys and values, as `TransformerDecoderBlock` reads and updates them)."""
    return ops.zeros((batch_size, num_layers, 2, length, num_heads, head_dim), dtype=dtype)


def tied_logits(hidden, token_embedding):
    """float32 logits of an output layer tied to the input embedding: `h E^T`, E the (vocab, hidden)
    table of `token_embedding` (Press & Wolf, 2017; GPT-2; the Transformer's section 3.4)."""
    table = ops.cast(token_embedding.embeddings, hidden.dtype)
    return ops.cast(ops.matmul(hidden, ops.transpose(table)), "float32")


def sampler_arguments(sampler, temperature, seed, top_k, top_p):
    """`make_sampler` keyword arguments for a recipe's sampler settings: `"top_k"`, `"top_p"` and `"random"`
    get `temperature` and `seed`, `"top_k"` also `k=top_k` and `"top_p"` also `p=top_p` (with no top-k
    cutoff); `"greedy"` gets none of them (a temperature cannot change the argmax).

    Example:

    >>> sampler_arguments("top_k", temperature=0.8, seed=1, top_k=10, top_p=0.9)
    {'sampler': 'top_k', 'temperature': 0.8, 'seed': 1, 'k': 10}
    """
    if sampler == "greedy":
        return {"sampler": sampler}
    arguments = {"sampler": sampler, "temperature": temperature, "seed": seed}
    if sampler == "top_k":
        arguments["k"] = top_k
    elif sampler == "top_p":
        arguments["p"] = top_p
    return arguments


def make_sampler(sampler="greedy", temperature=1.0, seed=None, **kwargs):
    """Returns a `keras_hub.samplers.Sampler` from a name, or the instance given (as it is).

    Args:
        sampler: `"greedy"`, `"top_k"` (takes `k`, keras_hub's default 5), `"top_p"` (takes `p`,
            keras_hub's default 0.1, and an optional top-k cutoff `k`), `"random"`, or an instance.
        temperature: float > 0; the logits are divided by it before the softmax.
        seed: int or None, for the random samplers (greedy ignores it).
        **kwargs: the sampler's own settings (`k`, `p`); one a sampler does not take is an error.
    """
    if isinstance(sampler, keras_hub.samplers.Sampler):
        return sampler
    check_sampler_settings(sampler, temperature, p=kwargs.get("p"), k=kwargs.get("k"))
    unknown = sorted(set(kwargs) - set(SAMPLER_SETTINGS[sampler]))
    if unknown:
        takes = ", ".join(SAMPLER_SETTINGS[sampler]) or "no settings besides temperature"
        received = ", ".join(f"{key}={kwargs[key]!r}" for key in unknown)
        raise ValueError(f"sampler={sampler!r} takes {takes}. Received: {received}")
    if sampler != "greedy":
        kwargs["seed"] = seed
    return SAMPLERS[sampler](temperature=temperature, **kwargs)


def generate_token_ids(
    model, token_ids, padding_mask, max_new_tokens, sampler, use_cache=True, cached_step=None, window_step=None
):
    """Fills `max_new_tokens` positions after each (left-aligned) prompt.

    Works eagerly and inside `tf.function` (the exported SavedModel uses it). Each step runs the
    model over the last `model.sequence_length` tokens (nanoGPT's context crop). While the sequence
    still fits in `sequence_length`, a model with `call_with_cache` (kerastune's `GPT`) keeps every
    earlier position's keys and values, so a step runs one token through the model rather than the
    whole context; the tokens are the same either way.

    Args:
        model: a causal LM with `sequence_length`, called on (batch, length) ids -> logits.
        token_ids: (batch, prompt_width) int32, prompts left-aligned and zero-padded.
        padding_mask: (batch, prompt_width) bool, True on prompt tokens.
        max_new_tokens: int or scalar int tensor.
        sampler: a `keras_hub.samplers.Sampler`.
        use_cache: bool, use the model's key/value cache when it has one (False: recompute the
            context at every step, as a model without a cache does).
        cached_step: optional function standing in for `model.call_with_cache` in the one-token
            steps, e.g. an XLA-compiled one (`GPT.generate` passes that; an exported graph does not,
            as TF Serving runs XLA only behind an experimental flag).
        window_step: optional function standing in for `model(ids, training=False)` on the cropped
            window of `sequence_length` tokens, once the text is longer (e.g. an XLA-compiled one).

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
    index = ops.min(lengths)  # the first position some row has to fill
    if use_cache and hasattr(model, "call_with_cache"):
        buffer, index = _fill_within_context(model, buffer, mask, index, sampler, cached_step or model.call_with_cache)
    window = ops.minimum(model.sequence_length, total)

    def next_logits(prompt, cache, index):
        # The window of at most sequence_length tokens that ends at position index - 1.
        start = ops.clip(index - window, 0, total - window)
        context = ops.slice(prompt, [0, start], [batch, window])
        logits = window_step(context) if window_step else model(context, training=False)  # (batch, window, vocab)
        return ops.take(logits, index - 1 - start, axis=1), None, cache

    out = sampler(next_logits, buffer, index=index, mask=mask)
    return out, lengths + max_new_tokens


def _fill_within_context(model, buffer, mask, index, sampler, cached_step):
    """Samples the positions before `model.sequence_length` with a key/value cache.

    The cache is filled from the prompts' first `index` tokens (the positions every row has), then
    each step feeds the token at `index - 1` (a longer prompt's own, or the one just sampled) and
    writes its keys and values there. No token attends to a slot after its own, so the slots not
    written yet never count. Returns the buffer and the next position to fill.
    """
    batch, total = ops.shape(buffer)[0], ops.shape(buffer)[1]
    length = ops.minimum(model.sequence_length, total)
    head = ops.slice(buffer, [0, 0], [batch, length])
    index_in_head = ops.minimum(index, length)
    # The cache always has `sequence_length` slots (those past the text are never attended), so a
    # compiled step has one shape per batch size, whatever the prompt and output lengths.
    _, cache = model.call_with_cache(
        ops.slice(head, [0, 0], [batch, index_in_head]), model.empty_cache(batch, model.sequence_length), 0
    )

    def next_logits(prompt, cache, index):
        logits, cache = cached_step(ops.slice(prompt, [0, index - 1], [batch, 1]), cache, index - 1)
        return logits[:, 0], None, cache

    head = sampler(next_logits, head, cache=cache, index=index_in_head, mask=ops.slice(mask, [0, 0], [batch, length]))
    return ops.slice_update(buffer, [0, 0], head), ops.maximum(index, length)


def generate_responses(model, chat_template, prompts, max_new_tokens, **generate_kwargs):
    """Each prompt's response from a causal LM tuned on `chat_template`: wrapped, continued, cut at its end marker.

    The wrapped prompt is tokenized alone, as in training (`ChatTemplate.encode_pairs`), and only
    the new tokens are detokenized, so a tokenizer that normalises text never shifts the cut.

    Args:
        model: a causal LM with `tokenizer` and `generate` taking id lists (kerastune's `GPT`).
        chat_template: the `kerastune.data.ChatTemplate` it was tuned with.
        prompts: a str or a list of str.
        max_new_tokens: int, the most tokens a response (with its end marker) may take.
        **generate_kwargs: `sampler`, `temperature`, `seed`, ... for `model.generate`.

    Returns:
        A str per prompt (one str for a str prompt).

    Example:

    >>> generate_responses(gpt, ChatTemplate(), ["Name a colour."], max_new_tokens=20)  # doctest: +SKIP
    ['Blue.']
    """
    single = isinstance(prompts, str)
    wrapped = [chat_template.render(prompt)[0] for prompt in ([prompts] if single else prompts)]
    prompt_ids = encode_texts(model.tokenizer, wrapped)
    rows = model.generate([ids.tolist() for ids in prompt_ids], max_new_tokens=max_new_tokens, **generate_kwargs)
    responses = [
        chat_template.response_from(decoded_str(model.tokenizer.detokenize(np.asarray(row[len(ids):], np.int32))))
        for row, ids in zip(rows, prompt_ids)
    ]
    return responses[0] if single else responses


def decoded_str(value):
    """A Python str from what a tokenizer's `detokenize` returns (a scalar string tensor, bytes or str)."""
    value = np.asarray(value)
    value = value.item() if value.shape == () else value
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
