"""The settings every training recipe shares, and those every fine-tuning recipe adds.

`TrainingConfig`: optimizer, schedule, clipping, averaging and batching (the text classifier, the
token classifier and masked-LM pretraining take them). `FineTuningConfig`: the backbone to load,
the data to read and the freeze / layer-wise decay options of fine-tuning. A recipe's own config
subclasses one of them and adds only what is its own (data columns, head options). Each value is
parsed and type-checked once, by `RecipeConfig`, whether it comes from a TOML file, a
`--key=value` flag or a keyword.
"""

import dataclasses
from typing import Optional

from kerastune.peft.parameter_efficient import METHODS
from kerastune.recipes.config import RecipeConfig, RunConfig, config_from
from kerastune.training.adversarial_training import AdversarialTraining
from kerastune.training.knowledge_distillation import KnowledgeDistillation
from kerastune.training.r_drop import RDrop


@dataclasses.dataclass(kw_only=True)
class ArchitectureConfig(RecipeConfig):
    """The shape of a Transformer built from scratch (kerastune's encoder or GPT).

    Args:
        num_layers: int, Transformer blocks.
        num_heads: int, attention heads per block (must divide `hidden_dim`).
        hidden_dim: int, the model width.
        intermediate_dim: int, the feed-forward inner width.
    """

    num_layers: int = 2
    num_heads: int = 2
    hidden_dim: int = 128
    intermediate_dim: int = 512


@dataclasses.dataclass(kw_only=True)
class TrainingConfig(RunConfig):
    """Optimizer, schedule and batching settings (AdamW, linear warmup then linear decay).

    Args:
        batch_size: int, examples per optimizer micro-step (the global batch under a strategy).
        epochs: int, passes over the training data.
        learning_rate: float, the peak rate after warmup.
        weight_decay: float, decoupled weight decay (none on biases and layer norms).
        warmup_ratio: float, warmup as a fraction of the optimizer updates (when `warmup_steps` is None).
        warmup_steps: int or None, warmup in optimizer updates.
        global_clipnorm: float or None, clips the global gradient norm.
        gradient_accumulation_steps: int, micro-steps per optimizer update (1: none).
        ema_momentum: float; > 0 keeps an exponential moving average of the weights and writes it
            into the model when `fit` ends. Capped so its horizon `1 / (1 - momentum)` spans at
            most a quarter of the run's updates (`kerastune.training.ema_momentum_for`).
        dropout: float, the backbone's and the head's dropout rate.
        jit_compile: bool, XLA-compile the train step.
        steps_per_execution: int, train steps per call into the compiled function.
    """

    batch_size: int = 32
    epochs: int = 2
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    warmup_steps: Optional[int] = None
    global_clipnorm: Optional[float] = 1.0
    gradient_accumulation_steps: int = 1
    ema_momentum: float = 0.0
    dropout: float = 0.1
    jit_compile: bool = True
    steps_per_execution: int = 1


@dataclasses.dataclass(kw_only=True)
class FineTuningConfig(TrainingConfig, ArchitectureConfig):
    """What every fine-tuning recipe takes beyond `TrainingConfig`: backbone, data and freezing.

    Defaults are the best configuration measured on SST-2 with all-MiniLM-L6-v2
    (`benchmarks/README.md`): lr 1e-4, layer-wise decay 0.85, EMA 0.999, frozen word-piece table;
    under `peft`, the method's measured learning rate and no layer-wise decay, and under LoRA trained
    layer norms and no dropout.

    Args:
        dropout: float or None, the backbone's and the head's dropout rate (None: 0.0 under `peft="lora"`,
            0.1 otherwise; `kerastune.recipes.training_setup.fine_tuning_dropout`).
        learning_rate: float or None, the peak rate after warmup. None: 1e-4 for full fine-tuning,
            the method's measured one under `peft` (`kerastune.recipes.training_setup.PEFT_LEARNING_RATES`).
        backbone: str, a KerasHub preset name, a local Hugging Face / KerasHub directory, a
            kerastune backbone directory, or `"kerastune_bert"` (own encoder, random init, built
            from `vocabulary`, `num_layers`, `num_heads`, `hidden_dim`, `intermediate_dim`).
        train: str, a data file, or a TFDS split name when `tfds_name` is set.
        validation: str or None, the same for validation.
        tfds_name, data_dir: str or None, read the splits from TFDS (`data_dir`: its data folder).
        layerwise_lr_decay: float in (0, 1] or None; < 1 trains each layer down at this factor of
            the one above (the head at the full rate). None: 0.85 for a pretrained backbone, 1.0
            for `"kerastune_bert"` (random init).
        freeze_token_embedding: bool or None, keep the pretrained word-piece table fixed. None:
            True for a pretrained backbone, False for `"kerastune_bert"` (random init).
        max_sequence_length: int or None, truncation length (default: the backbone's maximum).
        pad_to_multiple_of: int, bucket width and padding granularity of the batches.
        peft: str or None, parameter-efficient fine-tuning (`kerastune.peft.apply_peft`): `"lora"`,
            `"dora"`, `"adapter"`, `"prefix"` or `"prompt"` train only the method's weights and the head over a frozen
            backbone (layer-wise decay then defaults to 1.0, and `learning_rate` to the method's
            measured one).
        lora_rank, lora_alpha, lora_dropout: LoRA / DoRA rank, scale numerator and input dropout.
        peft_targets: str or None, comma-separated projection path patterns to adapt (None: all six
            projections of every layer for LoRA, query and value for DoRA, the attention and
            feed-forward outputs for adapters: `kerastune.peft.parameter_efficient.DEFAULT_TARGETS`).
        peft_train_norms: bool or None, whether the backbone's layer norms train with the method's
            weights (None: adapters and LoRA yes, the other methods no).
        adapter_size: int, the bottleneck width of `"adapter"`.
        prefix_length, prefix_reparameterize: `"prefix"` (KerasHub backbones, kerastune's encoder): key / value vectors
            per layer, trained through an MLP (merged away for export) or directly.
        prompt_length: int, `"prompt"` (prompt tuning, BERT-style backbones): learned input vectors after
            [CLS]; they take that many of the backbone's positions from the text.
        adversarial: str or None, `"fgm"` or `"pgd"`: train on the clean and the adversarial loss
            (`kerastune.training.adversarial_training`), the token embeddings perturbed by
            `adversarial_epsilon` (L2 per example); PGD takes `adversarial_steps` steps of
            `adversarial_step_size`.
        label_smoothing: float in [0, 1), smooths the targets toward uniform (0: plain cross-entropy).
        r_drop_alpha: float or None; set, R-Drop (`kerastune.training.r_drop`): two dropout passes
            per batch and this weight on their symmetric KL (not with `adversarial`).
        distill_from: str or None; set, knowledge distillation
            (`kerastune.training.knowledge_distillation`): a kerastune export of a fine-tuned
            classifier of the same task, labels and word pieces (e.g. a larger model's `run.export()`)
            is the teacher (several, separated by commas: their ensemble, the mean of their
            probabilities, e.g. one recipe's fine-tunes with other seeds); the model this recipe
            builds learns its soft targets at `distillation_temperature` plus the labels, weighted
            `distillation_student_loss_weight`, and (text classifiers) the teacher's cosine
            similarities between a batch's texts, weighted `distillation_similarity_weight` (0: not
            used) (not with `adversarial` or `r_drop_alpha`).
        early_stopping_patience: int or None; set, `fit` stops once `early_stopping_monitor` (a
            validation metric, e.g. `"val_loss"` or `"val_accuracy"`) has not improved for this many
            epochs, and restores the best epoch's weights (the trained ones: a weight average,
            `ema_momentum`, is not what the validation metric saw, and is dropped then).
    """

    backbone: str
    train: str
    learning_rate: Optional[float] = None
    dropout: Optional[float] = None
    validation: Optional[str] = None
    tfds_name: Optional[str] = None
    data_dir: Optional[str] = None
    ema_momentum: float = 0.999
    layerwise_lr_decay: Optional[float] = None
    freeze_token_embedding: Optional[bool] = None
    max_sequence_length: Optional[int] = None
    pad_to_multiple_of: int = 8
    vocabulary: Optional[str] = None
    peft: Optional[str] = None
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    peft_targets: Optional[str] = None
    peft_train_norms: Optional[bool] = None
    adapter_size: int = 64
    prefix_length: int = 16
    prefix_reparameterize: bool = True
    prompt_length: int = 20
    adversarial: Optional[str] = None
    adversarial_epsilon: float = 0.2
    adversarial_steps: int = 3
    adversarial_step_size: float = 0.1
    label_smoothing: float = 0.0
    r_drop_alpha: Optional[float] = None
    distill_from: Optional[str] = None
    distillation_temperature: float = 2.0
    distillation_student_loss_weight: float = 0.5
    distillation_similarity_weight: float = 0.0
    early_stopping_patience: Optional[int] = None
    early_stopping_monitor: str = "val_loss"

    def __post_init__(self):
        super().__post_init__()
        # the switches' values are checked here, before any data is read or any weight loaded
        if self.peft is not None and self.peft not in METHODS:
            raise ValueError(f"peft must be one of {METHODS} or None. Received: peft={self.peft!r}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError("learning_rate must be positive, or None for the recipe's default. "
                             f"Received: learning_rate={self.learning_rate!r}")
        if self.adversarial is not None:
            AdversarialTraining(self.adversarial, self.adversarial_epsilon, self.adversarial_steps,
                                self.adversarial_step_size)
        if self.r_drop_alpha is not None:
            RDrop(self.r_drop_alpha)
        KnowledgeDistillation.check(self.distillation_temperature, self.distillation_student_loss_weight,
                                    self.distillation_similarity_weight)
        steps = {"adversarial": self.adversarial, "r_drop_alpha": self.r_drop_alpha, "distill_from": self.distill_from}
        if sum(value is not None for value in steps.values()) > 1:
            given = ", ".join(f"{key}={value!r}" for key, value in steps.items() if value is not None)
            raise ValueError(f"adversarial, r_drop_alpha and distill_from each replace the train step; set one of "
                             f"them. Received: {given}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1). Received: label_smoothing={self.label_smoothing!r}")


# The options a classifier's loss and labels use (adversarial inputs, R-Drop, distillation, smoothing): recipes
# with another loss refuse them (`refuse_classifier_options`).
CLASSIFIER_OPTIONS = ("adversarial", "r_drop_alpha", "distill_from", "label_smoothing")


def refuse_classifier_options(config, recipe, loss, also=()):
    """Raises a clear error naming every `CLASSIFIER_OPTIONS` field (and `also` field) set in `config`: `recipe`
    trains with `loss`, which they were not written for."""
    names = CLASSIFIER_OPTIONS + tuple(also)
    defaults = {field.name: field.default for field in dataclasses.fields(config)}
    given = [f"{key}={getattr(config, key)!r}" for key in names if getattr(config, key) != defaults[key]]
    if given:
        raise ValueError(f"{recipe} trains with {loss}; {', '.join(names[:-1])} and {names[-1]} are the text "
                         f"classifier's. Unset them. Received: {', '.join(given)}")


def fine_tuning_config(config_cls, backbone, train, validation, settings):
    """The config of a fine-tuning recipe call: `backbone` is a backbone name or path (then `train`,
    `validation` and `settings` fill the config), or a whole `config_cls` built once already, e.g.
    from a recipe file (then `settings` only override its fields)."""
    if isinstance(backbone, config_cls):
        return config_from(config_cls, backbone, settings)
    given = {"backbone": str(backbone), "train": None if train is None else str(train), "validation": validation}
    return config_from(config_cls, settings={**given, **settings})
