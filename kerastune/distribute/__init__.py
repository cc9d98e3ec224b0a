"""Choosing a `tf.distribute` strategy, and training under it when Keras's `fit` cannot (multi-worker)."""

from kerastune.distribute.multi_worker_trainer import MultiWorkerTrainer, training_loop
from kerastune.distribute.strategy import get_strategy, use_logical_cpus
from kerastune.distribute.worker_roles import is_chief, is_multi_worker, local_cluster, worker_dir, worker_task

__all__ = ["get_strategy", "use_logical_cpus", "MultiWorkerTrainer", "training_loop", "is_chief", "is_multi_worker",
           "worker_dir", "worker_task", "local_cluster"]
