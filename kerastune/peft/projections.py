"""Finding the projections (Dense / EinsumDense layers) a parameter-efficient method adapts, and
swapping a wrapper in for one of them.

The projections are found by their path (the path of their kernel without `/kernel`, e.g.
`transformer_layer_0/self_attention_layer/query` in KerasHub's `BertBackbone`,
`transformer_layer_0/self_attention/query` in kerastune's `BertEncoder`,
`decoder_block_0/self_attention/value` in kerastune's `GPT`) and replaced in the layer that holds
them as an attribute: the layer looks its sublayers up when it is called, so the wrapper runs in
its place. Projections that are nodes of a functional graph (a task head) are never replaced.
"""

import re

import keras

PROJECTION_TYPES = (keras.layers.Dense, keras.layers.EinsumDense)
_RANK_LETTERS = "rstuvwxyzpqmn"


def target_pattern(targets):
    """A compiled regex from `targets`: comma-separated patterns, each matching a whole trailing
    part of a projection path (`"query,value"` matches `.../query` and `.../value`; a full regex
    such as `"transformer_layer_[45]/.*dense"` works too).

    Example:

    >>> bool(target_pattern("query,value").search("transformer_layer_0/self_attention/query"))
    True
    """
    parts = [p.strip() for p in str(targets).split(",") if p.strip()]
    if not parts:
        raise ValueError(f"targets must name at least one projection pattern. Received: targets={targets!r}")
    return re.compile("(?:^|/)(?:" + "|".join(f"(?:{p})" for p in parts) + ")$")


def projection_path(layer):
    """The path of a built projection: its kernel's path without `/kernel`."""
    for weight in layer.weights:
        if weight.path.endswith("/kernel") or weight.path == "kernel":
            return weight.path[: -len("kernel")].rstrip("/")
    raise ValueError(f"The projection {layer.name!r} is not built (it has no kernel yet); call the model once first.")


def find_projections(model, targets):
    """`[(parent, attribute, projection, path)]` for every projection whose path matches `targets`.

    Args:
        model: a built Keras model (a task model or a backbone).
        targets: str, see `target_pattern`.
    """
    pattern = target_pattern(targets)
    found, seen = [], set()
    for parent, attribute, value in held_sublayers(model, PROJECTION_TYPES):
        if isinstance(parent, keras.Model) and getattr(parent, "_is_graph_network", False):
            continue  # a functional graph calls its nodes by reference, not by attribute
        if id(value) not in seen and value.built:
            path = projection_path(value)
            if pattern.search(path):
                found.append((parent, attribute, value, path))
                seen.add(id(value))
    if not found:
        raise ValueError(
            f"No projection of {model.name!r} matches targets={targets!r}. Its projections are: "
            + ", ".join(sorted(projection_paths(model)))
        )
    return found


def held_sublayers(model, types):
    """`[(parent, attribute, layer)]` for every layer of `types` that a layer inside `model` (or
    `model` itself) holds as an attribute: the places a wrapper can be put in."""
    return [(parent, attribute, value) for parent in model._flatten_layers(include_self=True, recursive=True)
            for attribute, value in sorted(vars(parent).items()) if isinstance(value, types)]


def projection_equation(layer):
    """The einsum equation a Dense (`"...a,ab->...b"`) or EinsumDense projection computes."""
    return "...a,ab->...b" if isinstance(layer, keras.layers.Dense) else layer.equation


def project(equation, inputs, kernel):
    """`einsum(equation, inputs, kernel)`, as a matmul when the equation is one, like a Dense layer's
    `"...a,ab->...b"`: TensorFlow's XLA runs that einsum as a batched matmul against the kernel
    broadcast to every example, which made a MiniLM encoder's LoRA training step 4.7x slower
    (`benchmarks/peft_step_time.py`).

    Example:

    >>> x, kernel = keras.random.normal((2, 3, 4)), keras.random.normal((4, 5))
    >>> tuple(project("...a,ab->...b", x, kernel).shape)
    (2, 3, 5)
    """
    x, rest = equation.replace(" ", "").split(",")
    kernel_axes, output = rest.split("->")
    if len(kernel_axes) == 2 and x == f"...{kernel_axes[0]}" and output == f"...{kernel_axes[1]}":
        return keras.ops.matmul(inputs, kernel)
    return keras.ops.einsum(equation, inputs, kernel)


def projection_paths(model):
    """The paths of every built Dense / EinsumDense layer inside `model` (to choose targets from)."""
    return [projection_path(layer) for layer in model._flatten_layers() if isinstance(layer, PROJECTION_TYPES)
            and layer.built]


def replace_sublayer(parent, attribute, new):
    """Puts `new` in `parent.attribute`, in the place the layer it replaces had among `parent`'s
    sublayers, and stops `parent` tracking that layer (which `new` may hold itself), so weights and
    saving see the new structure only. Keeping the place keeps the order of `model.variables`: a
    merged export lists its weights as a freshly built model does (`load_classifier` relies on it)."""
    old = getattr(parent, attribute)
    tracker = parent._tracker  # Keras locks a built layer's state; this swap keeps its weights' count honest
    stores = [store for _, store in tracker.config.values()]
    places = [next((i for i, item in enumerate(store) if item is old), None) for store in stores]
    locked = tracker.locked
    tracker.unlock()
    try:
        tracker.untrack(old)
        setattr(parent, attribute, new)
        for store, place in zip(stores, places):  # tracking appended `new`: move it to `old`'s place
            if place is not None and store and store[-1] is new:
                store.insert(place, store.pop())
    finally:
        if locked:
            tracker.lock()


def einsum_parts(layer):
    """`(equation, input_letters, output_letters)` of a projection's kernel.

    A Dense layer is `"...a,ab->...b"`. The kernel's axes must list the contracted (input) axes
    first and the produced (output) axes last, as every Keras and KerasHub projection does.
    """
    equation = projection_equation(layer)
    inputs, output = equation.replace(" ", "").split("->")
    x, kernel = inputs.split(",")
    contracted = "".join(c for c in kernel if c in x)
    produced = "".join(c for c in kernel if c not in x)
    if kernel != contracted + produced or not all(c in output for c in produced):
        raise ValueError(
            f"The projection {layer.name!r} has a kernel whose input axes do not come first; "
            f"parameter-efficient methods need kernels laid out as (inputs..., outputs...). Received: equation={equation!r}"
        )
    return equation, contracted, produced


def low_rank_equations(layer):
    """The einsum equations of a rank-r update of a projection's kernel: `(down, up, merge)`.

    `down` maps the input to (..., r) with A (inputs..., r), `up` maps that to the projection's
    output with B (r, outputs...), `merge` is `A, B -> kernel` (the update as a kernel).

    Example:

    >>> layer = keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 4))
    >>> layer.build((None, None, 8))
    >>> low_rank_equations(layer)
    ('abc,cr->abr', 'abr,rde->abde', 'cr,rde->cde')
    """
    equation, contracted, produced = einsum_parts(layer)
    inputs, output = equation.split("->")
    x = inputs.split(",")[0]
    rank = next(c for c in _RANK_LETTERS if c not in equation)
    kept = x.replace("...", "\0")
    kept = "".join(c for c in kept if c not in contracted).replace("\0", "...")
    return (
        f"{x},{contracted}{rank}->{kept}{rank}",
        f"{kept}{rank},{rank}{produced}->{output}",
        f"{contracted}{rank},{rank}{produced}->{contracted}{produced}",
    )


def bias_and_activation(layer, outputs):
    """Adds the projection's bias (if any) and applies its activation, as its own `call` does."""
    bias = getattr(layer, "bias", None)
    if bias is not None:
        outputs = keras.ops.add(outputs, bias)
    activation = getattr(layer, "activation", None)
    return activation(outputs) if activation is not None else outputs


def variable_dtype_policy(layer):
    """The dtype policy of weights added beside `layer`: its own, but with float32 variables (a
    pure `"bfloat16"` / `"float16"` policy becomes `"mixed_bfloat16"` / `"mixed_float16"`: adapter
    weights in 16 bits stop learning under Adam, keras-hub issue 2629)."""
    policy = layer.dtype_policy
    if policy.variable_dtype == "float32":
        return policy
    return keras.dtype_policies.DTypePolicy(f"mixed_{policy.compute_dtype}")
