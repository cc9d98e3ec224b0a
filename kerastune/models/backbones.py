"""One entry point for the encoders a text task fine-tunes: `load_backbone(name_or_dir)`.

- a KerasHub preset name (`"bert_tiny_en_uncased"`, `"hf://google-bert/bert-base-uncased"`, ...),
  downloaded by KerasHub (online, as on Colab);
- a local directory, either a KerasHub preset or Hugging Face format (`config.json` with
  `model_type: bert`, `model.safetensors`, `vocab.txt`), e.g. `../shared/models/all-MiniLM-L6-v2`,
  read offline by KerasHub's converters;
- a kerastune backbone directory (`save_backbone_directory`, e.g. after `masked_lm` pretraining);
- a TF Model Garden BERT encoder checkpoint (a directory or prefix, `vocab.txt` beside it), read
  from its files by `kerastune.models.model_garden_checkpoint` (no Model Garden install needed);
- `"kerastune_bert"`: kerastune's own `BertEncoder`, randomly initialised from flat arguments, with
  a WordPiece tokenizer built from a vocabulary (a `vocab.txt`, a directory holding one, or a list).

Every backbone returned takes `{"token_ids", "segment_ids", "padding_mask"}` and returns
`{"sequence_output", "pooled_output"}`, so the same task head and recipe fine-tune any of them.
"""

import json
import os

import keras
import keras_hub

from kerastune.models.backbone_directory import is_backbone_directory, load_backbone_directory
from kerastune.models.bert_encoder import BertEncoder
from kerastune.models.model_garden_checkpoint import is_model_garden_checkpoint, load_model_garden_checkpoint

OWN_ENCODER = "kerastune_bert"


def _hf_model_type(path):
    config = os.path.join(path, "config.json")
    if not os.path.exists(config):
        return None
    with open(config, encoding="utf-8") as f:
        return json.load(f).get("model_type")


def _hf_tokenizer_options(path):
    """The KerasHub tokenizer options a Hugging Face directory's `tokenizer_config.json` implies beyond what KerasHub
    reads: `strip_accents=True` when it strips accents (`strip_accents`, or, when that is null, `do_lower_case`:
    BERT uncased's "Café" is "cafe", not `[UNK]`)."""
    config = os.path.join(path, "tokenizer_config.json") if os.path.isdir(path) else ""
    if not os.path.exists(config):
        return {}
    with open(config, encoding="utf-8") as f:
        settings = json.load(f)
    strip = settings.get("strip_accents")
    return {"strip_accents": True} if (settings.get("do_lower_case", False) if strip is None else strip) else {}


def _vocabulary(vocabulary):
    if isinstance(vocabulary, (list, tuple)):
        return list(vocabulary)
    if vocabulary is None:
        raise ValueError(f"load_backbone({OWN_ENCODER!r}) needs vocabulary= (a vocab.txt, a directory holding one, or a list)")
    path = str(vocabulary)
    if os.path.isdir(path):
        path = os.path.join(path, "vocab.txt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such vocabulary file; pass vocabulary= a vocab.txt")
    return path


def load_backbone(name_or_dir, vocabulary=None, lowercase=True, **kwargs):
    """Returns `(backbone, tokenizer)` for a preset name, a local directory or kerastune's encoder.

    Args:
        name_or_dir: str, a KerasHub preset name or handle, a local preset / Hugging Face
            directory, a kerastune backbone directory (`save_backbone_directory`), a Model Garden
            BERT checkpoint (directory or prefix), or `"kerastune_bert"`.
        vocabulary: for `"kerastune_bert"`: a `vocab.txt`, a directory holding one, or a list of
            WordPieces (a backbone directory or preset brings its own); for a Model Garden
            checkpoint: its `vocab.txt` when it is not beside the checkpoint.
        lowercase: for `"kerastune_bert"` and Model Garden checkpoints: whether the tokenizer lower-cases.
        **kwargs: constructor arguments: for a preset or a backbone directory they override its
            config (e.g. `dropout=0.1`); for `"kerastune_bert"` they are `BertEncoder`'s
            (`num_layers`, `num_heads`, `hidden_dim`, `intermediate_dim`, `max_sequence_length`,
            `dropout`).

    Example:

    >>> backbone, tokenizer = load_backbone("../shared/models/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> backbone.max_sequence_length  # doctest: +SKIP
    512
    """
    name = str(name_or_dir)
    if is_backbone_directory(name):  # saved after `masked_lm` pretraining: loads like a preset
        return load_backbone_directory(name, **kwargs)
    if os.path.exists(name + ".index") or (os.path.isdir(name) and is_model_garden_checkpoint(name)):
        return load_model_garden_checkpoint(name, vocabulary=vocabulary, lowercase=lowercase, **kwargs)
    if name == OWN_ENCODER:
        tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=_vocabulary(vocabulary), lowercase=lowercase)
        kwargs.setdefault("vocabulary_size", tokenizer.vocabulary_size())
        return BertEncoder(**kwargs), tokenizer
    if os.path.isdir(name):
        model_type = _hf_model_type(name)
        if model_type is not None and model_type != "bert":
            raise ValueError(
                f"{name}: config.json has model_type {model_type!r}; load_backbone reads BERT-architecture "
                "models (model_type 'bert') from Hugging Face directories"
            )
        if model_type is None and not os.path.exists(os.path.join(name, "metadata.json")):
            raise FileNotFoundError(
                f"{name}: neither a Hugging Face directory (config.json) nor a KerasHub preset (metadata.json)"
            )
    elif os.path.sep in name and "://" not in name:
        raise FileNotFoundError(f"{name}: no such directory (and not a preset name)")
    try:
        backbone = keras_hub.models.BertBackbone.from_preset(name, **kwargs)
        tokenizer = keras_hub.tokenizers.BertTokenizer.from_preset(name, **_hf_tokenizer_options(name))
    except OSError as error:  # requests' ConnectionError and timeouts are OSErrors
        if os.path.isdir(name):
            raise
        raise ConnectionError(
            f"The backbone {name!r} is a KerasHub preset name: loading it downloads the weights, and the "
            f"download failed ({type(error).__name__}). With no network, pass a local directory instead: a "
            "Hugging Face checkpoint (config.json + weights, e.g. ../shared/models/all-MiniLM-L6-v2), a KerasHub "
            "preset directory or a kerastune backbone directory, or 'kerastune_bert' for an encoder of your own. "
            f"Received: backbone={name!r}"
        ) from None
    return backbone, tokenizer


OWN_ENCODER_FIELDS = ("num_layers", "num_heads", "hidden_dim", "intermediate_dim", "dropout")


def own_encoder_arguments(settings):
    """`load_backbone(OWN_ENCODER, ...)`'s keyword arguments from a recipe's settings (a dict).

    The architecture fields, and `max_sequence_length` when set (plus `prompt_length` positions
    when `peft` is `"prompt"`: a tuned prompt takes positions of its own). Training builds the
    encoder from its config with it, and `load_classifier` rebuilds it from an export's config.json.
    """
    arguments = {key: settings[key] for key in OWN_ENCODER_FIELDS if settings.get(key) is not None}
    if settings.get("max_sequence_length"):
        prompt = settings.get("prompt_length", 0) if settings.get("peft") == "prompt" else 0
        arguments["max_sequence_length"] = settings["max_sequence_length"] + prompt
    return arguments


def max_sequence_length(backbone, default=512):
    """The longest input the backbone takes: its position table's length, less the positions a tuned
    prompt holds (`kerastune.peft.prompt_tuning`)."""
    prompt = getattr(backbone, "soft_prompt", None)
    return int(getattr(backbone, "max_sequence_length", None) or default) - int(getattr(prompt, "prompt_length", 0))


def freeze_token_embedding(backbone):
    """Sets the backbone's word-piece embedding table `trainable=False` (call before `compile`).

    Fine-tuning then neither computes the table's gradient nor keeps Adam moments for it (for
    all-MiniLM-L6-v2: 11.7M of 22.7M weights), and words absent from the training set keep
    embeddings consistent with the ones that were seen. Position, segment and every Transformer
    weight stay trainable.

    Example:

    >>> import keras_hub
    >>> backbone = keras_hub.models.BertBackbone(100, 1, 2, 8, 16, max_sequence_length=16)
    >>> freeze_token_embedding(backbone)
    >>> backbone.token_embedding.trainable
    False
    """
    layer = getattr(backbone, "token_embedding", None)
    if not isinstance(layer, keras.layers.Layer):
        raise ValueError(
            f"{type(backbone).__name__} has no `token_embedding` layer to freeze; "
            "pass freeze_token_embedding=False for this backbone"
        )
    layer.trainable = False
