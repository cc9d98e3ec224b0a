"""A reusable backbone directory: kerastune's own pretrained encoder, its config and vocabulary.

Layout of `path/`:
    kerastune_backbone.json   {"class_name": "BertEncoder", "config": get_config(), "tokenizer": {...}}
    model.weights.h5          the encoder's weights
    vocab.txt                 the WordPiece vocabulary, one token a line (BERT's format)
    masked_lm_head.npz        (optional) the pretraining MLM head's own weights (the output matrix is
                              the tied token embedding), keyed by variable path

Every fine-tuning recipe accepts such a directory wherever it accepts a KerasHub preset
(`kerastune.models.load_backbone` reads it), and gets back `(encoder, tokenizer)` with the same
interface.
"""

import json
import os

import keras_hub
import numpy as np

from kerastune.models.bert_encoder import BertEncoder

MANIFEST = "kerastune_backbone.json"
WEIGHTS = "model.weights.h5"
VOCABULARY = "vocab.txt"
MASKED_LM_HEAD = "masked_lm_head.npz"


def is_backbone_directory(path):
    """Whether `path` is a directory written by `save_backbone_directory`."""
    return os.path.isfile(os.path.join(str(path), MANIFEST))


def save_backbone_directory(encoder, tokenizer, path, masked_lm_head=None):
    """Writes `encoder` (a `BertEncoder`), its WordPiece `tokenizer` and optionally the MLM head to `path`.

    Returns `path`. Files are written to a temporary sibling and renamed into place, so a reader
    never sees a half-written directory; an existing directory is an error (never overwritten).
    """
    if not isinstance(encoder, BertEncoder):
        raise ValueError(f"encoder must be a kerastune BertEncoder; received {type(encoder).__name__}")
    path = str(path)
    if os.path.exists(path):
        raise FileExistsError(f"{path} already exists; backbone directories are never overwritten, pick a new path")
    tmp = path.rstrip(os.sep) + ".tmp"
    os.makedirs(tmp, exist_ok=True)
    vocabulary = tokenizer.get_vocabulary()
    with open(os.path.join(tmp, VOCABULARY), "w", encoding="utf-8") as f:
        f.write("\n".join(vocabulary) + "\n")
    manifest = {
        "class_name": "BertEncoder",
        "config": encoder.get_config(),
        "tokenizer": {
            "lowercase": bool(getattr(tokenizer, "lowercase", True)),
            "strip_accents": bool(getattr(tokenizer, "strip_accents", False)),
            "vocabulary_size": len(vocabulary),
        },
    }
    with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    encoder.save_weights(os.path.join(tmp, WEIGHTS))
    if masked_lm_head is not None:
        np.savez(os.path.join(tmp, MASKED_LM_HEAD), **{v.path: np.asarray(v) for v in _own_weights(masked_lm_head)})
    os.rename(tmp, path)
    return path


def load_backbone_directory(path, **overrides):
    """Returns `(encoder, tokenizer)` from a directory written by `save_backbone_directory`.

    Args:
        path: str.
        **overrides: `BertEncoder` config values to change (e.g. `dropout=0.1`).
    """
    path = str(path)
    if not is_backbone_directory(path):
        raise FileNotFoundError(f"{path}: no {MANIFEST}; not a directory written by save_backbone_directory")
    with open(os.path.join(path, MANIFEST), encoding="utf-8") as f:
        manifest = json.load(f)
    config = {**manifest["config"], **overrides}
    encoder = BertEncoder.from_config(config)
    encoder.load_weights(os.path.join(path, WEIGHTS))
    options = manifest.get("tokenizer", {})
    tokenizer = keras_hub.tokenizers.BertTokenizer(
        vocabulary=os.path.join(path, VOCABULARY),
        lowercase=options.get("lowercase", True),
        strip_accents=options.get("strip_accents", False),
    )
    return encoder, tokenizer


def load_masked_lm_head(path, masked_lm_head):
    """Restores the MLM head's own weights saved in backbone directory `path` into `masked_lm_head`.

    `masked_lm_head` is the (built) `TiedMaskedLMHead` of a `BertPretrainer` over the encoder loaded
    from `path`; its output matrix is the tied token embedding, restored with the encoder. Returns
    False, changing nothing, when the directory holds no MLM head (e.g. one saved without it).
    """
    file = os.path.join(str(path), MASKED_LM_HEAD)
    if not os.path.isfile(file):
        return False
    saved = np.load(file)
    own = _own_weights(masked_lm_head)
    expected = {v.path: tuple(v.shape) for v in own}
    found = {k: tuple(saved[k].shape) for k in saved.files}
    if expected != found:
        raise ValueError(f"{file} holds MLM head weights {found} but the head expects {expected}; "
                         "build the pretrainer over the encoder loaded from the same directory")
    for v in own:
        v.assign(saved[v.path])
    return True


def _own_weights(masked_lm_head):
    """The MLM head's weights except the tied token embedding (which is saved with the encoder)."""
    tied = masked_lm_head.token_embedding.embeddings
    return [v for v in masked_lm_head.weights if v is not tied]
