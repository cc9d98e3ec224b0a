import keras
import numpy as np
import pytest

from kerastune.training.elastic_weight_consolidation import ElasticWeightConsolidation, diagonal_fisher


def test_penalty_equals_the_formula_and_is_zero_at_the_anchor():
    rng = np.random.default_rng(0)
    a = keras.Variable(rng.normal(size=(3, 2)).astype("float32"), name="a")
    b = keras.Variable(rng.normal(size=(4,)).astype("float32"), name="b")
    fisher = {a.path: rng.uniform(size=(3, 2)), b.path: rng.uniform(size=(4,))}
    ewc = ElasticWeightConsolidation([a, b], fisher, strength=7.0)
    assert float(ewc.penalty()) == 0.0  # theta == theta_A
    anchor_a, anchor_b = a.numpy().copy(), b.numpy().copy()
    a.assign(anchor_a + rng.normal(size=(3, 2)).astype("float32"))
    b.assign(anchor_b + rng.normal(size=(4,)).astype("float32"))
    expected = 7.0 * (np.sum(fisher[a.path] * (a.numpy() - anchor_a) ** 2) + np.sum(fisher[b.path] * (b.numpy() - anchor_b) ** 2))
    np.testing.assert_allclose(float(ewc.penalty()), expected, rtol=1e-5)


def test_fisher_is_the_mean_squared_per_example_gradient_of_a_logistic_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    x = np.random.default_rng(1).normal(size=(5, 3)).astype("float32")
    y = np.array([0, 1, 1, 0, 1], "int32")
    fisher = diagonal_fisher(model, [(x[:3], y[:3]), (x[3:], y[3:])])
    w, bias = (v.numpy() for v in model.weights)
    logits = x @ w + bias
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    residual = np.eye(2)[y] - p  # d log p(y|x) / d logits
    grads_w = np.einsum("ni,nj->nij", x, residual)
    np.testing.assert_allclose(fisher[model.weights[0].path], (grads_w ** 2).mean(0), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(fisher[model.weights[1].path], (residual ** 2).mean(0), rtol=1e-4, atol=1e-7)


def test_wrapped_loss_adds_the_penalty_once_and_pulls_weights_back():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    kernel = model.weights[0]
    ewc = ElasticWeightConsolidation([kernel], {kernel.path: np.ones((3, 2))}, strength=100.0)
    anchor = kernel.numpy().copy()
    kernel.assign(anchor + 1.0)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x, y = np.zeros((4, 3), "float32"), np.zeros(4, "int32")
    wrapped = ewc.wrap(loss)
    np.testing.assert_allclose(np.mean(wrapped(y, model(x))), float(loss(y, model(x))) + 600.0, rtol=1e-5)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss=wrapped)
    model.fit(x, y, epochs=20, verbose=0)
    assert np.abs(kernel.numpy() - anchor).mean() < 0.1


def test_bad_arguments():
    v = keras.Variable(np.ones(2, "float32"), name="v")
    with pytest.raises(ValueError, match="strength"):
        ElasticWeightConsolidation([v], {v.path: np.ones(2)}, strength=-1.0)
    with pytest.raises(ValueError, match="no entry"):
        ElasticWeightConsolidation([v], {}, strength=1.0)
