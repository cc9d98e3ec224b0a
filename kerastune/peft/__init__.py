"""Parameter-efficient fine-tuning: LoRA, DoRA and bottleneck adapters on any backbone, prefix tuning
on KerasHub backbones and kerastune's own, prompt tuning on BERT-style backbones, with adapter-only
files that refuse a different base."""

from kerastune.peft.bottleneck_adapter import BottleneckAdapter
from kerastune.peft.low_rank_projection import LowRankProjection
from kerastune.peft.prefix_tuning import PrefixProjection
from kerastune.peft.prompt_tuning import SoftPrompt
from kerastune.peft.parameter_efficient import (
    METHODS, apply_peft, merged_for_export, peft_settings, peft_weights, trainable_summary,
)
from kerastune.peft.adapter_file import load_adapter, save_adapter  # noqa: E402
