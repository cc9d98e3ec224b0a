"""What every training recipe sets up the same way: the backbone, the optimizer, the compile.

`load_fine_tuning_backbone(config)` loads (or builds) the backbone a `FineTuningConfig` names and
applies its freeze option; `load_teacher(config, ...)` loads the distillation teacher `distill_from`
names, checked against the run; `compile_for_training(model, config, steps_per_epoch, teacher=)`
builds AdamW with linear warmup and decay, clipping, layer-wise decay, gradient accumulation and the
weight average, sets the train step the config asks for (FGM / PGD, R-Drop, distillation) and
compiles the model. Call them under the run's `strategy.scope()`.
"""

import os
import sys

import keras

from kerastune.models.backbones import (OWN_ENCODER, freeze_token_embedding, load_backbone, max_sequence_length,
                                       own_encoder_arguments)
from kerastune.peft import apply_peft
from kerastune.recipes.config import compile_execution
from kerastune.training.adversarial_training import enable_adversarial_training
from kerastune.training.knowledge_distillation import enable_distillation
from kerastune.training.callbacks import StopOnInvalidLoss
from kerastune.training.r_drop import enable_r_drop
from kerastune.training import (ProgressLines, WarmupLinearDecay, adamw, build_optimizer_variables, ema_momentum_for,
                                layerwise_decay_multipliers)

PRETRAINED_LAYERWISE_LR_DECAY = 0.85
FULL_FINE_TUNING_LEARNING_RATE = 1e-4
# Each method's best peak learning rate measured on SST-2 with all-MiniLM-L6-v2 at its default targets
# (`benchmarks/peft.py`; the rates and runs are in benchmarks/README.md). LoRA on all six projections: 1e-3
# (at 3e-3 its training loss rose); prompt tuning's is the one value tried.
PEFT_LEARNING_RATES = {"lora": 1e-3, "dora": 3e-3, "adapter": 1e-3, "prefix": 5e-3, "prompt": 3e-2}
FINE_TUNING_DROPOUT = 0.1
# LoRA's recipe defaults beyond `apply_peft`'s: the layer norms train (as adapters' do) and nothing drops out. Over
# three seeds of SST-2 at 2 epochs of the whole set they took LoRA from 1.14 to 0.69 points below full fine-tuning
# (benchmarks/README.md, "Three seeds of each side").
LORA_DROPOUT = 0.0
LORA_TRAIN_NORMS = True


def is_pretrained(config):
    """Whether `config.backbone` names pretrained weights (anything but `"kerastune_bert"`)."""
    return config.backbone != OWN_ENCODER


def fine_tuning_dropout(dropout, peft):
    """The backbone's and the head's dropout rate for a config's `dropout` and `peft`: `dropout`, or when None
    `LORA_DROPOUT` under `peft="lora"` and `FINE_TUNING_DROPOUT` otherwise. Training and `load_classifier`
    (which rebuilds a model from an export's config) both take it from here."""
    if dropout is not None:
        return dropout
    return LORA_DROPOUT if peft == "lora" else FINE_TUNING_DROPOUT


def peft_train_norms(config):
    """Whether the backbone's layer norms train under `config.peft`: `config.peft_train_norms`, or when None
    `LORA_TRAIN_NORMS` under `peft="lora"` and `apply_peft`'s default for the other methods."""
    if config.peft_train_norms is not None:
        return config.peft_train_norms
    return LORA_TRAIN_NORMS if config.peft == "lora" else None


def load_fine_tuning_backbone(config):
    """Returns `(backbone, tokenizer, sequence_length)` for a `FineTuningConfig`.

    `sequence_length` is `config.max_sequence_length` capped at the backbone's maximum. The word-piece
    table is frozen when `config.freeze_token_embedding` is True (None: for pretrained backbones);
    `config.peft` adapts the backbone and freezes the rest of it (`kerastune.peft.apply_peft`).
    """
    dropout = fine_tuning_dropout(config.dropout, config.peft)
    if is_pretrained(config):
        backbone, tokenizer = load_backbone(config.backbone, dropout=dropout)
    else:
        backbone, tokenizer = load_backbone(OWN_ENCODER, vocabulary=config.vocabulary,
                                            **own_encoder_arguments({**vars(config), "dropout": dropout}))
    freeze = config.freeze_token_embedding
    if freeze if freeze is not None else is_pretrained(config):
        freeze_token_embedding(backbone)
    if config.peft:
        apply_peft(backbone, config.peft, rank=config.lora_rank, alpha=config.lora_alpha, dropout=config.lora_dropout,
                   targets=config.peft_targets, adapter_size=config.adapter_size, prefix_length=config.prefix_length,
                   reparameterize=config.prefix_reparameterize, prompt_length=config.prompt_length,
                   train_norms=peft_train_norms(config))
    limit = max_sequence_length(backbone)  # less a tuned prompt's positions
    if config.max_sequence_length and config.max_sequence_length > limit:
        prompt = f" (its {config.prompt_length} prompt vectors take the others)" if config.peft == "prompt" else ""
        raise ValueError(
            f"max_sequence_length exceeds the {limit} positions backbone={config.backbone!r} takes{prompt}; pass "
            f"max_sequence_length <= {limit} or leave it unset. "
            f"Received: max_sequence_length={config.max_sequence_length}"
        )
    return backbone, tokenizer, config.max_sequence_length or limit


def batch_splits(build, train, validation, config, tokenizer, sequence_length, **options):
    """`(train_data, validation_data)`: `build(split, training=..., **batching)` for each split.

    Args:
        build: a dataset constructor such as `ClassificationDataset.from_labelled_text`.
        train, validation: the read splits (validation may be None, and then so is its dataset).
        config: a `FineTuningConfig` (batch size, padding multiple, seed).
        tokenizer, sequence_length: from `load_fine_tuning_backbone`.
        **options: further keyword arguments of `build` (e.g. the text classifier's `truncate`).
    """
    batching = dict(tokenizer=tokenizer, batch_size=config.batch_size, sequence_length=sequence_length,
                    pad_to_multiple_of=config.pad_to_multiple_of, seed=config.seed, **options)
    validation_data = build(validation, training=False, **batching) if validation is not None else None
    return build(train, training=True, **batching), validation_data


def layerwise_lr_decay(config):
    """The layer-wise decay a config asks for (None: 0.85 for pretrained backbones fully fine-tuned, else 1.0)."""
    decay = getattr(config, "layerwise_lr_decay", 1.0)
    if decay is None:
        decay = PRETRAINED_LAYERWISE_LR_DECAY if is_pretrained(config) and not config.peft else 1.0
    return decay


def peak_learning_rate(config):
    """The peak learning rate a config asks for (None: the `peft` method's, `PEFT_LEARNING_RATES`, or
    `FULL_FINE_TUNING_LEARNING_RATE` without one)."""
    if config.learning_rate is not None:
        return config.learning_rate
    return PEFT_LEARNING_RATES[config.peft] if getattr(config, "peft", None) else FULL_FINE_TUNING_LEARNING_RATE


def build_optimizer(config, total_updates, model=None, **adamw_kwargs):
    """AdamW for a `TrainingConfig`: warmup + linear decay over `total_updates` optimizer updates.

    Args:
        config: a `TrainingConfig` (layer-wise decay read when the config has it; `model` needed then).
        total_updates: int, optimizer updates in the run (micro-steps / gradient accumulation).
        model: the model to train, for the layer-wise multipliers.
        **adamw_kwargs: passed to `kerastune.training.adamw` (e.g. `exclude_from_weight_decay`).
    """
    total_updates = max(int(total_updates), 1)
    warmup = config.warmup_steps if config.warmup_steps is not None else int(config.warmup_ratio * total_updates)
    if warmup < 0:
        raise ValueError(f"warmup_steps must be a non-negative int. Received: warmup_steps={warmup}")
    schedule = WarmupLinearDecay(
        peak_learning_rate(config), total_steps=total_updates, warmup_steps=min(warmup, total_updates)
    )
    decay = layerwise_lr_decay(config)
    multipliers = layerwise_decay_multipliers(model, decay) if decay != 1.0 else None
    return adamw(
        schedule,
        weight_decay=config.weight_decay,
        global_clipnorm=config.global_clipnorm,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        ema_momentum=ema_momentum_for(config.ema_momentum, total_updates),
        learning_rate_multipliers=multipliers,
        **adamw_kwargs,
    )


def load_teacher(config, tokenizer, names, sequence_length):
    """The teacher `config.distill_from` names (None when unset), checked against the run: the same
    task and names (labels or tags, in order), the same word pieces, and room for the run's inputs.
    Several comma-separated exports make one teacher: their `EnsembleClassifier` (the mean of their
    probabilities), e.g. one recipe fine-tuned with other seeds distilled into a single model.

    Args:
        config: a `FineTuningConfig`.
        tokenizer, sequence_length: the run's (`load_fine_tuning_backbone`).
        names: list of str, the run's label or tag names.
    """
    if not getattr(config, "distill_from", None):
        return None
    paths = [path.strip() for path in config.distill_from.split(",")]
    if not all(paths):
        raise ValueError("distill_from is one export, or several separated by commas (their ensemble teaches), "
                         f"with no empty entry. Received: distill_from={config.distill_from!r}")
    teachers = [_checked_teacher(path, tokenizer, names, sequence_length) for path in paths]
    if len(teachers) == 1:
        return teachers[0]
    from kerastune.models.ensemble_classifier import EnsembleClassifier

    return EnsembleClassifier(teachers, name="teacher_ensemble")


def _checked_teacher(path, tokenizer, names, sequence_length):
    """The classifier of the export `path`, refused unless it answers `names` from the run's word pieces."""
    from kerastune.export.classifier_from_export import load_classifier

    teacher, teacher_tokenizer, teacher_names, _ = load_classifier(path)
    where = f"Received: distill_from={path!r}"
    if list(teacher_names) != list(names):
        raise ValueError(f"The teacher answers {list(teacher_names)} and this run's data has {list(names)}: "
                         f"distillation needs the same labels (or tags) in the same order. {where}")
    if teacher_tokenizer.get_vocabulary() != tokenizer.get_vocabulary():
        raise ValueError("The teacher reads other word pieces than this run's backbone: the student sees the teacher's "
                         "token ids, so both need the same vocabulary (e.g. a smaller model of the same family, or "
                         f"kerastune_bert with the teacher's vocab.txt). {where}")
    if max_sequence_length(teacher.backbone) < sequence_length:
        raise ValueError(f"The teacher takes {max_sequence_length(teacher.backbone)} positions and this run's inputs "
                         f"up to {sequence_length}: pass max_sequence_length <= "
                         f"{max_sequence_length(teacher.backbone)}. {where}")
    return teacher


def compile_for_training(model, config, steps_per_epoch, teacher=None, **compile_kwargs):
    """Compiles `model` with `build_optimizer` for `config.epochs` x `steps_per_epoch` micro-steps
    (adversarially, FGM / PGD, when the config's `adversarial` is set; with R-Drop when `r_drop_alpha`
    is; learning from `teacher`'s soft targets too when one is given).

    Args:
        model: the Keras model (its own `compile` defaults give loss and metrics).
        config: a `TrainingConfig`.
        steps_per_epoch: int, training batches per epoch.
        teacher: a Keras model or None, the distillation teacher (`load_teacher`), at the config's
            `distillation_temperature`, `distillation_student_loss_weight` and `distillation_similarity_weight`.
        **compile_kwargs: passed to `model.compile`.
    """
    if config.gradient_accumulation_steps < 1:
        raise ValueError(
            "gradient_accumulation_steps must be an int >= 1. "
            f"Received: gradient_accumulation_steps={config.gradient_accumulation_steps}"
        )
    if getattr(config, "adversarial", None):
        enable_adversarial_training(model, config.adversarial, epsilon=config.adversarial_epsilon,
                                    steps=config.adversarial_steps, step_size=config.adversarial_step_size)
    if getattr(config, "r_drop_alpha", None):
        enable_r_drop(model, config.r_drop_alpha)
    if teacher is not None:
        enable_distillation(model, teacher, config.distillation_temperature, config.distillation_student_loss_weight,
                            config.distillation_similarity_weight)
    updates = steps_per_epoch * config.epochs // config.gradient_accumulation_steps
    if getattr(config, "label_smoothing", 0.0):
        compile_kwargs["label_smoothing"] = config.label_smoothing
    model.compile(
        optimizer=build_optimizer(config, updates, model),
        steps_per_execution=config.steps_per_execution,
        **compile_execution(config),
        **compile_kwargs,
    )
    return build_optimizer_variables(model)  # one trace of the train step, not two


def progress(verbose="auto"):
    """`(verbosity, callbacks)` for Keras `fit`: the progress bar on a terminal; otherwise one line per
    epoch and, within an epoch, a line a minute (`ProgressLines`)."""
    verbosity = (1 if sys.stdout.isatty() else 2) if verbose == "auto" else verbose
    return verbosity, [ProgressLines()] if verbosity == 2 else []


def fit_callbacks(config, verbose="auto", callbacks=None):
    """`(verbosity, callbacks)` for a recipe run's Keras `fit`: `progress`'s, `StopOnInvalidLoss`
    (stops with the likely causes when the loss turns NaN), TensorBoard logs to
    `config.logging_dir/config.name/` when `logging_dir` is set, then the user's `callbacks`."""
    verbosity, extra = progress(verbose)
    extra.append(StopOnInvalidLoss())
    if config.logging_dir:
        extra.append(keras.callbacks.TensorBoard(os.path.join(config.logging_dir, config.name)))
    return verbosity, extra + list(callbacks or [])

