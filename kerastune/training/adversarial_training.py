"""Adversarial training inside `fit()`: FGM and PGD perturb the token-embedding output.

FGM (Miyato et al., 2017): `r = epsilon * g / ||g||`, g the gradient of the loss with respect to
the token embeddings of each example (the norm over its positions and width); the weights get the
gradients of the clean loss plus those of the loss at `embeddings + r`. PGD (Madry et al., 2018):
`steps` ascent steps of `step_size * g / ||g||`, each projected back into the ball
`||r|| <= epsilon`, then the same sum. One optimizer update per batch either way, so schedules,
gradient accumulation, the weight average, mixed precision (loss scaling) and `tf.distribute`
strategies work as in plain `fit()`.

The perturbation enters through the backbone's `token_embedding` layer, whose output gets `r` added
while a train step sets it; prediction, evaluation and export never see it.
"""

import keras
import tensorflow as tf

from kerastune.training.train_step_override import set_train_step, track_loss

ADVERSARIAL_METHODS = ("fgm", "pgd")


class _EmbeddingPerturbation:
    """Stands in for a token-embedding layer's `call`: its output plus `perturbation` when one is set."""

    def __init__(self, layer):
        self.call = layer.call
        self.width = int(layer.output_dim)
        self.perturbation = None

    def __call__(self, *args, **kwargs):
        outputs = self.call(*args, **kwargs)
        if self.perturbation is None or kwargs.get("reverse"):
            return outputs
        return outputs + tf.cast(self.perturbation, outputs.dtype)


class AdversarialTraining:
    """FGM or PGD for a task model over a backbone with a `token_embedding` layer.

    Use `enable_adversarial_training(model, ...)`; the model's `train_step` calls `train_step` here.

    Args:
        method: `"fgm"` or `"pgd"`.
        epsilon: float, the perturbation's L2 norm per example (FGM) or its bound (PGD). 0.2: the best
            of 1.0 and 0.2 on SST-2 with all-MiniLM-L6-v2, whose word pieces have norm ~1.1
            (`benchmarks/README.md`); about the articles' 1.0 normalised over a batch of 32.
        steps: int, PGD's ascent steps.
        step_size: float, PGD's step length (L2 norm per example).
    """

    def __init__(self, method="fgm", epsilon=0.2, steps=3, step_size=0.1):
        if method not in ADVERSARIAL_METHODS:
            raise ValueError(f"adversarial must be one of {ADVERSARIAL_METHODS}. Received: adversarial={method!r}")
        if not epsilon > 0:
            raise ValueError(f"adversarial_epsilon must be > 0. Received: adversarial_epsilon={epsilon!r}")
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"adversarial_steps must be an int >= 1. Received: adversarial_steps={steps!r}")
        self.method, self.epsilon, self.steps, self.step_size = method, float(epsilon), steps, float(step_size)
        self.hook = None

    def install(self, backbone):
        layer = getattr(backbone, "token_embedding", None)
        if not isinstance(layer, keras.layers.Layer) or not hasattr(layer, "output_dim"):
            raise ValueError(f"Adversarial training perturbs a backbone's `token_embedding` layer; "
                             f"{type(backbone).__name__} has none. Received: backbone={backbone.name!r}")
        self.hook = _EmbeddingPerturbation(layer)
        layer.call = self.hook

    @staticmethod
    def _unit(gradient):
        norm = tf.sqrt(tf.reduce_sum(tf.square(gradient), axis=[1, 2], keepdims=True))  # (batch, 1, 1)
        return gradient / (norm + 1e-12)

    def _project(self, perturbation):
        norm = tf.sqrt(tf.reduce_sum(tf.square(perturbation), axis=[1, 2], keepdims=True))
        return perturbation * tf.minimum(1.0, self.epsilon / (norm + 1e-12))

    def _loss(self, model, x, y, sample_weight, perturbation):
        self.hook.perturbation = perturbation
        try:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x, y, y_pred, sample_weight, training=True)
        finally:
            self.hook.perturbation = None
        return y_pred, loss

    def train_step(self, model, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        token_ids = x["token_ids"] if isinstance(x, dict) else x
        zero = tf.zeros(tf.concat([tf.shape(token_ids), [self.hook.width]], axis=0))  # (batch, seq, width)
        weights = model.trainable_weights
        with tf.GradientTape() as tape:
            tape.watch(zero)
            y_pred, loss = self._loss(model, x, y, sample_weight, zero)
            track_loss(model, loss, tf.shape(token_ids)[0])
            scaled = model.optimizer.scale_loss(loss)
        *gradients, toward = tape.gradient(scaled, weights + [zero])
        if self.method == "fgm":
            perturbation = self.epsilon * self._unit(toward)
        else:
            perturbation = self._project(self.step_size * self._unit(toward))
            for _ in range(self.steps - 1):
                with tf.GradientTape() as tape:
                    tape.watch(perturbation)
                    _, adversarial = self._loss(model, x, y, sample_weight, perturbation)
                    adversarial = model.optimizer.scale_loss(adversarial)
                toward = tape.gradient(adversarial, perturbation)
                perturbation = self._project(perturbation + self.step_size * self._unit(toward))
        perturbation = tf.stop_gradient(perturbation)
        with tf.GradientTape() as tape:
            _, adversarial = self._loss(model, x, y, sample_weight, perturbation)
            adversarial = model.optimizer.scale_loss(adversarial)
        adversarial_gradients = tape.gradient(adversarial, weights)
        gradients = [_add(g, a) for g, a in zip(gradients, adversarial_gradients)]
        model.optimizer.apply_gradients(zip(gradients, weights))
        return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def _add(gradient, other):
    """The sum of two gradients, either of which may be None or sparse (an embedding's IndexedSlices)."""
    if gradient is None or other is None:
        return other if gradient is None else gradient
    if isinstance(gradient, tf.IndexedSlices) or isinstance(other, tf.IndexedSlices):
        return tf.convert_to_tensor(gradient) + tf.convert_to_tensor(other)
    return gradient + other


def enable_adversarial_training(model, method="fgm", epsilon=0.2, steps=3, step_size=0.1):
    """Makes `model.fit` train adversarially (FGM or PGD); call before `fit` (TensorFlow backend).

    Args:
        model: a `BackboneTask` (`TextClassifier`, `TokenClassifier`) over a backbone with a
            `token_embedding` layer (KerasHub `BertBackbone`, kerastune `BertEncoder`).
        method, epsilon, steps, step_size: see `AdversarialTraining`.

    Example:

    >>> enable_adversarial_training(classifier, "fgm", epsilon=0.2)  # doctest: +SKIP
    >>> classifier.fit(train_batches)  # doctest: +SKIP
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError("Adversarial training's train step is written for the TensorFlow backend. "
                         f"Received: KERAS_BACKEND={keras.backend.backend()!r}")
    training = AdversarialTraining(method, epsilon, steps, step_size)
    set_train_step(model, training)
    training.install(model.backbone)
    return training
