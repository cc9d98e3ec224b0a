"""Elastic weight consolidation (EWC): a Fisher-weighted pull back to the weights of an earlier task.

Kirkpatrick et al., 2017 ("Overcoming catastrophic forgetting in neural networks", PNAS, eq. 3):
after task A, each weight `theta_i` is anchored at its value `theta_A,i` with the diagonal of the
Fisher information `F_i` estimating how much A's likelihood depends on it; training task B then
minimises `L_B(theta) + lambda * sum_i F_i (theta_i - theta_A,i)^2`.

`F_i` here is the empirical Fisher: the mean over A's examples of the squared gradient of the
example's log-likelihood `log p(y | x; theta)` at its true label (`diagonal_fisher`).

Example:

>>> ewc = ElasticWeightConsolidation.from_model(model, task_a_batches, strength=1e3)  # doctest: +SKIP
>>> model.compile(optimizer="adam", loss=ewc.wrap(keras.losses.SparseCategoricalCrossentropy(True)))  # doctest: +SKIP
"""

import keras
import numpy as np
import tensorflow as tf


def diagonal_fisher(model, batches, variables=None, max_examples=256):
    """The empirical diagonal Fisher `{variable.path: F}` of `model` over `(x, y)` batches.

    Each example's gradient is taken alone (`F_i = mean_n (d log p(y_n | x_n) / d theta_i)^2`), up
    to `max_examples` examples. `variables`: the weights to consolidate (default: the trainable ones).

    Args:
        model: a classifier returning logits, called as `model(x, training=False)`.
        batches: an iterable of `(x, y)` with int labels `y` (batch,).
        variables: list of variables, or None for `model.trainable_variables`.
        max_examples: int.
    """
    variables = list(model.trainable_variables if variables is None else variables)
    totals = [np.zeros(v.shape, np.float64) for v in variables]

    @tf.function
    def squared_gradients(x, y):
        with tf.GradientTape() as tape:
            logits = tf.cast(model(x, training=False), tf.float32)  # (1, classes)
            log_likelihood = -tf.reduce_sum(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y, tf.int32), logits=logits))
        return [tf.square(g) if g is not None else tf.zeros_like(v)
                for g, v in zip(tape.gradient(log_likelihood, variables), variables)]

    count = 0
    for x, y in batches:
        n = int(np.shape(y)[0])
        for i in range(n):
            if count >= max_examples:
                break
            one = keras.tree.map_structure(lambda t, i=i: t[i:i + 1], x)
            for total, g in zip(totals, squared_gradients(one, y[i:i + 1])):
                total += g.numpy()
            count += 1
        if count >= max_examples:
            break
    if not count:
        raise ValueError("diagonal_fisher received no example; pass task A's (x, y) batches")
    return {v.path: (total / count).astype(np.float32) for v, total in zip(variables, totals)}


class ElasticWeightConsolidation:
    """EWC's penalty `strength * sum_i F_i (theta_i - theta_A,i)^2` over some of a model's weights.

    Args:
        variables: the model's variables to consolidate (e.g. the shared backbone's).
        fisher: dict `{variable.path: array}`, the diagonal Fisher of each (`diagonal_fisher`).
        strength: float >= 0, lambda.
        anchors: dict `{variable.path: array}` or None for the variables' current values (theta_A).

    Example:

    >>> import numpy as np
    >>> v = keras.Variable(np.ones(3, "float32"), name="w")
    >>> ewc = ElasticWeightConsolidation([v], {v.path: np.array([1.0, 2.0, 0.0])}, strength=0.5)
    >>> v.assign([2.0, 2.0, 2.0])
    >>> float(ewc.penalty())  # 0.5 * (1 * 1 + 2 * 1 + 0 * 1)
    1.5
    """

    def __init__(self, variables, fisher, strength, anchors=None):
        if not strength >= 0:
            raise ValueError(f"strength (lambda) must be >= 0. Received: strength={strength!r}")
        self.variables = list(variables)
        missing = [v.path for v in self.variables if v.path not in fisher]
        if missing:
            raise ValueError(f"fisher has no entry for {missing[:3]}...; compute it over the same variables")
        self.strength = float(strength)
        self.fisher = [tf.constant(np.asarray(fisher[v.path], np.float32)) for v in self.variables]
        anchors = anchors or {v.path: keras.ops.convert_to_numpy(v) for v in self.variables}
        self.anchors = [tf.constant(np.asarray(anchors[v.path], np.float32)) for v in self.variables]

    @classmethod
    def from_model(cls, model, batches, strength, variables=None, max_examples=256):
        """Anchors `variables` (default: trainable) at their current values, Fisher from task A's `batches`."""
        variables = list(model.trainable_variables if variables is None else variables)
        fisher = diagonal_fisher(model, batches, variables, max_examples)
        return cls(variables, fisher, strength)

    def penalty(self):
        """The scalar `strength * sum_i F_i (theta_i - theta_A,i)^2` (float32)."""
        total = tf.constant(0.0)
        for v, f, a in zip(self.variables, self.fisher, self.anchors):
            total += tf.reduce_sum(f * tf.square(tf.cast(v, tf.float32) - a))
        return self.strength * total

    def wrap(self, loss):
        """A Keras loss `loss(y_true, y_pred) + penalty()` (per example; so the batch mean adds it once)."""
        loss = keras.losses.get(loss)

        def with_ewc(y_true, y_pred):
            per_example = loss.call(y_true, y_pred) if isinstance(loss, keras.losses.Loss) else loss(y_true, y_pred)
            return per_example + self.penalty()

        return with_ewc
