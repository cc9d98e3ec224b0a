"""Choosing a `tf.distribute` strategy."""

from kerastune.distribute.strategy import get_strategy, use_logical_cpus

__all__ = ["get_strategy", "use_logical_cpus"]
