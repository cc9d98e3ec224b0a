"""The base of task models built over a BERT-style backbone (classifier and tagger heads)."""

import keras


def freeze_unused_pooler(backbone):
    """Sets the backbone's tanh pooler (`pooled_dense`, if any) `trainable=False`.

    A head that reads `sequence_output` gives the pooler no gradient: frozen, the optimizer neither
    tracks it nor warns "Gradients do not exist for variables ['pooled_dense/kernel', ...]".
    """
    pooler = getattr(backbone, "pooled_dense", None)
    if pooler is not None:
        pooler.trainable = False


class BackboneTask(keras.Model):
    """A functional task model whose config holds its serialized `backbone` (KerasHub
    `BertBackbone` or kerastune's `BertEncoder`); `from_config` rebuilds the backbone first.
    Subclasses put `"backbone": keras.saving.serialize_keras_object(self.backbone)` in `get_config`."""

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
