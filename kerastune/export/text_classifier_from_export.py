"""A text classifier export back into a Keras `TextClassifier`: to re-export it, compress it or distil from it.

The export keeps the weights (its SavedModel variables, in the model's order) and the run's
resolved config (`config.json`: the backbone, pooling and dropout); the architecture is rebuilt
from that config and every weight copied in, checked by name and shape.
"""

import json
import os

from kerastune.saved_model_predict import find_saved_model


def load_text_classifier(path):
    """Rebuilds the Keras model of a kerastune text classifier export.

    Args:
        path: str, an export (its version directory, or the model directory for its latest
            version) written by `export_text_classifier` with `config=` (as `run.export()` does).

    Returns:
        `(model, tokenizer, label_names, config)`: the `TextClassifier` with the exported weights,
        the backbone's tokenizer, the label names and the config dict.

    Example:

    >>> model, tokenizer, names, config = load_text_classifier("/tmp/deploy/sst2/sst2/1")  # doctest: +SKIP
    """
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the tokenizer ops of the serving graph)

    from kerastune.models.backbones import load_backbone
    from kerastune.models.text_classifier import TextClassifier

    directory = find_saved_model(path)
    config_path = os.path.join(directory, "config.json")
    if not os.path.exists(config_path):
        raise ValueError("This export has no config.json, so its architecture is unknown: export it with "
                         f"run.export() or export_text_classifier(config=...). Received: path={directory!r}")
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    with open(os.path.join(directory, "label_names.json"), encoding="utf-8") as f:
        label_names = json.load(f)
    arguments = {"dropout": config["dropout"]} if config.get("dropout") is not None else {}
    backbone, tokenizer = load_backbone(config["backbone"], vocabulary=config.get("vocabulary"), **arguments)
    model = TextClassifier(backbone, len(label_names), pooling=config.get("pooling", "mean"),
                           dropout=config.get("dropout") or 0.0)
    saved = tf.saved_model.load(directory).variables
    if len(saved) != len(model.variables):
        raise ValueError(f"The export holds {len(saved)} weights and the rebuilt model {len(model.variables)}: "
                         f"the config does not describe this export. Received: path={directory!r}")
    for variable, value in zip(model.variables, saved):
        saved_name = value.name.split(":")[0].split("/")[-1]  # "logits/kernel:0" -> "kernel"
        if tuple(variable.shape) != tuple(value.shape) or saved_name != variable.name:
            raise ValueError(f"Weight {variable.path} {tuple(variable.shape)} does not match the export's "
                             f"{value.name} {tuple(value.shape)}. Received: path={directory!r}")
        variable.assign(value)
    return model, tokenizer, label_names, config
