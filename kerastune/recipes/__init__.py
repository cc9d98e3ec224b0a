"""Recipe functions: data + model + compile under a strategy, returned for the user to fit."""

from kerastune.recipes.causal_lm import CausalLMConfig, CausalLMRun, causal_lm
