"""`kerastune.api`: a model built with a dtype policy saves and loads with it."""

import keras
import numpy as np
import pytest

from kerastune.models import BertEncoder, ConvEncoder, ImageClassifier, MLPClassifier, VisionTransformer

TEXT = {k: np.ones((2, 5), "int32") for k in ("token_ids", "segment_ids", "padding_mask")}
IMAGES = np.ones((2, 4, 4), "float32")
BUILDERS = {
    "vision_transformer": (lambda dtype: VisionTransformer((4, 4), 2, 1, 2, 8, 16, dtype=dtype), IMAGES),
    "mlp_classifier": (lambda dtype: MLPClassifier(3, (4, 4), hidden_dim=4, dtype=dtype), IMAGES),
    "bert_encoder": (lambda dtype: BertEncoder(20, 1, 2, 8, 16, max_sequence_length=8, dtype=dtype), TEXT),
    "conv_encoder": (lambda dtype: ConvEncoder(20, embedding_dim=8, filters=4, dtype=dtype), TEXT),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_a_mixed_precision_model_saves_and_loads_in_mixed_precision(name, tmp_path):
    build, inputs = BUILDERS[name]
    model = build("mixed_bfloat16")
    assert model.dtype_policy.name == "mixed_bfloat16"  # Keras's functional Model would say float32
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.dtype_policy.name == "mixed_bfloat16"
    assert {layer.dtype_policy.name for layer in loaded.layers if layer.weights} >= {"mixed_bfloat16"}
    for expected, actual in zip(keras.tree.flatten(model(inputs)), keras.tree.flatten(loaded(inputs))):
        np.testing.assert_allclose(np.asarray(actual, "float32"), np.asarray(expected, "float32"), atol=1e-2)
    assert build(None).dtype_policy.name == "float32"


def test_the_policy_reaches_a_backbone_inside_a_task(tmp_path):
    model = ImageClassifier(VisionTransformer((4, 4), 2, 1, 2, 8, 16, dtype="mixed_bfloat16"), num_classes=2)
    model.save(tmp_path / "model.keras")
    backbone = keras.saving.load_model(tmp_path / "model.keras").backbone
    assert backbone.dtype_policy.name == "mixed_bfloat16" and backbone.patch_embedding.compute_dtype == "bfloat16"
