"""Keras's own LoRA (`Dense` / `EinsumDense.enable_lora`, what KerasHub's `backbone.enable_lora` turns on).

Keras saves such a layer's kernel with the update merged in and no factors, and loading zeroes the
factors; its `kernel` property merges in the compute dtype. A backup that must resume training, and an
export or preset that must hold the exact float32 merge, need the base kernel and the factors apart:
the helpers here give them, in one place for `kerastune.training.training_backup` and
`kerastune.peft.merged_for_export`.
"""

import contextlib

import keras


def keras_lora_layers(model):
    """The layers of `model` with Keras's LoRA enabled, checked: `Dense` and `EinsumDense`, not quantized.

    Raises:
        ValueError: LoRA on another layer (an `Embedding`'s), or over a quantized kernel, which kerastune
            cannot back up or merge exactly; the message says what to do instead.

    Example:

    >>> layer = keras.layers.Dense(4)
    >>> layer.build((None, 8))
    >>> layer.enable_lora(2)
    >>> keras_lora_layers(keras.Sequential([keras.Input((8,)), layer]))[0] is layer
    True
    """
    layers = [layer for layer in model._flatten_layers(include_self=False) if getattr(layer, "lora_enabled", False)]
    for layer in layers:
        if not isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense)):
            raise ValueError(f"{layer.path} ({type(layer).__name__}) has LoRA enabled, and kerastune backs up and "
                             "merges LoRA on Dense and EinsumDense layers only: enable it on the attention and "
                             "feed-forward projections")
        if getattr(layer, "quantization_mode", None):
            raise ValueError(f"{layer.path} has LoRA over a {layer.quantization_mode}-quantized kernel, which "
                             "kerastune cannot back up or merge exactly: fine-tune the float model, then quantize it")
    return layers


def keras_lora_factors(layers):
    """The `(A, B)` factor variables of `layers`, in order."""
    return [factor for layer in layers for factor in (layer.lora_kernel_a, layer.lora_kernel_b)]


def merged_kernel(layer):
    """`layer`'s base kernel plus its scaled LoRA update (`alpha / rank * A @ B`), summed in float32 and cast to
    the kernel's own dtype (Keras's `kernel` property sums in the compute dtype: bfloat16 under mixed precision)."""
    update = keras.ops.matmul(keras.ops.cast(layer.lora_kernel_a, "float32"),
                              keras.ops.cast(layer.lora_kernel_b, "float32"))
    merged = keras.ops.cast(layer._kernel, "float32") + (layer.lora_alpha / layer.lora_rank) * update
    return keras.ops.cast(merged, layer._kernel.dtype)


@contextlib.contextmanager
def keras_lora_merged(layers):
    """Within the block each layer's kernel holds its update (`merged_kernel`) and LoRA is off: one matmul per
    projection, what an export should trace and a saved preset should hold. Afterwards the base kernels are
    restored exactly and LoRA is on again."""
    saved = []
    try:
        for layer in layers:
            saved.append(keras.ops.convert_to_numpy(layer._kernel))
            layer._kernel.assign(merged_kernel(layer))
        with keras_lora_off(layers):
            yield layers
    finally:
        for layer, values in zip(layers, saved):
            layer._kernel.assign(values)


@contextlib.contextmanager
def keras_lora_off(layers):
    """Within the block `layers` compute and save their base kernel alone (Keras saves it without the update
    merged in, and without the factors); LoRA is on again afterwards. Loading such weights into layers with
    LoRA on puts the base kernel in place and zeroes the factors: assign them after."""
    for layer in layers:
        layer.lora_enabled = False
    try:
        yield layers
    finally:
        for layer in layers:
            layer.lora_enabled = True
