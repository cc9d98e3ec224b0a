"""FGM / PGD inside fit(), against an independent reference that perturbs the embedding table instead."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.models.text_classifier import TextClassifier
from kerastune.training.adversarial_training import enable_adversarial_training

# every token id appears once in the batch, so perturbing table rows == perturbing embedding outputs
INPUTS = {
    "token_ids": np.array([[1, 2, 3, 4], [5, 6, 7, 8]], "int32"),
    "segment_ids": np.zeros((2, 4), "int32"),
    "padding_mask": np.ones((2, 4), "int32"),
}
LABELS = np.array([0, 1])
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _model(head_dropout=0.0):
    keras.utils.set_random_seed(0)
    model = TextClassifier(keras_hub.models.BertBackbone(12, 2, 2, 8, 16, max_sequence_length=8, dropout=0.0),
                           num_classes=2, pooling="mean", dropout=head_dropout)
    model.backbone.token_embedding.trainable = False
    return model


def _unit(g):
    return g / (np.sqrt((g ** 2).sum(axis=(1, 2), keepdims=True)) + 1e-12)


def _reference_gradients(model, method, epsilon, steps, step_size):
    """Clean + adversarial gradients, the perturbation added to the rows of the embedding table."""
    table = model.backbone.token_embedding.embeddings
    original = keras.ops.convert_to_numpy(table)
    ids = INPUTS["token_ids"]

    def loss_and_gradients(rows):
        table.assign(original + rows)
        with tf.GradientTape() as tape:
            tape.watch(table.value)
            loss = LOSS(LABELS, model(INPUTS, training=True))
        grads = tape.gradient(loss, model.trainable_weights + [table.value])
        table.assign(original)
        return grads[:-1], tf.convert_to_tensor(grads[-1]).numpy()[ids]  # (batch, seq, width)

    def rows_of(perturbation):
        rows = np.zeros_like(original)
        rows[ids] = perturbation
        return rows

    clean, toward = loss_and_gradients(np.zeros_like(original))
    if method == "fgm":
        perturbation = epsilon * _unit(toward)
    else:
        def project(r):
            norm = np.sqrt((r ** 2).sum(axis=(1, 2), keepdims=True))
            return r * np.minimum(1.0, epsilon / (norm + 1e-12))
        perturbation = project(step_size * _unit(toward))
        for _ in range(steps - 1):
            _, toward = loss_and_gradients(rows_of(perturbation))
            perturbation = project(perturbation + step_size * _unit(toward))
    adversarial, _ = loss_and_gradients(rows_of(perturbation))
    return [tf.convert_to_tensor(c) + tf.convert_to_tensor(a) for c, a in zip(clean, adversarial)]


@pytest.mark.parametrize("method,epsilon", [("fgm", 0.5), ("pgd", 0.2)])
def test_one_step_equals_the_reference_update(method, epsilon):
    reference_model = _model()
    expected = [keras.ops.convert_to_numpy(g) for g in _reference_gradients(reference_model, method, epsilon, 3, 0.1)]
    model = _model()
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    enable_adversarial_training(model, method, epsilon=epsilon, steps=3, step_size=0.1)
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss=LOSS, run_eagerly=True)
    model.train_on_batch(INPUTS, LABELS)
    for w, b, g in zip(model.trainable_weights, before, expected):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(w), b - g, rtol=1e-4, atol=1e-5, err_msg=w.path)


def test_adversarial_gradients_differ_from_plain_ones():
    plain, adversarial = _model(), _model()
    enable_adversarial_training(adversarial, "fgm", epsilon=1.0)
    for model, xla in ((plain, False), (adversarial, True)):  # the adversarial step XLA-compiled
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss=LOSS, jit_compile=xla)
        model.fit(INPUTS, LABELS, epochs=1, verbose=0)
    difference = max(np.abs(keras.ops.convert_to_numpy(a) - keras.ops.convert_to_numpy(b)).max()
                     for a, b in zip(plain.trainable_weights, adversarial.trainable_weights))
    assert difference > 1e-4
    np.testing.assert_allclose(adversarial.predict(INPUTS, verbose=0),  # prediction is never perturbed
                               adversarial(INPUTS, training=False), atol=1e-6)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match=r"adversarial must be one of \('fgm', 'pgd'\). Received: adversarial='gan'"):
        enable_adversarial_training(_model(), "gan")
    with pytest.raises(ValueError, match="adversarial_epsilon must be > 0. Received: adversarial_epsilon=0"):
        enable_adversarial_training(_model(), "fgm", epsilon=0)
