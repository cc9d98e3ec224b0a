"""The base of the layers that run in a frozen projection's place (LoRA / DoRA, adapters)."""

import keras

from kerastune.peft.projections import variable_dtype_policy


class ProjectionWrapper(keras.layers.Layer):
    """Holds a built Dense / EinsumDense `layer` and creates its own weights at once, beside it.

    Subclasses create their weights in `build` and compute in `call`; the output shape and the
    (de)serialization of the wrapped layer are here. The default dtype policy is the layer's with
    float32 variables (`variable_dtype_policy`).

    Args:
        layer: a `keras.layers.Dense` or `keras.layers.EinsumDense`.
        suffix: str, the default name is `<layer.name>_<suffix>`.
    """

    def __init__(self, layer, suffix, **kwargs):
        kwargs.setdefault("name", f"{layer.name}_{suffix}")
        kwargs.setdefault("dtype", variable_dtype_policy(layer))
        super().__init__(**kwargs)
        self.layer = layer

    def _build_now(self):
        if self.layer.built:  # wrapping a model's built projection: its weights exist at once
            self.build(None)

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build(input_shape)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "layer": keras.saving.serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return cls(**config)
