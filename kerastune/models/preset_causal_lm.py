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

import keras_hub

from kerastune.models.preset_task import is_seq2seq, load_preset_task


def load_causal_lm(name_or_dir, sequence_length=None, **kwargs):
    """Returns the KerasHub `CausalLM` (with its preprocessor and tokenizer) that `name_or_dir` holds.

    Args:
        name_or_dir: str, a KerasHub preset name or handle, a local KerasHub preset directory, or a
            local Hugging Face directory of a causal LM KerasHub converts.
        sequence_length: int or None, the preprocessor's packing length (None keeps the preset's).
        **kwargs: passed to `keras_hub.models.CausalLM.from_preset` (e.g. `dtype="bfloat16"`).

    Raises:
        FileNotFoundError: a path that is neither a KerasHub preset nor a Hugging Face directory.
        ValueError: the directory holds a model that is not a causal LM (e.g. BERT), or an encoder-decoder
            (BART, T5: `load_seq2seq_lm` reads those).
        ConnectionError: a preset name whose download could not connect (no network), with what to pass
            instead. A refused download (a licence not accepted, missing credentials, a wrong name) raises
            KerasHub's own error.

    Example:

    >>> causal_lm = load_causal_lm("gpt2_base_en", sequence_length=256)  # doctest: +SKIP
    >>> causal_lm.generate("The weather today", max_length=30)  # doctest: +SKIP
    """
    causal_lm = load_preset_task(keras_hub.models.CausalLM, name_or_dir, "causal LM",
                                 "GPT-2, Gemma, Llama, Mistral, Qwen", **kwargs)
    if is_seq2seq(causal_lm):  # KerasHub's Seq2SeqLM is a CausalLM subclass
        raise ValueError(f"{name_or_dir} holds an encoder-decoder ({type(causal_lm).__name__}), which reads a source "
                         "and writes a target: fine-tune it with the preset_seq2seq recipe (load_seq2seq_lm). "
                         f"Received: preset={str(name_or_dir)!r}")
    if sequence_length is not None:
        causal_lm.preprocessor.sequence_length = sequence_length
    return causal_lm
