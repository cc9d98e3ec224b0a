"""Recipe: instruction-tune a pretrained KerasHub causal LM (GPT-2, Gemma, Llama, ...) on prompt/response pairs."""

import dataclasses
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from kerastune.data.chat_template import ChatTemplate
from kerastune.data.instruction_examples import encode_instruction_examples, instruction_dataset, offending_pairs
from kerastune.data.instruction_pairs import read_instruction_pairs
from kerastune.distribute import training_loop, worker_dir
from kerastune.evaluation.text_to_text_report import text_to_text_report
from kerastune.export.export_writer import check_max_new_tokens
from kerastune.export.preset_causal_lm_export import export_preset_causal_lm
from kerastune.export.versioned_directory import atomic_directory, atomic_file
from kerastune.models.preset_causal_lm import end_token_id, load_causal_lm, max_positions
from kerastune.models.preset_responses import preset_responses
from kerastune.models.text_generation import check_sampler_settings, make_sampler, sampler_arguments
from kerastune.recipes.config import as_dict, compile_execution, config_from
from kerastune.recipes.fine_tuning_run import FineTuningRun
from kerastune.recipes.run_setup import start_run
from kerastune.recipes.training_config import TrainingConfig
from kerastune.recipes.training_setup import build_optimizer
from kerastune.peft import merged_for_export
from kerastune.peft.keras_lora import keras_lora_factors, keras_lora_layers
from kerastune.training.optimizers import NO_DECAY_NAMES, build_optimizer_variables

PEFT_METHODS = ("lora",)
ALL_LINEAR = "all-linear"  # peft_targets: every projection of every block (PEFT's name; QLoRA's choice)
# Alpaca's layout, ending in a newline: a format ending in a space would put a lone space token before every
# response of a byte-pair (GPT-2, Llama 3) vocabulary, a sequence such a model never saw in pretraining.
PRESET_PROMPT_FORMAT = "### Instruction:\n{prompt}\n\n### Response:\n"
# Peak rates when `learning_rate` is None, from the literature rather than measured here: LoRA's paper tuned
# GPT-2 at 2e-4 (Hu et al., 2021, table 11), and full fine-tuning of a pretrained LM commonly runs at 5e-5.
LORA_LEARNING_RATE = 2e-4
FULL_LEARNING_RATE = 5e-5


@dataclasses.dataclass(kw_only=True)
class PresetCausalLMConfig(TrainingConfig):
    """Every setting of the `preset_causal_lm` recipe (a TOML file or `--key=value` sets them).

    The run and optimizer settings are `TrainingConfig`'s. `preset` is the pretrained causal LM
    (`kerastune.models.load_causal_lm`: a KerasHub preset name, a local KerasHub preset directory or a
    Hugging Face directory). `data` is a file of prompt/response pairs (`read_instruction_pairs`: JSONL,
    JSON, TSV or CSV; `prompt`/`response`, or Alpaca's `instruction`/`input`/`output`); `validation`
    another, or else the last `validation_fraction` of `data`. Each pair is wrapped in the chat template
    (`prompt_format`; `end_marker`, empty by default, is text written after each response) and ends with
    the tokenizer's end token, where generation stops; the loss counts the response only unless
    `loss_on_prompt`. `peft="lora"` (the default) trains rank-`lora_rank` updates of the layers
    `peft_targets` names (comma-separated layer names such as `"query,value"`; `"all-linear"`: every Dense
    and EinsumDense projection inside the transformer blocks, as QLoRA; None: KerasHub's default, the
    attention's query and value projections) over the frozen model, biases included (KerasHub's
    `enable_lora`, whose scale is 1; `save_adapter` writes the factors alone; `run.lora_targets` names the
    adapted layers); `peft_train_norms` also trains the layer norms (scales and offsets, as the encoder
    recipes' LoRA does by default; then `save` writes the tuned model and `save_adapter` refuses);
    `peft=None` tunes every weight. `learning_rate` None is 2e-4 with LoRA, 5e-5 without. `sampler` (with
    `temperature`, `top_k`, `top_p`) decodes `respond`, `evaluate` and the export, at most `max_new_tokens`
    tokens. `mixed_precision` is the Keras policy the
    model loads in: `"mixed_bfloat16"` computes in bfloat16 over float32 weights, `"bfloat16"` also keeps
    the weights in bfloat16 (half the memory of a large preset; Keras keeps LoRA's factors in float32).
    `dropout` is the preset's own and is not read.
    """

    name: str = "causal_lm"
    seed: int = 0
    preset: str = ""
    data: str = ""
    validation: Optional[str] = None
    validation_fraction: float = 0.1
    prompt_format: str = PRESET_PROMPT_FORMAT
    end_marker: str = ""  # the tokenizer's end token ends each response; a text marker may come before it
    loss_on_prompt: bool = False
    sequence_length: int = 256
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
    max_new_tokens: int = 128

    def __post_init__(self):
        super().__post_init__()
        for field in ("preset", "data"):
            if not getattr(self, field):
                raise ValueError(f"preset_causal_lm needs {field}=: " + (
                    "a KerasHub preset, a KerasHub preset directory or a Hugging Face directory of a causal LM"
                    if field == "preset" else "a .jsonl, .json, .tsv or .csv file of prompt/response pairs"))
        ChatTemplate(self.prompt_format, self.end_marker)
        if self.peft is not None and self.peft not in PEFT_METHODS:
            raise ValueError(f"peft must be one of {PEFT_METHODS} or None (every weight tuned) for a KerasHub causal "
                             f"LM. Received: peft={self.peft!r}")
        if self.dropout is not None:
            raise ValueError("dropout is the preset's own and preset_causal_lm does not change it: leave it unset. "
                             f"Received: dropout={self.dropout!r}")
        if self.peft is None and (self.peft_targets or self.peft_train_norms):
            raise ValueError("peft_targets and peft_train_norms choose what LoRA trains, and peft=None tunes every "
                             "weight: set peft='lora' or leave them unset. Received: "
                             f"peft_targets={self.peft_targets!r}, peft_train_norms={self.peft_train_norms!r}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError("learning_rate must be a positive float, or None for the default (2e-4 with LoRA, 5e-5 "
                             f"without). Received: learning_rate={self.learning_rate!r}")
        for name in ("sequence_length", "max_new_tokens", "lora_rank", "pad_to_multiple_of"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={getattr(self, name)!r}")
        check_sampler_settings(self.sampler, self.temperature, p=self.top_p, k=self.top_k,
                               names={"p": "top_p", "k": "top_k"})


class PresetCausalLMRun(FineTuningRun):
    """What `preset_causal_lm` returns: `fit()`, then `evaluate()`, `respond(prompts)`, `export()`, `save(dir)`.

    Attributes:
        model: the compiled KerasHub `CausalLM` (LoRA enabled on its backbone when `peft="lora"`), its
            preprocessor detached (`model.preprocessor = None`, KerasHub's way to fit on prepared batches).
        preprocessor: that preprocessor, put back on the model by `save`.
        tokenizer: its tokenizer.
        start_token_id: the token before every prompt (None when the preprocessor adds none).
        lora_targets: the names of the layers LoRA adapts (`peft_targets` expanded), or None without LoRA.
        train_data, validation_data: `InstructionBatches` (`.dataset`, `.steps_per_epoch`, `.examples`).
        validation_pairs: the validation `InstructionPairs` that `evaluate` answers.
        chat_template: the `ChatTemplate` of training, `respond` and the export.
        config, strategy, sequence_length: the resolved config, the strategy, the longest input.
    """

    def __init__(self, model, preprocessor, train_data, validation_data, config, strategy, sequence_length,
                 validation_pairs, chat_template):
        super().__init__(model, preprocessor.tokenizer, train_data, validation_data, config, strategy,
                         sequence_length)
        self.preprocessor = preprocessor
        self.start_token_id = getattr(self.tokenizer, "start_token_id", None) \
            if getattr(preprocessor, "add_start_token", True) else None
        self.validation_pairs = validation_pairs
        self.chat_template = chat_template
        self.lora_targets = None
        self._responders = {}

    def respond(self, prompts, max_new_tokens=None):
        """Each prompt's answer: wrapped in the chat template, decoded with the config's sampler (at most
        `max_new_tokens`, default the config's), cut at the end marker. A str for a str prompt, else a list.
        With the greedy sampler (the default) the export answers the same."""
        single = isinstance(prompts, str)
        limit = self.config.max_new_tokens if max_new_tokens is None else max_new_tokens
        check_max_new_tokens(limit)
        if limit not in self._responders:
            self._responders[limit] = tf.function(
                lambda texts: preset_responses(self.model, self.tokenizer, self.chat_template, texts, limit,
                                               self.start_token_id)["response"],
                input_signature=[tf.TensorSpec([None], tf.string)])
        answers = [text.decode("utf-8", "replace") for text in
                   self._responders[limit](tf.constant([prompts] if single else list(prompts), tf.string)).numpy()]
        return answers[0] if single else answers

    def evaluate(self, pairs=None, batch_size=None):
        """Scores the answers to `pairs` (default the validation pairs) against their responses.

        Returns a dict: `loss` and `token_accuracy` of the response tokens given the reference before them
        (the training loss: each batch's mean over its response tokens, averaged over the batches and, under
        a strategy, the replicas), then
        `exact_match`, `character_error_rate`, `word_error_rate`, `bleu` and `num_examples` of what
        `respond` writes (`text_to_text_report`).
        """
        pairs, batches = self.evaluation_set((pairs, None), (self.validation_pairs, self.validation_data))
        if batches is None:
            batches = self._batches(pairs, training=False)
        loss, accuracy = training_loop(self.model, self.strategy).evaluate(batches.dataset, verbose=0)
        size = batch_size or self.config.batch_size
        answers = [answer for start in range(0, len(pairs), size)
                   for answer in self.respond(pairs.prompts[start:start + size])]
        return {"loss": float(loss), "token_accuracy": float(accuracy),
                **text_to_text_report(answers, pairs.responses)}

    def export(self, export_dir=None, version=None, report=None):
        """String-in SavedModel under `export_dir/name/version/` (`export_preset_causal_lm`, LoRA merged); `report`
        (e.g. `evaluate()`'s) is saved beside it as `evaluation.json`. Returns its path."""
        c = self.config
        return export_preset_causal_lm(self.model, self.tokenizer, self.chat_template,
                                       export_dir=worker_dir(export_dir or c.export_dir, self.strategy),
                                       name=c.name, version=version, max_new_tokens=c.max_new_tokens,
                                       start_token_id=self.start_token_id, config=as_dict(c), report=report)

    def save(self, path):
        """Writes the tuned model as a KerasHub preset directory (`CausalLM.from_preset(path)`, `preset=` of
        another run): LoRA updates are merged into the kernels (Keras saves a LoRA layer's kernel merged), so
        it loads as a plain model of the same architecture. Written into a hidden sibling and renamed into
        place; an existing `path` is never overwritten. Returns `path`."""
        with atomic_directory(str(path)) as temporary, merged_for_export(self.model):  # merged in float32
            self.model.preprocessor = self.preprocessor
            try:
                self.model.save_to_preset(temporary)
            finally:
                self.model.preprocessor = None
        return str(path)

    def save_adapter(self, path):
        """Writes only the LoRA factors (KerasHub's `save_lora_weights`, a `.lora.h5` file) to `path`; returns it.

        To put them back on the same preset: `causal_lm.backbone.enable_lora(lora_rank,
        target_layer_names=run.lora_targets)`, then `causal_lm.backbone.load_lora_weights(path)` (the factors
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

    def _batches(self, pairs, training):
        """The `InstructionBatches` of `pairs`; validation prompts must also leave room for `max_new_tokens`."""
        c = self.config
        examples = encode_instruction_examples(
            pairs, self.tokenizer, self.chat_template, end_token_id(self.tokenizer, c.preset), self.sequence_length,
            start_token_id=self.start_token_id, loss_on_prompt=c.loss_on_prompt)
        limit = max_positions(self.model)
        if not training and limit is not None:  # `evaluate` answers them: refused now, not after training
            _check_room_to_answer(examples.prompt_lengths, c.max_new_tokens, limit, pairs)
        return instruction_dataset(examples, c.batch_size, self.sequence_length, training, seed=c.seed,
                                   pad_to_multiple_of=c.pad_to_multiple_of)


def preset_causal_lm(config=None, **overrides):
    """Loads a pretrained KerasHub causal LM and instruction-tunes it; returns a `PresetCausalLMRun`.

    Supervised fine-tuning as Hugging Face TRL's `SFTTrainer` with PEFT's LoRA does it, in Keras: the
    loss on the responses only, LoRA over a frozen model, cached decoding at serving, a string-in
    SavedModel. The optimizer is kerastune's AdamW (linear warmup over `warmup_ratio`, linear decay,
    global-norm clipping, no decay on biases and norms); the loss is the mean cross-entropy over the
    counted (response) tokens.

    Args:
        config: a `PresetCausalLMConfig`, or None.
        **overrides: any `PresetCausalLMConfig` field, type-checked.

    Example:

    >>> run = preset_causal_lm(preset="gpt2_base_en", data="alpaca_data.json", epochs=1)  # doctest: +SKIP
    >>> run.fit()  # doctest: +SKIP
    >>> run.respond("Name three primary colours.")  # doctest: +SKIP
    >>> run.export()  # doctest: +SKIP
    """
    c = config_from(PresetCausalLMConfig, config, overrides)
    template = ChatTemplate(c.prompt_format, c.end_marker)
    pairs = read_instruction_pairs(c.data)  # bad files fail before the model loads
    train_pairs, validation_pairs = (pairs, read_instruction_pairs(c.validation)) if c.validation \
        else pairs.split(c.validation_fraction)
    strategy = start_run(c)  # the precision policy is set before the model loads: KerasHub loads in it
    with strategy.scope():
        causal_lm = load_causal_lm(c.preset, sequence_length=c.sequence_length)
    limit = max_positions(causal_lm)
    if limit is not None and c.sequence_length > limit:
        raise ValueError(f"sequence_length exceeds the {limit} positions of preset={c.preset!r}: pass "
                         f"sequence_length <= {limit}. Received: sequence_length={c.sequence_length}")
    run = PresetCausalLMRun(causal_lm, causal_lm.preprocessor, None, None, c, strategy, c.sequence_length,
                            validation_pairs if len(validation_pairs) else None, template)
    causal_lm.preprocessor = None  # fit and evaluate take the prepared batches as they are
    run.train_data = run._batches(train_pairs, training=True)
    run.validation_data = run._batches(validation_pairs, training=False) if len(validation_pairs) else None
    with strategy.scope():
        if c.peft == "lora":
            run.lora_targets = _enable_lora(causal_lm.backbone, c)
        rate = c.learning_rate or (LORA_LEARNING_RATE if c.peft == "lora" else FULL_LEARNING_RATE)
        updates = c.epochs * run.train_data.steps_per_epoch // c.gradient_accumulation_steps
        causal_lm.compile(
            optimizer=build_optimizer(dataclasses.replace(c, learning_rate=rate), updates,
                                      exclude_from_weight_decay=NO_DECAY_NAMES + ("scale",)),  # RMS norms' weight
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight"),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")],
            sampler=make_sampler(**sampler_arguments(c.sampler, c.temperature, c.seed, c.top_k, c.top_p)),
            steps_per_execution=c.steps_per_execution,
            **compile_execution(c),
        )
        build_optimizer_variables(causal_lm)
    return run


def _enable_lora(backbone, config):
    """KerasHub's `enable_lora` on `config.peft_targets`; only the factors train (and, with `peft_train_norms`, the
    layer norms). Returns the adapted layers' names, what `load_lora_weights` needs enabled to read an adapter."""
    projections = (keras.layers.Dense, keras.layers.EinsumDense)
    blocks = getattr(backbone, "transformer_layers", None) or [backbone]  # not an output head
    adaptable = sorted({layer.name for block in blocks for layer in block._flatten_layers(include_self=False)
                        if isinstance(layer, projections)})
    if config.peft_targets is None:
        targets = backbone.default_lora_layer_names()
    elif config.peft_targets == ALL_LINEAR:
        targets = adaptable
    else:
        targets = [name.strip() for name in config.peft_targets.split(",")]
    named = {layer.name: layer for layer in backbone._flatten_layers(include_self=False) if layer.weights}
    given = config.peft_targets not in (None, ALL_LINEAR)  # KerasHub's defaults name other families' layers too
    if not any(name in named for name in targets) or any(
            (given and name not in named) or (name in named and not isinstance(named[name], projections))
            for name in targets):
        raise ValueError(f"peft_targets={config.peft_targets!r} must name projections of preset={config.preset!r} "
                         f"(Dense or EinsumDense layers) that LoRA can adapt; its blocks have: {', '.join(adaptable)}")
    norms = [weight for layer in backbone._flatten_layers(include_self=False) if _is_norm(layer)
             for weight in layer.trainable_weights] if config.peft_train_norms else []
    backbone.enable_lora(config.lora_rank, target_layer_names=targets)
    factors = {id(factor) for factor in keras_lora_factors(keras_lora_layers(backbone))}  # quantized: refused now
    for weight in backbone.trainable_weights:  # enable_lora leaves the targets' biases trainable, and
        weight.trainable = id(weight) in factors  # save_lora_weights does not write them
    for weight in norms:
        weight.trainable = True
    return sorted(name for name in targets if name in named)


def _is_norm(layer):
    """Whether `layer` normalises (Keras's LayerNormalization, KerasHub's RMS and layer norms)."""
    return isinstance(layer, keras.layers.LayerNormalization) or type(layer).__name__.lower().endswith(
        ("layernorm", "layernormalization", "rmsnorm", "rmsnormalization"))


def _check_room_to_answer(prompt_lengths, max_new_tokens, limit, pairs):
    """Raises, naming the first, when a prompt leaves no room for `max_new_tokens` in the model's `limit` positions."""
    count, first, where = offending_pairs(np.asarray(prompt_lengths) + max_new_tokens > limit, pairs)
    if count:
        raise ValueError(f"{pairs.source or 'the validation pairs'}, {where}: the prompt takes "
                         f"{int(prompt_lengths[first])} tokens, and with max_new_tokens={max_new_tokens} its answer "
                         f"would not fit in the model's {limit} positions ({count} prompts do not); lower "
                         "max_new_tokens, or shorten or remove those pairs. "
                         f"Received: max_new_tokens={max_new_tokens}")
