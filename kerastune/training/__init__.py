"""Optimizers and learning-rate schedules shared by every recipe."""

from kerastune.training.schedules import WarmupLinearDecay, warmup_cosine_decay
from kerastune.training.optimizers import NO_DECAY_NAMES, adamw, build_optimizer_variables, ema_momentum_for
from kerastune.training.callbacks import PrintSamples, ProgressLines, StopOnInvalidLoss
from kerastune.training.layerwise_decay import AdamWWithMultipliers, layerwise_decay_multipliers
from kerastune.training.training_backup import TrainingBackup, fit_with_backups, latest_backup, restore_backup
from kerastune.training.elastic_weight_consolidation import ElasticWeightConsolidation, diagonal_fisher

__all__ = [
    "WarmupLinearDecay", "warmup_cosine_decay", "adamw", "build_optimizer_variables", "ema_momentum_for", "NO_DECAY_NAMES", "PrintSamples", "ProgressLines", "StopOnInvalidLoss",
    "AdamWWithMultipliers",
    "layerwise_decay_multipliers", "TrainingBackup", "fit_with_backups", "latest_backup", "restore_backup",
    "ElasticWeightConsolidation", "diagonal_fisher",
]
