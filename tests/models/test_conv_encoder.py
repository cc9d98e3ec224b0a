import keras
import numpy as np
import pytest

from kerastune.models.conv_encoder import ConvEncoder
from kerastune.models.text_classifier import TextClassifier
from kerastune.models.token_classifier import TokenClassifier


def _inputs(lengths, width, vocabulary_size, seed=0):
    rng = np.random.default_rng(seed)
    mask = (np.arange(width)[None, :] < np.array(lengths)[:, None]).astype("int32")
    ids = rng.integers(1, vocabulary_size, (len(lengths), width)).astype("int32") * mask
    return {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}


def _convolve(layer, x):
    """numpy: a 'same' 1-D convolution + ReLU."""
    kernel, bias = layer.get_weights()  # (width, dim, filters), (filters,)
    width = kernel.shape[0]
    padded = np.pad(x, ((0, 0), (width // 2, width // 2), (0, 0)))
    windows = np.stack([padded[:, i:i + x.shape[1]] for i in range(width)], axis=2)  # (batch, seq, width, dim)
    return np.maximum(np.einsum("bswd,wdf->bsf", windows, kernel) + bias, 0.0)


def _reference(encoder, inputs):
    """numpy: masked embeddings, 'same' 1-D convolutions + ReLU, concatenated, masked, then each residual layer
    `h + relu(conv(h))` masked, max over time."""
    table = encoder.token_embedding.get_weights()[0]
    mask = inputs["padding_mask"][..., None].astype("float32")
    x = table[inputs["token_ids"]] * mask  # (batch, seq, dim)
    sequence = np.concatenate([_convolve(layer, x) for layer in encoder.convolutions], axis=-1) * mask
    for layer in encoder.residual_convolutions:
        sequence = (sequence + _convolve(layer, sequence)) * mask
    return sequence, sequence.max(axis=1)


@pytest.mark.parametrize("num_layers", [1, 3])
def test_outputs_match_a_numpy_reference_and_ignore_padding(num_layers):
    encoder = ConvEncoder(vocabulary_size=30, embedding_dim=6, filters=4, kernel_sizes=(1, 3, 5), dropout=0.0,
                          num_layers=num_layers)
    assert len(encoder.residual_convolutions) == num_layers - 1
    x = _inputs([7, 4, 0], 7, 30)
    got = encoder(x)
    want_sequence, want_pooled = _reference(encoder, x)
    np.testing.assert_allclose(got["sequence_output"], want_sequence, atol=1e-5)
    np.testing.assert_allclose(got["pooled_output"], want_pooled, atol=1e-5)
    assert got["pooled_output"].shape == (3, 12) and encoder.hidden_dim == 12
    assert not np.any(keras.ops.convert_to_numpy(got["pooled_output"])[2])  # a text of no tokens pools to 0
    longer = {k: np.pad(v, ((0, 0), (0, 5))) for k, v in x.items()}  # five more padded positions
    longer["token_ids"][:, 7:] = 9  # whatever ids padded positions hold
    np.testing.assert_allclose(encoder(longer)["pooled_output"], got["pooled_output"], atol=1e-6)


def test_a_classifier_over_it_saves_and_loads_as_a_keras_file(tmp_path):
    model = TextClassifier(ConvEncoder(vocabulary_size=30, embedding_dim=6, filters=4, kernel_sizes=(3,),
                                       num_layers=2), 2)
    x = _inputs([5, 2], 6, 30, seed=1)
    model.save(tmp_path / "student.keras")
    loaded = keras.saving.load_model(tmp_path / "student.keras")
    assert loaded.backbone.get_config() == model.backbone.get_config()
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)


def test_a_tagger_takes_it_too():
    tagger = TokenClassifier(ConvEncoder(vocabulary_size=30, embedding_dim=6, filters=4, kernel_sizes=(3,)), 5)
    assert tuple(tagger(_inputs([6, 3], 6, 30)).shape) == (2, 6, 5)


@pytest.mark.parametrize("arguments, received", [
    (dict(kernel_sizes=(2,)), "kernel_sizes=(2,)"), (dict(kernel_sizes=()), "kernel_sizes=()"),
    (dict(filters=0), "filters=0"), (dict(embedding_dim=2.5), "embedding_dim=2.5"),
    (dict(num_layers=0), "num_layers=0"),
])
def test_bad_arguments_are_refused(arguments, received):
    with pytest.raises(ValueError, match=f"Received: {received}".replace("(", r"\(").replace(")", r"\)")):
        ConvEncoder(**{"vocabulary_size": 30, "embedding_dim": 6, **arguments})
