"""Pretrained causal LMs from KerasHub: `load_causal_lm(name_or_dir)` for GPT-2, Gemma, Llama, Mistral, Qwen, ...

A KerasHub `CausalLM` task holds the backbone, its tokenizer (in its preprocessor), the key/value
cache and the samplers; kerastune instruction-tunes it (`kerastune.recipes.preset_causal_lm`) and
exports it string-in (`kerastune.export.export_preset_causal_lm`). It is read from:

- a KerasHub preset name or handle (`"gpt2_base_en"`, `"kaggle://keras/gemma/keras/gemma_2b_en"`,
  `"hf://openai-community/gpt2"`), downloaded by KerasHub (online, as on Colab);
- a local KerasHub preset directory (`metadata.json`), e.g. one `CausalLM.save_to_preset` wrote or a
  downloaded preset;
- a local Hugging Face directory (`config.json`, `model.safetensors`, tokenizer files) of an
  architecture KerasHub converts (`gpt2`, `llama`, `gemma`, `mistral`, `qwen2`, ...), read offline.
"""

import os

import keras_hub
import requests


def load_causal_lm(name_or_dir, sequence_length=None, **kwargs):
    """Returns the KerasHub `CausalLM` (with its preprocessor and tokenizer) that `name_or_dir` holds.

    Args:
        name_or_dir: str, a KerasHub preset name or handle, a local KerasHub preset directory, or a
            local Hugging Face directory of a causal LM KerasHub converts.
        sequence_length: int or None, the preprocessor's packing length (None keeps the preset's).
        **kwargs: passed to `keras_hub.models.CausalLM.from_preset` (e.g. `dtype="bfloat16"`).

    Raises:
        FileNotFoundError: a path that is neither a KerasHub preset nor a Hugging Face directory.
        ValueError: the directory holds a model that is not a causal LM (e.g. BERT).
        ConnectionError: a preset name whose download could not connect (no network), with what to pass
            instead. A refused download (a licence not accepted, missing credentials, a wrong name) raises
            KerasHub's own error.

    Example:

    >>> causal_lm = load_causal_lm("gpt2_base_en", sequence_length=256)  # doctest: +SKIP
    >>> causal_lm.generate("The weather today", max_length=30)  # doctest: +SKIP
    """
    name = str(name_or_dir)
    local = os.path.isdir(name)
    if local and not any(os.path.exists(os.path.join(name, f)) for f in ("metadata.json", "config.json")):
        raise FileNotFoundError(f"{name}: neither a KerasHub preset (metadata.json) nor a Hugging Face directory "
                                "(config.json); pass the directory that holds one of them")
    if not local and os.path.sep in name and "://" not in name:
        raise FileNotFoundError(f"{name}: no such directory (and not a KerasHub preset name)")
    try:
        causal_lm = keras_hub.models.CausalLM.from_preset(name, **kwargs)
    except (requests.ConnectionError, requests.Timeout) as error:  # no network; an HTTP error (401, 404) passes
        if local:
            raise
        raise ConnectionError(
            f"{name!r} is a KerasHub preset name: loading it downloads the weights, and the download failed "
            f"({type(error).__name__}). With no network, pass a local directory instead: a KerasHub preset "
            "(CausalLM.save_to_preset) or a Hugging Face checkpoint of a causal LM (config.json, model.safetensors "
            f"and its tokenizer files). Received: preset={name!r}"
        ) from error
    except ValueError as error:
        if "CausalLM" not in str(error):
            raise
        raise ValueError(f"{name} holds no causal LM KerasHub can build ({error}); pass a GPT-2, Gemma, Llama, "
                         f"Mistral, Qwen or other decoder-only model. Received: preset={name!r}") from None
    if causal_lm.preprocessor is None:
        raise ValueError(f"{name} has no preprocessor (tokenizer), so text cannot be encoded for it; pass a preset "
                         f"saved with its tokenizer. Received: preset={name!r}")
    if sequence_length is not None:
        causal_lm.preprocessor.sequence_length = sequence_length
    return causal_lm


def max_positions(causal_lm):
    """The most token positions `causal_lm` attends over (learned position tables: GPT-2's 1,024), or None
    when its positions are rotary and unbounded by a table (Llama, Gemma, Mistral)."""
    limit = getattr(causal_lm.backbone, "max_sequence_length", None)
    return int(limit) if limit else None


def end_token_id(tokenizer, name="the model"):
    """The id `tokenizer` (a causal LM's) ends a text with: training appends it after each response and
    generation stops at it."""
    end = getattr(tokenizer, "end_token_id", None)
    if end is None:
        raise ValueError(f"The tokenizer of {name} ({type(tokenizer).__name__}) has no end token, so a response's "
                         "end cannot be learned or found: pass a causal LM whose tokenizer sets end_token_id. "
                         "Received: end_token_id=None")
    return int(end)
