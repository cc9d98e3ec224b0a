"""The base of task models built over a BERT-style backbone (classifier and tagger heads)."""

import keras


class BackboneTask(keras.Model):
    """A functional task model whose config holds its serialized `backbone` (KerasHub
    `BertBackbone` or kerastune's `BertEncoder`); `from_config` rebuilds the backbone first.
    Subclasses put `"backbone": keras.saving.serialize_keras_object(self.backbone)` in `get_config`."""

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
