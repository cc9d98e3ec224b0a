"""kerastune.evaluation."""
