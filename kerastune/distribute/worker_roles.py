"""Which process of a multi-worker run this is, and where it may write.

Under `tf.distribute.MultiWorkerMirroredStrategy` every worker runs the same program. TensorFlow's
rule for files (the "Multi-worker training with Keras" guide): the chief writes checkpoints,
logs and exports where they belong, every other worker writes its copy under `workertemp_<task_id>/`
inside the same folder, so nothing is written twice to one path and every worker still runs the
same code (and the same collective operations). Outside a multi-worker run every process is the chief.
"""

import os
import socket

import tensorflow as tf


def is_multi_worker(strategy):
    """Whether `strategy` is a `MultiWorkerMirroredStrategy` (Keras 3's `fit` does not run under it)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def worker_task(strategy):
    """`(task_type, task_id)` of this process in `strategy`'s cluster (from `TF_CONFIG`), or `(None, None)`."""
    resolver = getattr(strategy, "cluster_resolver", None) if is_multi_worker(strategy) else None
    if resolver is None or not resolver.cluster_spec().as_dict():
        return None, None
    return resolver.task_type, resolver.task_id


def is_chief(strategy):
    """Whether this process writes the run's files: the `"chief"` task, else worker 0 of a cluster with
    no chief (TensorFlow's rule), and every process outside a multi-worker cluster."""
    task_type, task_id = worker_task(strategy)
    if task_type is None:
        return True
    has_chief = "chief" in strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)


def worker_dir(directory, strategy):
    """`directory` for the chief; `directory/workertemp_<task_id>` for every other worker.

    Each worker keeps its own copy of what it writes (its backups, so a restarted cluster resumes
    every worker from the same step), and only the chief's lands where users look.

    Example:

    >>> worker_dir("runs/gpt", tf.distribute.get_strategy())
    'runs/gpt'
    """
    if directory is None or is_chief(strategy):
        return directory
    _, task_id = worker_task(strategy)
    return os.path.join(directory, f"workertemp_{task_id}")


def local_cluster(count):
    """A `TF_CONFIG` cluster of `count` workers on 127.0.0.1, each on a port free right now.

    For trying a multi-worker run on one machine (tests, benchmarks): give worker i
    `{"cluster": local_cluster(n), "task": {"type": "worker", "index": i}}` as its `TF_CONFIG`.
    """
    if count < 1:
        raise ValueError(f"a cluster needs at least one worker; received count={count!r}")
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))  # all bound at once, so no two get the same port
        return {"worker": [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]}
    finally:
        for s in sockets:
            s.close()
