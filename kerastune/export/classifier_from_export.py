"""A classifier export back into its Keras model: to re-export it, compress it or distil from it.

The export keeps the weights (its SavedModel variables, in the model's order) and the run's
resolved config (`config.json`: the backbone, pooling and dropout); the architecture is rebuilt
from that config and every weight copied in, checked by name and shape. LoRA / DoRA fine-tunes are
exported merged, so they come back as plain classifiers. A text classifier export
(`label_names.json`) comes back as a `TextClassifier`, a token classifier export
(`tag_names.json`) as a `TokenClassifier`.
"""

import json
import os

from kerastune.saved_model_predict import find_saved_model


def _read_json(directory, name):
    with open(os.path.join(directory, name), encoding="utf-8") as f:
        return json.load(f)


def load_classifier(path):
    """Rebuilds the Keras model of a kerastune text or token classifier export.

    Args:
        path: str, an export (its version directory, or the model directory for its latest
            version) written with `config=` (as `run.export()` does).

    Returns:
        `(model, tokenizer, names, config)`: the `TextClassifier` (or `TokenClassifier`) with the
        exported weights, the backbone's tokenizer, the label (or tag) names and the config dict.

    Example:

    >>> model, tokenizer, names, config = load_classifier("/tmp/deploy/sst2/sst2/1")  # doctest: +SKIP
    """
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the tokenizer ops of the serving graph)

    from kerastune.models.backbones import OWN_ENCODER, load_backbone, own_encoder_arguments
    from kerastune.models.text_classifier import TextClassifier
    from kerastune.models.token_classifier import TokenClassifier
    from kerastune.recipes.training_setup import fine_tuning_dropout

    directory = find_saved_model(path)
    if not os.path.exists(os.path.join(directory, "config.json")):
        raise ValueError("This export has no config.json, so its architecture is unknown: export it with "
                         f"run.export() or export_*_classifier(config=...). Received: path={directory!r}")
    config = _read_json(directory, "config.json")
    # the rate training used: with it the model has the same random-seed weights a dropout layer adds
    dropout = fine_tuning_dropout(config.get("dropout"), config.get("peft"))
    if config["backbone"] == OWN_ENCODER:
        arguments = own_encoder_arguments({**config, "dropout": dropout})
    else:
        arguments = {"dropout": dropout}
    backbone, tokenizer = load_backbone(config["backbone"], vocabulary=config.get("vocabulary"), **arguments)
    if os.path.exists(os.path.join(directory, "tag_names.json")):
        names = _read_json(directory, "tag_names.json")
        model = TokenClassifier(backbone, len(names), dropout=dropout)
    else:
        names = _read_json(directory, "label_names.json")
        model = TextClassifier(backbone, len(names), pooling=config.get("pooling", "mean"), dropout=dropout)
    saved = tf.saved_model.load(directory).variables
    if len(saved) != len(model.variables):
        peft = (f" (peft={config['peft']!r} keeps weights of its own, which a plain classifier does not rebuild; "
                "LoRA and DoRA exports are merged and load)") if config.get("peft") else ""
        raise ValueError(f"The export holds {len(saved)} weights and the rebuilt model {len(model.variables)}: "
                         f"the config does not describe this export{peft}. Received: path={directory!r}")
    for variable, value in zip(model.variables, saved):
        saved_name = value.name.split(":")[0].split("/")[-1]  # "logits/kernel:0" -> "kernel"
        if tuple(variable.shape) != tuple(value.shape) or saved_name != variable.name:
            raise ValueError(f"Weight {variable.path} {tuple(variable.shape)} does not match the export's "
                             f"{value.name} {tuple(value.shape)}. Received: path={directory!r}")
        variable.assign(value)
    return model, tokenizer, names, config
