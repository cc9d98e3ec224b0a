import keras
import keras_hub
import numpy as np

from kerastune.models.bert_encoder import BertEncoder
from tests.helpers import assert_config_round_trip, assert_keras_save_load


def inputs():
    rng = np.random.default_rng(0)
    mask = np.array([[1] * 7, [1] * 4 + [0] * 3], "int32")
    return {
        "token_ids": rng.integers(1, 60, (2, 7)).astype("int32") * mask,
        "segment_ids": np.array([[0, 0, 0, 1, 1, 1, 1], [0] * 7], "int32"),
        "padding_mask": mask,
    }


def test_matches_keras_hub_bert_backbone_with_copied_weights():
    keras.utils.set_random_seed(1)
    reference = keras_hub.models.BertBackbone(60, 2, 2, 16, 32, dropout=0.0, max_sequence_length=24)
    encoder = BertEncoder.from_bert_backbone(reference)
    x = inputs()
    want, got = reference(x), encoder(x)
    mask = x["padding_mask"].astype(bool)
    for key in ("sequence_output", "pooled_output"):
        w, g = keras.ops.convert_to_numpy(want[key]), keras.ops.convert_to_numpy(got[key])
        if key == "sequence_output":
            w, g = w[mask], g[mask]
        np.testing.assert_allclose(g, w, atol=1e-5)
    assert len(encoder.weights) == len(reference.weights)


def test_embed_then_encode_is_the_call_and_token_embedding_is_exposed():
    encoder = BertEncoder(60, 1, 2, 8, 16, dropout=0.0, max_sequence_length=16)
    x = inputs()
    out = encoder.encode(encoder.embed(x), x["padding_mask"])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out["pooled_output"]), keras.ops.convert_to_numpy(encoder(x)["pooled_output"]), atol=1e-6
    )
    assert tuple(encoder.token_embedding.embeddings.shape) == (60, 8)


def test_round_trips_and_saves(tmp_path):
    encoder = BertEncoder(60, 2, 2, 8, 16, max_sequence_length=16)
    assert_config_round_trip(encoder)
    assert_keras_save_load(encoder, inputs(), tmp_path)
