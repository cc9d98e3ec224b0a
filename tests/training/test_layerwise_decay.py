import keras
import keras_hub
import numpy as np
import pytest

from kerastune.models.bert_encoder import BertEncoder
from kerastune.models.text_classifier import TextClassifier
from kerastune.training import AdamWWithMultipliers, adamw, layerwise_decay_multipliers


@pytest.mark.parametrize("backbone", [
    lambda: keras_hub.models.BertBackbone(100, 2, 2, 8, 16, max_sequence_length=16),
    lambda: BertEncoder(vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16),
])
def test_multipliers_decay_from_the_head_down_to_the_embeddings(backbone):
    model = TextClassifier(backbone(), num_classes=2, pooling="mean")
    multipliers = layerwise_decay_multipliers(model, 0.5)
    assert set(multipliers) == {v.path for v in model.trainable_variables}
    for path, factor in multipliers.items():
        if path.startswith("logits/"):
            assert factor == 1.0
        elif "transformer_layer_1/" in path:
            assert factor == 0.5
        elif "transformer_layer_0/" in path:
            assert factor == 0.25
        else:  # token/position/segment embeddings and their layer norm
            assert "embedding" in path and factor == 0.125, path
    with pytest.raises(ValueError, match=r"must be in \(0, 1\]"):
        layerwise_decay_multipliers(model, 1.5)
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="needs a backbone with `transformer_layer_<i>` layers"):
        layerwise_decay_multipliers(plain, 0.9)


def test_each_variable_steps_like_plain_adamw_at_its_scaled_rate():
    rng = np.random.default_rng(0)
    start = [rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=(2,)).astype("float32")]
    grads = [[rng.normal(size=w.shape).astype("float32") for w in start] for _ in range(3)]

    def run(optimizer, variables, which=(0, 1)):
        for step in grads:
            optimizer.apply([step[i] for i in which], variables)
        return [np.asarray(v) for v in variables]

    a, b = keras.Variable(start[0], name="a"), keras.Variable(start[1], name="b")
    scaled = run(AdamWWithMultipliers(learning_rate=0.1, weight_decay=0.0, learning_rate_multipliers={b.path: 0.25}),
                 [a, b])
    reference_a = run(keras.optimizers.AdamW(learning_rate=0.1, weight_decay=0.0), [keras.Variable(start[0])], [0])
    reference_b = run(keras.optimizers.AdamW(learning_rate=0.025, weight_decay=0.0), [keras.Variable(start[1])], [1])
    unscaled_b = run(keras.optimizers.AdamW(learning_rate=0.1, weight_decay=0.0), [keras.Variable(start[1])], [1])
    np.testing.assert_allclose(scaled[0], reference_a[0], rtol=1e-6)
    np.testing.assert_allclose(scaled[1], reference_b[0], rtol=1e-6)
    assert not np.allclose(scaled[1], unscaled_b[0])

def test_optimizer_round_trips_and_the_factory_builds_it():
    optimizer = adamw(1e-3, learning_rate_multipliers={"x/kernel": 0.5}, global_clipnorm=1.0)
    assert isinstance(optimizer, AdamWWithMultipliers)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(again, AdamWWithMultipliers) and again.learning_rate_multipliers == {"x/kernel": 0.5}
    assert type(adamw(1e-3)) is AdamWWithMultipliers and adamw(1e-3).learning_rate_multipliers == {}  # one class
