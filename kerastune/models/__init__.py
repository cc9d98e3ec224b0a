"""kerastune.models."""

from kerastune.models.gpt import GPT
