"""What fine-tuning a pretrained KerasHub generative task shares, whether a causal LM (`preset_causal_lm`) or an
encoder-decoder (`preset_seq2seq`): the settings, KerasHub's LoRA on chosen layers, the optimizer and loss,
and saving the tuned model as a preset or its LoRA factors alone."""

import dataclasses
from typing import Optional

import keras

from kerastune.data.instruction_pairs import read_instruction_pairs
from kerastune.distribute import training_loop
from kerastune.evaluation.text_to_text_report import text_to_text_report
from kerastune.export.versioned_directory import atomic_directory, atomic_file
from kerastune.models.text_generation import check_sampler_settings, make_sampler, sampler_arguments
from kerastune.peft import merged_for_export
from kerastune.peft.keras_lora import keras_lora_factors, keras_lora_layers
from kerastune.recipes.config import compile_execution
from kerastune.recipes.fine_tuning_run import FineTuningRun
from kerastune.recipes.training_config import TrainingConfig
from kerastune.recipes.training_setup import build_optimizer
from kerastune.training.optimizers import NO_DECAY_NAMES, build_optimizer_variables

PEFT_METHODS = ("lora",)
ALL_LINEAR = "all-linear"  # peft_targets: every projection of every block (PEFT's name; QLoRA's choice)
# Peak rates when `learning_rate` is None, from the literature rather than measured here: LoRA's paper tuned
# GPT-2 at 2e-4 (Hu et al., 2021, table 11), and full fine-tuning of a pretrained LM commonly runs at 5e-5.
LORA_LEARNING_RATE = 2e-4
FULL_LEARNING_RATE = 5e-5


@dataclasses.dataclass(kw_only=True)
class PresetTuningConfig(TrainingConfig):
    """The settings every pretrained-preset recipe shares (`PresetCausalLMConfig`, `PresetSeq2SeqConfig`).

    The run and optimizer settings are `TrainingConfig`'s. `preset` is the pretrained model (a KerasHub
    preset name, a local KerasHub preset directory or a Hugging Face directory). `data` is a file of pairs
    (`read_instruction_pairs`: JSONL, JSON, TSV or CSV); `validation` another, or else the last
    `validation_fraction` of `data`. `peft="lora"` (the default) trains rank-`lora_rank` updates of the
    layers `peft_targets` names (comma-separated layer names such as `"query,value"`; `"all-linear"`: every
    Dense and EinsumDense projection inside the transformer blocks, as QLoRA; None: KerasHub's default, the
    attention's query and value projections) over the frozen model, biases included (KerasHub's
    `enable_lora`, whose scale is 1; `save_adapter` writes the factors alone; `run.lora_targets` names the
    adapted layers); `peft_train_norms` also trains the layer norms (scales and offsets, as the encoder recipes'
    LoRA does by default; then `save` writes the tuned model and `save_adapter` refuses); `peft=None` tunes
    every weight. `learning_rate` None is 2e-4 with LoRA, 5e-5
    without. `sampler` (with `temperature`, `top_k`, `top_p`) decodes what the run and its export write.
    `mixed_precision` is the Keras policy the model loads in: `"mixed_bfloat16"` computes in bfloat16 over
    float32 weights, `"bfloat16"` also keeps the weights in bfloat16 (half the memory of a large preset; Keras
    keeps LoRA's factors in float32).
    `dropout` is the preset's own and is not read.
    """

    # the recipe, and what `preset` and `data` hold, for the messages when they are missing (not settings)
    RECIPE = "a preset recipe"
    PRESET_KIND = "a pretrained model"
    DATA_KIND = "pairs"

    seed: int = 0
    preset: str = ""
    data: str = ""
    validation: Optional[str] = None
    validation_fraction: float = 0.1
    batch_size: int = 8
    epochs: int = 2
    learning_rate: Optional[float] = None
    dropout: Optional[float] = None
    pad_to_multiple_of: int = 8
    peft: Optional[str] = "lora"
    lora_rank: int = 8
    peft_targets: Optional[str] = None
    peft_train_norms: bool = False
    sampler: str = "greedy"
    temperature: float = 1.0
    top_k: int = 10
    top_p: float = 0.9

    def __post_init__(self):
        super().__post_init__()
        for field in ("preset", "data"):
            if not getattr(self, field):
                raise ValueError(f"{self.RECIPE} needs {field}=: " + (
                    f"a KerasHub preset, a KerasHub preset directory or a Hugging Face directory of {self.PRESET_KIND}"
                    if field == "preset" else f"a .jsonl, .json, .tsv or .csv file of {self.DATA_KIND}"))
        if self.peft is not None and self.peft not in PEFT_METHODS:
            raise ValueError(f"peft must be one of {PEFT_METHODS} or None (every weight tuned) for a KerasHub "
                             f"preset. Received: peft={self.peft!r}")
        if self.dropout is not None:
            raise ValueError("dropout is the preset's own and is not changed: leave it unset. "
                             f"Received: dropout={self.dropout!r}")
        if self.peft is None and (self.peft_targets or self.peft_train_norms):
            raise ValueError("peft_targets and peft_train_norms choose what LoRA trains, and peft=None tunes every "
                             "weight: set peft='lora' or leave them unset. Received: "
                             f"peft_targets={self.peft_targets!r}, peft_train_norms={self.peft_train_norms!r}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError("learning_rate must be a positive float, or None for the default (2e-4 with LoRA, 5e-5 "
                             f"without). Received: learning_rate={self.learning_rate!r}")
        self.check_positive("lora_rank", "pad_to_multiple_of")
        check_sampler_settings(self.sampler, self.temperature, p=self.top_p, k=self.top_k,
                               names={"p": "top_p", "k": "top_k"})


    def check_positive(self, *names):
        """Raises unless each setting of `names` is a positive integer."""
        for name in names:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={getattr(self, name)!r}")


class PresetTaskRun(FineTuningRun):
    """Base of `PresetCausalLMRun` and `PresetSeq2SeqRun`: a KerasHub task tuned on prepared batches, scored on
    what it writes (`evaluate`), saved as a preset (`save`) or as its LoRA factors (`save_adapter`). Subclasses
    set `validation_pairs` and define `_batches(pairs, training)` and `answers(texts, batch_size)`.

    Attributes:
        preprocessor: the task's preprocessor, detached from the task for `fit` (`task.preprocessor = None`,
            KerasHub's way to fit on prepared batches) and put back by `save`.
        lora_targets: the names of the layers LoRA adapts (`peft_targets` expanded), or None without LoRA.
    """

    def __init__(self, model, preprocessor, train_data, validation_data, config, strategy, sequence_length):
        super().__init__(model, preprocessor.tokenizer, train_data, validation_data, config, strategy,
                         sequence_length)
        self.preprocessor = preprocessor
        self.lora_targets = None

    def evaluate(self, pairs=None, batch_size=None):
        """Scores what the model writes for `pairs` (default the validation pairs) against their references.

        Returns a dict: `loss` and `token_accuracy` of the reference tokens (responses, targets) given those
        before them (the training loss: each batch's mean over its counted tokens, averaged over the batches
        weighted by their sizes, as Keras does, and under a strategy over the replicas), then `exact_match`,
        `character_error_rate`, `word_error_rate`, `bleu` and `num_examples` of the subclass's `answers`
        (`text_to_text_report`), `batch_size` (default the config's) at a time.
        """
        pairs, batches = self.evaluation_set((pairs, None), (self.validation_pairs, self.validation_data))
        if batches is None:
            batches = self._batches(pairs, training=False)
        loss, accuracy = training_loop(self.model, self.strategy).evaluate(batches.dataset, verbose=0)
        return {"loss": float(loss), "token_accuracy": float(accuracy),
                **text_to_text_report(self.answers(pairs.prompts, batch_size), list(pairs.responses))}

    def prepare(self, train_pairs, validation_pairs):
        """Detaches the preprocessor (fit and evaluate take the prepared batches as they are), batches the pairs
        (the subclass's `_batches(pairs, training)`), enables LoRA and compiles (`compile_preset_task`) under the
        run's strategy. Returns the run."""
        self.model.preprocessor = None
        self.train_data = self._batches(train_pairs, training=True)
        self.validation_data = self._batches(validation_pairs, training=False) if len(validation_pairs) else None
        c = self.config
        with self.strategy.scope():
            updates = c.epochs * self.train_data.steps_per_epoch // c.gradient_accumulation_steps
            self.lora_targets = compile_preset_task(self.model, c, updates)
        return self

    def save(self, path):
        """Writes the tuned model as a KerasHub preset directory (`from_preset(path)`, `preset=` of another run):
        LoRA updates are merged into the kernels (in float32), so it loads as a plain model of the same
        architecture. Written into a hidden sibling and renamed into place; an existing `path` is never
        overwritten. Returns `path`."""
        with atomic_directory(str(path)) as temporary, merged_for_export(self.model):  # merged in float32
            self.model.preprocessor = self.preprocessor
            try:
                self.model.save_to_preset(temporary)
            finally:
                self.model.preprocessor = None
        return str(path)

    def save_adapter(self, path):
        """Writes only the LoRA factors (KerasHub's `save_lora_weights`, a `.lora.h5` file) to `path`; returns it.

        To put them back on the same preset: `task.backbone.enable_lora(lora_rank,
        target_layer_names=run.lora_targets)`, then `task.backbone.load_lora_weights(path)` (the factors
        are matched to layers by position, so the same layers must have LoRA).
        """
        if self.config.peft != "lora":
            raise ValueError(f"save_adapter writes LoRA weights, and this run tunes every weight (peft="
                             f"{self.config.peft!r}): save the whole model with run.save(directory).")
        if self.config.peft_train_norms:
            raise ValueError("save_adapter writes the LoRA factors alone (KerasHub's format), and this run also "
                             "trained the layer norms: save the whole model with run.save(directory). "
                             "Received: peft_train_norms=True")
        if not str(path).endswith(".lora.h5"):
            raise ValueError(f"path must end in .lora.h5 (KerasHub's LoRA weights file). Received: path={path!r}")
        with atomic_file(path, suffix=".lora.h5") as temporary:
            self.model.backbone.save_lora_weights(temporary)
        return str(path)


def read_pairs(config, **columns):
    """`(train, validation)` `InstructionPairs` of `config.data` and `config.validation` (else the last
    `validation_fraction` of `data`); `columns` go to `read_instruction_pairs`."""
    pairs = read_instruction_pairs(config.data, **columns)
    if config.validation:
        return pairs, read_instruction_pairs(config.validation, **columns)
    return pairs.split(config.validation_fraction)


def compile_preset_task(task, config, updates):
    """Enables LoRA as `config` says, then compiles `task` under the current strategy scope: kerastune's AdamW
    (warmup and linear decay over `updates`, clipping, no decay on biases and norms: RMS norms' `scale`
    included), the mean cross-entropy over the weighted (target) tokens, token accuracy, and the config's
    sampler. Returns the adapted layers' names, or None without LoRA."""
    targets = enable_preset_lora(task.backbone, config) if config.peft == "lora" else None
    rate = config.learning_rate or (LORA_LEARNING_RATE if config.peft == "lora" else FULL_LEARNING_RATE)
    task.compile(
        optimizer=build_optimizer(dataclasses.replace(config, learning_rate=rate), updates,
                                  exclude_from_weight_decay=NO_DECAY_NAMES + ("scale",)),  # RMS norms' weight
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight"),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")],
        sampler=make_sampler(**sampler_arguments(config.sampler, config.temperature, config.seed, config.top_k,
                                                 config.top_p)),
        steps_per_execution=config.steps_per_execution,
        **compile_execution(config),
    )
    build_optimizer_variables(task)
    return targets


def enable_preset_lora(backbone, config):
    """KerasHub's `enable_lora` on `config.peft_targets`; only the factors train (and, with `peft_train_norms`, the
    layer norms). Returns the adapted layers' names, what `load_lora_weights` needs enabled to read an adapter."""
    projections = (keras.layers.Dense, keras.layers.EinsumDense)
    blocks = _blocks(backbone)
    adaptable = sorted({layer.name for block in blocks for layer in block._flatten_layers(include_self=False)
                        if isinstance(layer, projections)})
    if config.peft_targets is None:  # KerasHub's defaults; T5 names its projections query_projector, value_projector
        targets = backbone.default_lora_layer_names()
        if not any(layer.name in targets for layer in backbone._flatten_layers(include_self=False)):
            targets = [name for name in adaptable if name.split("_")[0] in ("query", "value")]
    elif config.peft_targets == ALL_LINEAR:
        targets = adaptable
    else:
        targets = [name.strip() for name in config.peft_targets.split(",")]
    named = {layer.name: layer for layer in backbone._flatten_layers(include_self=False) if layer.weights}
    given = config.peft_targets not in (None, ALL_LINEAR)  # KerasHub's defaults name other families' layers too
    if not any(name in named for name in targets) or any(
            (given and name not in named) or (name in named and not isinstance(named[name], projections))
            for name in targets):
        wanted = "KerasHub's default LoRA targets (query and value projections) match no layer of" \
            if config.peft_targets is None else f"peft_targets={config.peft_targets!r} must name projections of"
        raise ValueError(f"{wanted} preset={config.preset!r} (Dense or EinsumDense layers) that LoRA can adapt; "
                         f"pass peft_targets naming some of what its blocks have: {', '.join(adaptable)}")
    norms = [weight for layer in backbone._flatten_layers(include_self=False) if _is_norm(layer)
             for weight in layer.trainable_weights] if config.peft_train_norms else []
    backbone.enable_lora(config.lora_rank, target_layer_names=targets)
    factors = {id(factor) for factor in keras_lora_factors(keras_lora_layers(backbone))}  # quantized: refused now
    for weight in backbone.trainable_weights:  # enable_lora leaves the targets' biases trainable, and
        weight.trainable = id(weight) in factors  # save_lora_weights does not write them
    for weight in norms:
        weight.trainable = True
    return sorted(name for name in targets if name in named)


def _blocks(backbone):
    """The transformer blocks of `backbone` (a causal LM's `transformer_layers`; an encoder-decoder's encoder and
    decoder layers), or the backbone itself when it names none: never an output head."""
    blocks = [block for attribute in ("transformer_layers", "encoder_transformer_layers",
                                      "decoder_transformer_layers")
              for block in (getattr(backbone, attribute, None) or [])]
    return blocks or [backbone]


def _is_norm(layer):
    """Whether `layer` normalises (Keras's LayerNormalization, KerasHub's RMS and layer norms)."""
    return isinstance(layer, keras.layers.LayerNormalization) or type(layer).__name__.lower().endswith(
        ("layernorm", "layernormalization", "rmsnorm", "rmsnormalization"))
