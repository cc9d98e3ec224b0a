import os

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.export.packed_rows import packed_logits, packs
from kerastune.models.sentence_encoder import SentenceEncoder


def tiny_backbone(seed=0):
    keras.utils.set_random_seed(seed)
    return keras_hub.models.BertBackbone(30, 2, 2, 16, 32, max_sequence_length=16, dropout=0.0)


def inputs(lengths, width=8, seed=0):
    rng = np.random.default_rng(seed)
    mask = (np.arange(width)[None, :] < np.asarray(lengths)[:, None]).astype("int32")
    token_ids = rng.integers(5, 30, (len(lengths), width)).astype("int32") * mask
    return {"token_ids": token_ids, "segment_ids": np.zeros_like(mask), "padding_mask": mask}


@pytest.mark.parametrize("pooling", ["mean", "cls", "pooled"])
@pytest.mark.parametrize("normalize", [True, False])
def test_embeddings_are_the_pooled_backbone_output(pooling, normalize):
    backbone = tiny_backbone()
    encoder = SentenceEncoder(backbone, pooling=pooling, normalize=normalize)
    x = inputs([3, 8, 1])
    features = {k: keras.ops.convert_to_numpy(v) for k, v in backbone(x).items()}
    mask = x["padding_mask"][:, :, None]
    expected = {"mean": (features["sequence_output"] * mask).sum(1) / mask.sum(1),
                "cls": features["sequence_output"][:, 0], "pooled": features["pooled_output"]}[pooling]
    if normalize:
        expected = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    got = keras.ops.convert_to_numpy(encoder(x))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert encoder.embedding_dim == 16


def test_padding_does_not_change_an_embedding():
    encoder = SentenceEncoder(tiny_backbone())
    x = inputs([4], width=4)
    wider = {k: np.pad(v, [(0, 0), (0, 5)]) for k, v in x.items()}
    np.testing.assert_allclose(encoder(x), encoder(wider), rtol=1e-5, atol=1e-6)


def test_head_alone_matches_the_model_and_packed_rows_match_too():
    encoder = SentenceEncoder(tiny_backbone())
    x = inputs([3, 8, 1, 5])
    features = encoder.backbone(x)
    np.testing.assert_allclose(encoder.head_from_backbone_outputs(features, x["padding_mask"]), encoder(x),
                               rtol=1e-5, atol=1e-6)
    assert packs(encoder)
    packed = packed_logits(encoder)(**{k: tf.constant(v) for k, v in x.items()})
    np.testing.assert_allclose(packed, encoder(x), rtol=1e-4, atol=1e-5)


def test_keras_save_and_load(tmp_path):
    encoder = SentenceEncoder(tiny_backbone(), pooling="cls", normalize=False)
    path = os.path.join(tmp_path, "encoder.keras")
    encoder.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, SentenceEncoder) and loaded.pooling == "cls" and not loaded.normalize
    x = inputs([3, 8])
    np.testing.assert_allclose(loaded(x), encoder(x), rtol=1e-6)


def test_unused_pooler_is_frozen_and_bad_pooling_is_refused():
    backbone = tiny_backbone()
    SentenceEncoder(backbone, pooling="mean")
    assert not backbone.pooled_dense.trainable
    with pytest.raises(ValueError, match="pooling must be one of .* Received: pooling='max'"):
        SentenceEncoder(tiny_backbone(), pooling="max")
