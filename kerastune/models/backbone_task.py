"""The base of task models built over a backbone (text classifier and tagger heads, the image classifier)."""

import keras

from kerastune.training.train_step_override import train_step_of


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
    `BertBackbone`, kerastune's `BertEncoder` or `VisionTransformer`); `from_config` rebuilds the backbone first.
    Subclasses' `get_config` returns `self.task_config(**head_arguments)`.
    Its `train_step` is Keras's, or FGM / PGD (`enable_adversarial_training`), R-Drop (`enable_r_drop`)
    or knowledge distillation (`enable_distillation`)."""

    def train_step(self, data):
        # adversarial training (FGM / PGD), R-Drop or distillation when one was enabled; otherwise Keras's own
        step = train_step_of(self)
        if step is None:
            return super().train_step(data)
        return step.train_step(self, data)

    def task_config(self, **head):
        """The config of a task: its serialized `backbone`, the head's own arguments `head`, `name` and
        `trainable` (what `from_config` rebuilds it from). Subclasses' `get_config` returns this."""
        return {"backbone": keras.saving.serialize_keras_object(self.backbone), **head, "name": self.name,
                "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
