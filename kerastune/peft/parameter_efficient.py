"""Parameter-efficient fine-tuning of any backbone kerastune loads: `apply_peft(model, method)`.

Methods: `"lora"` (`LowRankProjection` on the projections `targets` names, by default all six of every
Transformer layer: query, key, value, attention output and both feed-forward ones), `"dora"` (the same
with a learned magnitude, by default on the attention query and value), `"adapter"`
(`BottleneckAdapter` after each attention output and feed-forward output projection, layer norms
trained too, as Houlsby et al.), `"prefix"` (learned key / value vectors in front of each attention
layer's, `PrefixProjection`), `"prompt"` (learned input vectors after [CLS], `SoftPrompt`: prompt
tuning). Everything else in the base (the backbone of a task model, or the whole model when it has no
`backbone`) is frozen, but for the layer norms when `train_norms` says so (adapters' default); the
task head, outside the base, trains as in full fine-tuning.
`merged_for_export(model)` folds the low-rank updates into the base kernels and prefix MLPs into
their prefixes; `trainable_summary` counts what trains.
"""

import contextlib
import json

import keras

from kerastune.peft.bottleneck_adapter import BottleneckAdapter
from kerastune.peft.keras_lora import keras_lora_layers, keras_lora_merged
from kerastune.peft.low_rank_projection import LowRankProjection
from kerastune.peft.prefix_tuning import PrefixProjection, pad_attention_mask
from kerastune.peft.projection_wrapper import ProjectionWrapper
from kerastune.peft.projections import find_projections, held_sublayers, replace_sublayer
from kerastune.peft.prompt_tuning import SoftPrompt, enable_prompt_tuning

METHODS = ("lora", "dora", "adapter", "prefix", "prompt")
# Projection names: KerasHub's BertBackbone (`feedforward_*_dense`) and kerastune's blocks (`feed_forward_*`).
# LoRA on all six projections of each layer beat query/value alone on SST-2 with all-MiniLM-L6-v2 (rank 8,
# 1.44% of the weights trained; benchmarks/README.md, `benchmarks/peft.py`); DoRA was measured on query/value only.
DEFAULT_TARGETS = {
    "lora": ("query,key,value,attention_output,feedforward_intermediate_dense,feedforward_output_dense,"
             "feed_forward_intermediate,feed_forward_output"),
    "dora": "query,value",
    "adapter": "attention_output,feedforward_output_dense,feed_forward_output",
    "prefix": "key,value",
    "prompt": "",  # no projection: the prompt goes into the token embeddings
}
_SETTINGS_ATTRIBUTE = "_kerastune_peft_settings"


def peft_base(model):
    """The part of `model` a method adapts and freezes: `model.backbone` for a task model, else `model`."""
    return getattr(model, "backbone", None) or model


def peft_settings(model):
    """The settings `apply_peft` used on `model` (a dict), or None."""
    settings = getattr(peft_base(model), _SETTINGS_ATTRIBUTE, None)
    return json.loads(settings) if settings else None


def _is_layer_norm_weight(variable):
    return "layer_norm" in variable.path or "_norm/" in variable.path


def apply_peft(model, method, rank=8, alpha=16.0, dropout=0.0, targets=None, adapter_size=64, prefix_length=16,
               reparameterize=True, prompt_length=20, train_norms=None):
    """Adapts `model` in place for parameter-efficient fine-tuning; returns the settings used.

    Call it on a built model before `compile`. The base weights are frozen (`trainable = False` per
    variable), so the optimizer neither updates them nor keeps moments for them.

    Args:
        model: a task model over a backbone (`TextClassifier`, `TokenClassifier`), a backbone, or
            kerastune's `GPT`.
        method: one of `METHODS`: `"lora"`, `"dora"`, `"adapter"`, `"prefix"` or `"prompt"`.
        rank, alpha, dropout: LoRA / DoRA rank, scale numerator (`alpha / rank`) and input dropout.
        targets: str or None, comma-separated patterns of the projection paths to adapt
            (`kerastune.peft.projections.target_pattern`); None: `DEFAULT_TARGETS[method]`.
        adapter_size: int, the bottleneck width of `"adapter"`.
        prefix_length, reparameterize: `"prefix"`'s number of key / value vectors per layer, and
            whether they train through an MLP (`PrefixProjection`; KerasHub backbones and kerastune's own
            encoder and GPT).
        prompt_length: int, `"prompt"`'s number of learned input vectors (`enable_prompt_tuning`: a
            BERT-style backbone, or a task model over one).
        train_norms: bool or None, whether the base's layer norms train too (a few thousand weights;
            saved in the adapter file with the method's). None: True for `"adapter"` (Houlsby et al.),
            False for the other methods.

    Example:

    >>> import keras_hub
    >>> from kerastune.models.text_classifier import TextClassifier
    >>> model = TextClassifier(keras_hub.models.BertBackbone(100, 2, 2, 8, 16, max_sequence_length=16), 2)
    >>> settings = apply_peft(model, "lora", rank=2)
    >>> [w.path for w in model.trainable_weights][:2]
    ['transformer_layer_0/self_attention_layer/key_lora/lora_a', 'transformer_layer_0/self_attention_layer/key_lora/lora_b']
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}. Received: method={method!r}")
    base = peft_base(model)
    if getattr(base, _SETTINGS_ATTRIBUTE, None):
        raise ValueError(f"{base.name!r} is already adapted with {peft_settings(model)}; build a fresh model "
                         f"to apply another method. Received: method={method!r}")
    if method == "prompt" and targets:
        raise ValueError("Prompt tuning adapts no projection (its vectors go into the token embeddings): leave "
                         f"targets unset. Received: targets={targets!r}")
    if train_norms is not None and not isinstance(train_norms, bool):
        raise ValueError(f"train_norms must be True, False or None (the method's default). "
                         f"Received: train_norms={train_norms!r}")
    train_norms = method == "adapter" if train_norms is None else train_norms
    targets = targets or DEFAULT_TARGETS[method]
    frozen_before = {id(v) for v in base.weights if not v.trainable}
    if method == "prompt":
        enable_prompt_tuning(base, prompt_length)
    padded = set()  # attention layers whose mask already makes room for the prefix
    for parent, attribute, projection, path in find_projections(base, targets) if targets else ():
        with contextlib.ExitStack() as scopes:  # the new weights' paths sit beside the projection's
            for part in path.split("/")[:-1]:
                scopes.enter_context(keras.name_scope(part))
            if method == "adapter":
                wrapper = BottleneckAdapter(projection, adapter_size=adapter_size)
            elif method == "prefix":
                wrapper = PrefixProjection(projection, prefix_length=prefix_length, reparameterize=reparameterize)
                if id(parent) not in padded:
                    pad_attention_mask(parent, prefix_length)
                    padded.add(id(parent))
            else:
                wrapper = LowRankProjection(
                    projection, rank=rank, alpha=alpha, dropout=dropout, use_dora=method == "dora")
        replace_sublayer(parent, attribute, wrapper)
    new_weights = {id(v) for v in _added_weights(base)}
    for variable in base.weights:
        keep = id(variable) in new_weights or (
            train_norms and _is_layer_norm_weight(variable) and id(variable) not in frozen_before)
        if not keep:
            variable.trainable = False
    settings = {"method": method, "targets": targets, "train_norms": train_norms}
    settings.update({
        "lora": {"rank": rank, "alpha": float(alpha), "dropout": float(dropout)},
        "adapter": {"adapter_size": adapter_size},
        "prefix": {"prefix_length": prefix_length, "reparameterize": bool(reparameterize)},
        "prompt": {"prompt_length": prompt_length},
    }[method if method != "dora" else "lora"])
    setattr(base, _SETTINGS_ATTRIBUTE, json.dumps(settings, sort_keys=True))
    return settings


def _wrappers(model):
    """`[(parent, attribute, wrapper)]` of every PEFT wrapper inside `model`."""
    return held_sublayers(model, ProjectionWrapper)


def _own_weights(found):
    """The weights a wrapper adds (not its base projection's)."""
    _, _, wrapper = found
    base = {id(v) for v in wrapper.layer.weights}
    return [v for v in wrapper.weights if id(v) not in base]


def _added_weights(base):
    prompt = getattr(base, "soft_prompt", None)
    prompts = list(prompt.weights) if isinstance(prompt, SoftPrompt) else []
    return [v for found in _wrappers(base) for v in _own_weights(found)] + prompts


def peft_weights(model):
    """The weights `apply_peft` added to `model`."""
    return _added_weights(peft_base(model))


def trainable_summary(model):
    """`{"trainable": int, "total": int, "trainable_percent": float}` for `model` (all its weights)."""
    total = sum(int(keras.ops.size(v)) for v in model.weights)
    trainable = sum(int(keras.ops.size(v)) for v in model.trainable_weights)
    return {"trainable": trainable, "total": total, "trainable_percent": 100.0 * trainable / max(total, 1)}


@contextlib.contextmanager
def merged_for_export(model):
    """Within the block, every LoRA / DoRA update is folded into its base kernel and the plain
    projection is back in its place (one einsum per projection, no extra weights: what an export
    should trace); afterwards the wrappers and the base kernels are restored exactly.

    Prefix tuning's MLP re-parameterisation is computed once and only the prefix is used. Adapters
    are not linear in their input and stay as they are. Layers with Keras's own LoRA
    (`Dense` / `EinsumDense.enable_lora`, which KerasHub's `backbone.enable_lora` turns on) are merged
    the same way, summed in float32 (`kerastune.peft.keras_lora`): their kernel holds the update and
    LoRA is off within the block.

    Example:

    >>> with merged_for_export(model):  # doctest: +SKIP
    ...     export_text_classifier(model, ...)
    """
    found = _wrappers(peft_base(model))
    merged = [f for f in found if isinstance(f[2], LowRankProjection)]
    prefixes = [w for _, _, w in found if isinstance(w, PrefixProjection) and w.reparameterize]
    saved = []
    with keras_lora_merged(keras_lora_layers(model)):  # Keras's own LoRA layers
        try:
            for parent, attribute, wrapper in merged:
                kernel = wrapper.layer.kernel
                saved.append(keras.ops.convert_to_numpy(kernel))
                kernel.assign(keras.ops.cast(wrapper.merged_kernel(), kernel.dtype))
                replace_sublayer(parent, attribute, wrapper.layer)
            for wrapper in prefixes:  # the MLP's output, computed once: the prefix alone is exported
                wrapper.merge()
            yield model
        finally:
            for (parent, attribute, wrapper), values in zip(merged, saved):
                wrapper.layer.kernel.assign(values)
                if getattr(parent, attribute) is wrapper.layer:
                    replace_sublayer(parent, attribute, wrapper)
            for wrapper in prefixes:
                wrapper.reparameterize = True
