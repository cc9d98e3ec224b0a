"""Pretrained KerasHub tasks (causal and sequence-to-sequence LMs) read from a preset name, a local KerasHub
preset directory or a local Hugging Face directory: the loading, its errors, and what a task's backbone
and tokenizer say about it. `load_causal_lm` and `load_seq2seq_lm` are built on it."""

import os

import keras_hub
import requests
import tensorflow as tf


def load_preset_task(task_class, name_or_dir, what, examples, **kwargs):
    """Returns `task_class.from_preset(name_or_dir, **kwargs)`, with its preprocessor, or an error that says
    what to pass instead.

    Args:
        task_class: the KerasHub task class (`keras_hub.models.CausalLM`, `keras_hub.models.Seq2SeqLM`).
        name_or_dir: str, a KerasHub preset name or handle, a local KerasHub preset directory, or a local
            Hugging Face directory KerasHub converts.
        what: str, the kind of model, for the messages (`"causal LM"`).
        examples: str, architectures of that kind, for the messages (`"GPT-2, Gemma, Llama"`).
        **kwargs: passed to `from_preset` (e.g. `dtype="bfloat16"`).

    Raises:
        FileNotFoundError: a path that is neither a KerasHub preset nor a Hugging Face directory.
        ValueError: the directory holds a model KerasHub cannot build as `task_class` (e.g. BERT), or one
            without a tokenizer.
        ConnectionError: a preset name whose download could not connect (no network), with what to pass
            instead. A refused download (a licence not accepted, missing credentials, a wrong name) raises
            KerasHub's own error.
    """
    name = str(name_or_dir)
    local = os.path.isdir(name)
    if local and not any(os.path.exists(os.path.join(name, f)) for f in ("metadata.json", "config.json")):
        raise FileNotFoundError(f"{name}: neither a KerasHub preset (metadata.json) nor a Hugging Face directory "
                                "(config.json); pass the directory that holds one of them")
    if not local and os.path.sep in name and "://" not in name:
        raise FileNotFoundError(f"{name}: no such directory (and not a KerasHub preset name)")
    try:
        task = task_class.from_preset(name, **kwargs)
    except (requests.ConnectionError, requests.Timeout) as error:  # no network; an HTTP error (401, 404) passes
        if local:
            raise
        raise ConnectionError(
            f"{name!r} is a KerasHub preset name: loading it downloads the weights, and the download failed "
            f"({type(error).__name__}). With no network, pass a local directory instead: a KerasHub preset "
            f"(save_to_preset) or a Hugging Face checkpoint of a {what} (config.json, model.safetensors and its "
            f"tokenizer files). Received: preset={name!r}"
        ) from error
    except ValueError as error:
        if task_class.__name__ not in str(error):
            raise
        raise ValueError(f"{name} holds no {what} KerasHub can build ({error}); pass a {examples} or other "
                         f"{what}. Received: preset={name!r}") from None
    if task.preprocessor is None:
        raise ValueError(f"{name} has no preprocessor (tokenizer), so text cannot be encoded for it; pass a preset "
                         f"saved with its tokenizer. Received: preset={name!r}")
    return task


def max_positions(task):
    """The most token positions `task`'s backbone attends over (learned position tables: GPT-2's and BART's
    1,024), or None when its positions are rotary or relative and unbounded by a table (Llama, Gemma, T5)."""
    limit = getattr(task.backbone, "max_sequence_length", None)
    return int(limit) if limit else None


def end_token_id(tokenizer, name="the model"):
    """The id `tokenizer` ends a text with: training appends it after each response and generation stops at it."""
    end = getattr(tokenizer, "end_token_id", None)
    if end is None:
        raise ValueError(f"The tokenizer of {name} ({type(tokenizer).__name__}) has no end token, so a response's "
                         "end cannot be learned or found: pass a model whose tokenizer sets end_token_id. "
                         "Received: end_token_id=None")
    return int(end)


def is_seq2seq(task):
    """Whether `task` is an encoder-decoder (`keras_hub.models.Seq2SeqLM`, itself a `CausalLM` subclass)."""
    return isinstance(task, keras_hub.models.Seq2SeqLM)


def graph_token_ids(tokenizer, texts):
    """`tokenizer`'s ids of a [batch] tf.string tensor as an int32 `tf.RaggedTensor` [batch, None], in a graph or
    eagerly (KerasHub tokenizers answer Python lists outside a graph)."""
    ragged = tokenizer(texts)
    if not isinstance(ragged, (tf.Tensor, tf.RaggedTensor)):
        ragged = tf.ragged.constant(ragged, tf.int32, ragged_rank=1)
    return tf.cast(ragged, tf.int32)


def graph_strings(detokenized):
    """A [batch] tf.string tensor from what a tokenizer's `detokenize` returns (SentencePiece may give bytes
    of a ragged shape or a dense tensor)."""
    return tf.reshape(tf.convert_to_tensor(detokenized, tf.string), [-1])


def graph_written_text(tokenizer, token_ids, written, end_token_id):
    """The text of the tokens `written` marks (a bool [batch, length] mask of what generation wrote) in
    `token_ids`, the tokenizer's special tokens and the end token left out: a [batch] tf.string tensor."""
    for special in set(getattr(tokenizer, "special_token_ids", None) or []) | {int(end_token_id)}:
        written = tf.logical_and(written, tf.not_equal(token_ids, special))
    return graph_strings(tokenizer.detokenize(tf.ragged.boolean_mask(token_ids, written)))
