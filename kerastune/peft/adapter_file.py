"""Adapter-only files: what parameter-efficient fine-tuning trained, without the base it adapts.

`save_adapter(model, path)` writes a safetensors file with every trainable weight of the model (the
method's weights, the task head, and the layer norms adapters train), keyed by weight path, plus
the method's settings and two fingerprints of the base: its architecture (every weight's path and
shape) and its frozen weights' values (SHA-256). `load_adapter(model, path)` applies the same method
to a fresh model of the same base (unless already applied) and loads the file, refusing a different
architecture or different base weights with a message saying which.
"""

import hashlib
import json
import os

import keras
import numpy as np
from safetensors.numpy import load_file, save_file
from safetensors import safe_open

from kerastune.export.versioned_directory import atomic_file
from kerastune.peft.parameter_efficient import apply_peft, peft_settings, peft_weights

FORMAT = "kerastune-adapter/1"


def architecture_fingerprint(model):
    """SHA-256 of every weight's path and shape (the head's too): equal for models built alike."""
    layout = sorted((v.path, tuple(int(d) for d in v.shape)) for v in model.weights)
    return hashlib.sha256(json.dumps(layout).encode()).hexdigest()


def base_weights_fingerprint(model):
    """SHA-256 of the values of the model's frozen weights (the base a method adapts), by path."""
    added = {id(v) for v in peft_weights(model)}  # e.g. a prefix an MLP computes: the method's, not the base's
    digest = hashlib.sha256()
    for variable in sorted((v for v in model.weights if not v.trainable and id(v) not in added), key=lambda v: v.path):
        digest.update(variable.path.encode())
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(variable)).tobytes())
    return digest.hexdigest()


def _trained_weights(model):
    weights = {}
    for variable in model.trainable_weights:
        if variable.path in weights:
            raise ValueError(f"Two trainable weights share the path {variable.path!r}; name the layers apart.")
        weights[variable.path] = variable
    return weights


def save_adapter(model, path):
    """Writes `model`'s trained weights and the base's fingerprints to `path` (safetensors); returns its size in bytes.

    The file is written beside `path` and renamed into place: a crash never leaves half a file.
    """
    settings = peft_settings(model)
    if settings is None:
        raise ValueError(f"{model.name!r} has no parameter-efficient method applied (apply_peft); save the whole "
                         "model with model.save() instead.")
    tensors = {key: np.ascontiguousarray(keras.ops.convert_to_numpy(v)) for key, v in _trained_weights(model).items()}
    metadata = {
        "format": FORMAT,
        "settings": json.dumps(settings, sort_keys=True),
        "architecture": architecture_fingerprint(model),
        "base_weights": base_weights_fingerprint(model),
    }
    with atomic_file(path) as temporary:
        save_file(tensors, temporary, metadata=metadata)
    return os.path.getsize(path)


def read_adapter_settings(path):
    """The method settings a saved adapter file holds (a dict)."""
    with safe_open(path, framework="numpy") as f:
        metadata = f.metadata() or {}
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a kerastune adapter file (its format is {metadata.get('format')!r}, "
                         f"expected {FORMAT!r}); save one with kerastune.peft.save_adapter.")
    return json.loads(metadata["settings"]), metadata


def load_adapter(model, path):
    """Loads an adapter file saved by `save_adapter` into `model` (a fresh model of the same base).

    Applies the file's method first when `model` has none. Raises `ValueError` when the method,
    the architecture or the base weights differ from those the file was trained on.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No adapter file at {path!r}; save one with kerastune.peft.save_adapter.")
    settings, metadata = read_adapter_settings(path)
    applied = peft_settings(model)
    if applied is None:
        options = {k: v for k, v in settings.items() if k != "method"}
        apply_peft(model, settings["method"], **options)
    elif applied != settings:
        raise ValueError(f"{model.name!r} is adapted with {applied}, the adapter file {path} with {settings}; "
                         "load it into a fresh model (load_adapter applies the file's method).")
    if architecture_fingerprint(model) != metadata["architecture"]:
        raise ValueError(
            f"The adapter file {path} was trained on a different architecture than {model.name!r} (weight paths or "
            "shapes differ: another backbone size, number of layers or of classes); load it onto the base it was "
            "saved from."
        )
    if base_weights_fingerprint(model) != metadata["base_weights"]:
        raise ValueError(
            f"The adapter file {path} was trained on different base weights than {model.name!r} holds (same "
            "architecture, other values: another checkpoint, or a base changed since); load it onto the base it "
            "was saved from."
        )
    tensors = load_file(path)
    weights = _trained_weights(model)
    if set(tensors) != set(weights):
        missing, extra = sorted(set(weights) - set(tensors)), sorted(set(tensors) - set(weights))
        raise ValueError(f"The adapter file {path} does not match {model.name!r}: missing {missing}, extra {extra}.")
    for key, variable in weights.items():
        variable.assign(tensors[key])
    return settings
