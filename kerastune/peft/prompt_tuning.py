"""Prompt tuning (Lester et al., 2021): learned input vectors the frozen encoder reads after [CLS].

`enable_prompt_tuning(backbone, prompt_length)` makes a BERT-style backbone (KerasHub `BertBackbone`,
kerastune's `BertEncoder`) read `prompt_length` learned vectors (`SoftPrompt`) at the positions right
after [CLS]: each call widens the inputs by `prompt_length` slots there, the token embedding writes the
prompt into those slots, and the slots' outputs are dropped again, so the backbone still maps
(batch, seq) inputs to a (batch, seq, hidden) `sequence_output`. Text and token classifiers, their
exports and their serving graphs stay as they are; the backbone's usable input length shrinks by
`prompt_length` (`kerastune.models.backbones.max_sequence_length` says so).
"""

import keras
from keras import ops

from kerastune.api import register


@register
class SoftPrompt(keras.layers.Layer):
    """`prompt_length` learned vectors written over token embeddings at positions 1 .. prompt_length.

    Position 0 ([CLS]) and every position after the prompt keep their embeddings. The vectors start
    as the embeddings of `prompt_length` word pieces drawn from the vocabulary (`initial_ids`),
    the initialisation Lester et al. found better than random ones.

    Args:
        prompt_length: int, the number of prompt vectors.
        hidden_dim: int, the embedding width.

    Call arguments:
        embeddings: float (batch, seq, hidden_dim), seq > prompt_length.

    Example:

    >>> prompt = SoftPrompt(prompt_length=2, hidden_dim=4)
    >>> prompt(keras.ops.zeros((3, 5, 4))).shape
    (3, 5, 4)
    """

    def __init__(self, prompt_length, hidden_dim, **kwargs):
        if isinstance(prompt_length, bool) or not isinstance(prompt_length, int) or prompt_length < 1:
            raise ValueError(f"prompt_length must be a positive int. Received: prompt_length={prompt_length!r}")
        super().__init__(**kwargs)
        self.prompt_length = prompt_length
        self.hidden_dim = int(hidden_dim)
        self.prompt = self.add_weight(name="prompt", shape=(prompt_length, self.hidden_dim), dtype="float32",
                                      initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, embeddings):
        prompt = ops.cast(self.prompt, embeddings.dtype)[None]  # (1, prompt_length, hidden)
        prompt = ops.broadcast_to(prompt, (ops.shape(embeddings)[0], self.prompt_length, self.hidden_dim))
        return ops.concatenate([embeddings[:, :1], prompt, embeddings[:, 1 + self.prompt_length:]], axis=1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "prompt_length": self.prompt_length, "hidden_dim": self.hidden_dim}


def insert_prompt_slots(inputs, prompt_length):
    """The backbone's input dict with `prompt_length` slots after position 0 (token 0, segment 0,
    unpadded): (batch, seq) -> (batch, prompt_length + seq)."""
    widened = {}
    for name, values in inputs.items():
        fill = ops.ones_like(values[:, :1]) if name == "padding_mask" else ops.zeros_like(values[:, :1])
        slots = ops.repeat(fill, prompt_length, axis=1)
        widened[name] = ops.concatenate([values[:, :1], slots, values[:, 1:]], axis=1)
    return widened


def enable_prompt_tuning(backbone, prompt_length=20, seed=0):
    """Makes `backbone` read a `SoftPrompt` after [CLS] on every call; returns the `SoftPrompt`.

    The prompt is tracked as `backbone.soft_prompt` (its weight path `soft_prompt/prompt`); freezing
    everything else is `apply_peft`'s part. A task model built around the backbone before or after
    reads the prompt alike (Keras looks `call` up at run time).

    Args:
        backbone: a BERT-style backbone with a `token_embedding` layer, dict inputs and a
            `sequence_output` output (KerasHub `BertBackbone`, kerastune `BertEncoder`).
        prompt_length: int, the number of prompt vectors.
        seed: int, which vocabulary entries initialise them.

    Example:

    >>> import numpy as np, keras_hub
    >>> backbone = keras_hub.models.BertBackbone(100, 1, 2, 8, 16, max_sequence_length=16)
    >>> prompt = enable_prompt_tuning(backbone, prompt_length=4)
    >>> x = {k: np.ones((2, 5), "int32") for k in ("token_ids", "segment_ids", "padding_mask")}
    >>> backbone(x)["sequence_output"].shape
    TensorShape([2, 5, 8])
    """
    embedding = getattr(backbone, "token_embedding", None)
    if embedding is None or not hasattr(backbone, "max_sequence_length"):
        raise ValueError(
            "Prompt tuning writes learned vectors into a BERT-style backbone's token embeddings (a `token_embedding` "
            f"layer and a `max_sequence_length`); {type(backbone).__name__} lacks them. Use peft='lora' or "
            f"'adapter' for this backbone. Received: {backbone.name!r}"
        )
    if int(backbone.max_sequence_length) <= prompt_length + 2:
        raise ValueError(f"The prompt takes {prompt_length} of the backbone's {backbone.max_sequence_length} "
                         f"positions and leaves no room for text: use a shorter prompt. "
                         f"Received: prompt_length={prompt_length}")
    table = keras.ops.convert_to_numpy(embedding.embeddings)
    prompt = SoftPrompt(prompt_length, table.shape[-1], name="soft_prompt")
    ids = keras.random.randint((prompt_length,), 0, table.shape[0], seed=seed)
    prompt.prompt.assign(table[keras.ops.convert_to_numpy(ids)])

    embed = embedding.call

    def embed_with_prompt(inputs, *args, **kwargs):
        outputs = embed(inputs, *args, **kwargs)
        return outputs if kwargs.get("reverse") else prompt(outputs)  # a tied MLM head's reverse call: no prompt

    encode = backbone.call

    def encode_with_prompt(inputs, *args, **kwargs):
        outputs = dict(encode(insert_prompt_slots(inputs, prompt_length), *args, **kwargs))
        sequence = outputs["sequence_output"]  # (batch, 1 + prompt_length + seq - 1, hidden): the slots dropped
        outputs["sequence_output"] = ops.concatenate([sequence[:, :1], sequence[:, 1 + prompt_length:]], axis=1)
        return outputs

    # Keras calls `self.call` at run time (the backbone's and the embedding's), so these instance attributes
    # take effect inside any task model already built around the backbone, eager or traced.
    object.__setattr__(embedding, "call", embed_with_prompt)
    object.__setattr__(backbone, "call", encode_with_prompt)
    backbone.soft_prompt = prompt
    return prompt
