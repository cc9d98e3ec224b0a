"""Keras's `fit` and `evaluate` as a custom loop, for `MultiWorkerMirroredStrategy`.

Keras 3's own `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585: "Attempt to
convert a value (PerReplica ...) with an unsupported type"), so a multi-worker run trains with the
loop of TensorFlow's "Custom training loop with MultiWorkerMirroredStrategy" guide, which keeps
everything else of Keras: the model's compiled loss and metrics, its optimizer (schedule, clipping,
weight decay, gradient accumulation, weight average), Keras callbacks, the progress bar and History.
"""

import warnings

import keras
import tensorflow as tf

from kerastune.distribute.worker_roles import is_multi_worker
from kerastune.training.train_step_override import track_loss, train_step_of


_BARRIER_TIMEOUT_MS = 10 * 60 * 1000  # a slower worker's last validation pass may take minutes
_PACKED = tf.distribute.experimental.CommunicationOptions(bytes_per_pack=64 * 1024 * 1024)


class MultiWorkerTrainer:
    """`fit` / `evaluate` for a compiled model under any `tf.distribute` strategy, as a custom loop.

    One training step: each replica runs the model on its share of the global batch and takes the
    gradients of the model's loss (`model.compute_loss`, which Keras divides by the number of
    replicas); one all-reduce sums them over every replica of every worker, so each worker holds
    the gradient of the global batch's mean loss; the model's optimizer applies it once per worker,
    in cross-replica context. Clipping, weight decay and gradient accumulation therefore see the
    global gradient, exactly as on one device with the same global batch (Keras's own distributed
    step clips each replica's share before summing). The reported metrics are the model's own,
    summed over all replicas when read.

    The dataset's batches are global batches: `strategy.experimental_distribute_dataset` splits
    each into one slice per replica, every worker running the same pipeline and keeping its slice
    (`AutoShardPolicy.DATA`), so the pipeline must produce the same batches on every worker (seed
    its shuffling, as kerastune's datasets do).

    Args:
        model: a compiled Keras model built under `strategy.scope()`. A custom train step
            (`enable_adversarial_training`, `enable_r_drop`) is refused: it applies its own gradients.
        strategy: a `tf.distribute.Strategy`, or None for the one the model was built under.
        jit_compile: bool or None (the model's `jit_compile`): compile each replica's forward and
            backward pass with XLA (the all-reduce and the update stay outside it).

    Example:

    >>> strategy = tf.distribute.get_strategy()  # MultiWorkerMirroredStrategy() from TF_CONFIG on a cluster
    >>> with strategy.scope():
    ...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    ...     model.compile("sgd", "mse")
    >>> data = tf.data.Dataset.from_tensor_slices((tf.ones((8, 4)), tf.zeros((8, 2)))).batch(4)
    >>> history = MultiWorkerTrainer(model, strategy).fit(data, epochs=2, verbose=0)
    >>> len(history.history["loss"])
    2
    """

    def __init__(self, model, strategy=None, jit_compile=None):
        if getattr(model, "optimizer", None) is None:
            raise ValueError(f"MultiWorkerTrainer trains a compiled model: call model.compile(optimizer=..., loss=...) "
                             f"under strategy.scope() first. Received: model={model.name!r} with no optimizer")
        step = train_step_of(model)
        if step is not None:
            raise ValueError(f"MultiWorkerTrainer runs Keras's train step; {model.name!r} trains with "
                             f"{type(step).__name__}, which applies its own gradients. Train it with one worker, or "
                             f"without adversarial training / R-Drop / distillation. "
                             f"Received: train step {type(step).__name__}")
        self.model = model
        self.strategy = strategy or model.distribute_strategy
        jit_compile = model.jit_compile if jit_compile is None else jit_compile
        self._gradients = tf.function(self._replica_gradients, jit_compile=True) if jit_compile \
            else self._replica_gradients
        self._train_function = tf.function(self._train_step, reduce_retracing=True)
        self._test_function = tf.function(self._test_step, reduce_retracing=True)
        self._barriers = 0  # one id per barrier, counted alike on every worker

    # --- one step --------------------------------------------------------------------------------

    def _replica_gradients(self, data):
        """Keras's TensorFlow train step up to the gradients: forward, loss, loss metric, metrics."""
        model = self.model
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            track_loss(model, loss, tf.shape(tf.nest.flatten(x)[0])[0])
            loss = model.optimizer.scale_loss(loss)
        gradients = tape.gradient(loss, model.trainable_variables)
        model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        return gradients  # embedding gradients stay tf.IndexedSlices, all-reduced by gathering

    def _replica_step(self, data):
        gradients = self._gradients(data)
        # variables without a gradient (unused by this loss) stay out, as Keras's optimizer leaves them
        self._has_gradient = [g is not None for g in gradients]  # recorded while tracing
        gradients = [g for g in gradients if g is not None]
        # (replicas of all workers) -> one sum, the same on every replica; the dense gradients travel
        # packed into few messages rather than one per variable (about 20 ms a step for the 0.8M-parameter
        # GPT's 3.2 MB on 2 CPU workers over loopback, measured)
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, gradients,
                                                              options=_PACKED)

    def _train_step(self, data):
        model, strategy = self.model, self.strategy
        summed = strategy.run(self._replica_step, args=(data,))
        summed = iter([strategy.experimental_local_results(g)[0] for g in summed])
        variables = model.trainable_variables
        gradients = [next(summed) if present else None for present in self._has_gradient]
        # cross-replica context: the optimizer's own all-reduce is skipped, its update runs on every replica
        model.optimizer.apply(gradients, variables)
        return model.get_metrics_result()

    def _test_step(self, data):
        self.strategy.run(self.model.test_step, args=(data,))
        return self.model.get_metrics_result()

    def _wait_for_every_worker(self, what):
        """Blocks until every worker has ended its `fit`/`evaluate`, under the coordination service.

        A worker's last all-reduce can end before a peer has read this worker's share of it; a worker
        that then exits (an `os._exit`, a script that ends) takes that share with it and the peer's
        step fails with "Socket closed". The barrier keeps every worker alive until all are done.
        """
        context = _eager_context()
        if not is_multi_worker(self.strategy) or not context.coordination_service:
            return
        self._barriers += 1
        context.wait_at_barrier(f"kerastune_{what}_{self._barriers}", _BARRIER_TIMEOUT_MS)

    # --- set-up ----------------------------------------------------------------------------------

    def _distribute(self, dataset, name):
        if not isinstance(dataset, tf.data.Dataset):
            raise TypeError(f"MultiWorkerTrainer reads a tf.data.Dataset of (inputs, targets) global batches. "
                            f"Received: {name}={type(dataset).__name__}")
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return self.strategy.experimental_distribute_dataset(dataset.with_options(options))

    def _build(self, dataset):
        """Builds the model, its compiled loss and metrics and the optimizer from the batch shapes, as
        Keras's `fit` does before its first step (variables cannot be created inside the step)."""
        model = self.model
        with self.strategy.scope():
            model._symbolic_build(data_batch=dataset.element_spec)

    # --- fit / evaluate --------------------------------------------------------------------------

    def fit(self, x, epochs=1, verbose="auto", callbacks=None, validation_data=None, shuffle=None,
            initial_epoch=0, steps_per_epoch=None, validation_steps=None):
        """Trains like `keras.Model.fit` on a dataset of global batches; returns the `History`.

        Takes `fit`'s arguments for datasets; `shuffle` is ignored (a dataset shuffles itself). With
        `steps_per_epoch`, one iterator runs through all epochs (an endless stream of batches suits);
        without, each epoch reads the dataset to its end. Keras callbacks work, `BackupAndRestore`'s
        resume included; `model.stop_training` stops after the current batch.
        """
        del shuffle
        model = self.model
        distributed = self._distribute(x, "x")
        self._build(x)
        callbacks = keras.callbacks.CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, verbose=verbose, epochs=epochs,
            steps=steps_per_epoch or _cardinality(x), model=model,
        )
        model.stop_training = False
        callbacks.on_train_begin()
        initial_epoch = getattr(model, "_initial_epoch", None) or initial_epoch  # set by BackupAndRestore
        iterator = iter(distributed) if steps_per_epoch else None
        epoch_logs = {}
        for epoch in range(initial_epoch, epochs):
            model.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            batches = iterator if steps_per_epoch else iter(distributed)
            step, logs = 0, {}
            while steps_per_epoch is None or step < steps_per_epoch:
                try:
                    data = next(batches)
                except StopIteration:
                    if steps_per_epoch:
                        warnings.warn(f"The training data ran out after {step} batches of epoch {epoch + 1}; "
                                      f"training stops. Make it repeat, or lower steps_per_epoch. "
                                      f"Received: steps_per_epoch={steps_per_epoch}", stacklevel=2)
                        model.stop_training = True
                    break
                callbacks.on_train_batch_begin(step)
                logs = _numbers(self._train_function(data))
                callbacks.on_train_batch_end(step, logs)
                step += 1
                if model.stop_training:
                    break
            epoch_logs = dict(logs)
            if validation_data is not None:
                val_logs = self.evaluate(validation_data, steps=validation_steps, return_dict=True, verbose=0)
                epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
            callbacks.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        if epochs > initial_epoch:
            model.optimizer.finalize_variable_values(model.trainable_variables)  # the weight average, if any
        callbacks.on_train_end(logs=epoch_logs)
        self._wait_for_every_worker("fit")
        return model.history

    def evaluate(self, x, steps=None, return_dict=False, verbose="auto", callbacks=None):
        """`keras.Model.evaluate` on a dataset of global batches (all of it, or `steps` batches).

        Returns the metrics as `{name: value}` with `return_dict`, else their values (one: the value).
        """
        del verbose, callbacks  # the loss and metrics are returned; nothing to show per batch
        distributed = self._distribute(x, "x")
        self._build(x)
        self.model.reset_metrics()
        logs = None
        for step, data in enumerate(distributed):
            if steps is not None and step >= steps:
                break
            logs = self._test_function(data)
        if logs is None:
            raise ValueError(f"evaluate needs at least one batch; the dataset is empty. Received: steps={steps}")
        logs = _numbers(logs)
        self._wait_for_every_worker("evaluate")
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values


def _eager_context():
    from tensorflow.python.eager import context  # TensorFlow exports no public barrier

    return context.context()


def _numbers(logs):
    return {name: float(value) for name, value in logs.items()}


def _cardinality(dataset):
    count = int(dataset.cardinality())
    return count if count > 0 else None



def training_loop(model, strategy):
    """What trains `model` under `strategy`: the model itself (Keras's `fit` / `evaluate`), or under
    MultiWorkerMirroredStrategy, where Keras 3's fail, a `MultiWorkerTrainer` with the same calls.

    Example:

    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> training_loop(model, tf.distribute.get_strategy()) is model
    True
    """
    return MultiWorkerTrainer(model, strategy) if is_multi_worker(strategy) else model
