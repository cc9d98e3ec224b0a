"""`attention_map`: weights equal a numpy softmax(Q K^T / sqrt(d) + mask) from the copied Q/K weights,
for KerasHub's BertBackbone, kerastune's BertEncoder (copied from it) and kerastune's causal GPT."""

import keras
import keras_hub
import numpy as np
import pytest

from kerastune.data.character_tokenizer import CharacterTokenizer
from kerastune.models.bert_encoder import BertEncoder
from kerastune.models.gpt import GPT
from kerastune.models.text_classifier import TextClassifier
from kerastune.plots import attention_map
from tests.helpers import randomize_weights
from tests.plots.png import assert_png

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a", "dog"]
SENTENCE = "the cat sat on the mat"  # [CLS] + 6 words + [SEP]: 8 tokens


def weights(model):
    return {w.path.split("/", 1)[1] if w.path.startswith("gpt/") else w.path: w for w in model.weights}


def sharpen_attention(model, prefix):
    """Q/K kernels ~ N(0, 1) instead of N(0, 0.02), so the attention is far from uniform."""
    randomize_weights([variable for name, variable in weights(model).items()
                       if name.startswith(prefix) and name.rsplit("/", 2)[-2] in ("query", "key")], seed=3)


def layer_norm(x, gamma, beta, epsilon):
    mean, variance = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def softmax_attention(x, w, prefix, head, causal=False):
    """softmax(q k^T / sqrt(d) + mask) for one head, q = x W_q + b_q, k = x W_k + b_k (numpy)."""
    q = np.einsum("sc,chd->hsd", x, w[f"{prefix}/query/kernel"].numpy()) + w[f"{prefix}/query/bias"].numpy()[:, None]
    k = np.einsum("sc,chd->hsd", x, w[f"{prefix}/key/kernel"].numpy()) + w[f"{prefix}/key/bias"].numpy()[:, None]
    scores = q[head] @ k[head].T / np.sqrt(q.shape[-1])  # (seq, seq)
    if causal:
        scores = np.where(np.tril(np.ones_like(scores)) > 0, scores, -1e9)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    return scores / scores.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def bert():
    keras.utils.set_random_seed(1)
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB)
    backbone = keras_hub.models.BertBackbone(len(VOCAB), 2, 2, 8, 16, max_sequence_length=12, dropout=0.0)
    sharpen_attention(backbone, "transformer_layer_")
    return backbone, tokenizer


def test_keras_hub_bert_layer_0_matches_numpy_from_the_copied_weights(bert, tmp_path):
    backbone, tokenizer = bert
    w = weights(backbone)
    ids = [2] + [VOCAB.index(t) for t in SENTENCE.split()] + [3]
    x = (w["token_embedding/embeddings"].numpy()[ids] + w["position_embedding/embeddings"].numpy()[: len(ids)]
         + w["segment_embedding/embeddings"].numpy()[0])
    x = layer_norm(x, w["embeddings_layer_norm/gamma"].numpy(), w["embeddings_layer_norm/beta"].numpy(), 1e-12)
    for head in (0, 1):
        got = attention_map(backbone, tokenizer, SENTENCE, layer=0, head=head)
        want = softmax_attention(x, w, "transformer_layer_0/self_attention_layer", head)
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert got.max() > 0.5  # far from uniform (1/8): the check is not trivially met
    path = tmp_path / "bert.png"
    attention_map(backbone, tokenizer, SENTENCE, layer=1, head=1, path=path)
    assert_png(path, width=int(round((3.0 + 0.35 * 8) * 100)), height=int(round((2.0 + 0.35 * 8) * 100)))


def test_kerastune_bert_encoder_with_copied_weights_gives_the_same_map_and_task_models_unwrap(bert):
    backbone, tokenizer = bert
    encoder = BertEncoder.from_bert_backbone(backbone)
    for layer, head in ((0, 1), (1, 0), (1, 1)):
        ours = attention_map(encoder, tokenizer, SENTENCE, layer, head)
        np.testing.assert_allclose(ours, attention_map(backbone, tokenizer, SENTENCE, layer, head), atol=1e-5)
        np.testing.assert_allclose(ours.sum(-1), 1.0, atol=1e-5)
    classifier = TextClassifier(encoder, num_classes=2)
    np.testing.assert_array_equal(attention_map(classifier, tokenizer, SENTENCE, 1, 1),
                                  attention_map(encoder, tokenizer, SENTENCE, 1, 1))


def test_gpt_weights_match_numpy_are_causal_and_rows_sum_to_one(tmp_path):
    tokenizer = CharacterTokenizer.from_corpus("hello world")
    gpt = GPT(vocabulary_size=8, sequence_length=16, num_layers=2, num_heads=2, hidden_dim=8, tokenizer=tokenizer)
    sharpen_attention(gpt, "decoder_block_")
    w = weights(gpt)
    ids = np.asarray(tokenizer("hello world"))
    x = w["token_embedding/embeddings"].numpy()[ids] + w["position_embedding/embeddings"].numpy()[: len(ids)]
    h = layer_norm(x, w["decoder_block_0/self_attention_norm/gamma"].numpy(),
                   w["decoder_block_0/self_attention_norm/beta"].numpy(), 1e-5)  # pre-LN: attention reads LN(x)
    got = attention_map(gpt, None, "hello world", layer=0, head=1)  # None: the GPT's own tokenizer
    np.testing.assert_allclose(got, softmax_attention(h, w, "decoder_block_0/self_attention", 1, causal=True), atol=1e-5)
    path = tmp_path / "gpt.png"
    deeper = attention_map(gpt, tokenizer, "hello world", layer=1, head=0, path=path)
    for weights_ in (got, deeper):
        assert weights_.shape == (11, 11)
        np.testing.assert_allclose(weights_.sum(-1), 1.0, atol=1e-5)
        np.testing.assert_array_equal(np.triu(weights_, k=1), 0.0)  # no query sees a later token
    assert_png(path, width=int(round((3.0 + 0.35 * 11) * 100)), height=int(round((2.0 + 0.35 * 11) * 100)))


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"layer": 2}, "layer must be an int in \\[0, 2\\).*Received: layer=2"),
        ({"layer": -1}, "Received: layer=-1"),
        ({"head": 2}, "head must be an int in \\[0, 2\\).*Received: head=2"),
        ({"sentence": "the cat " * 6}, "reads at most 12.*Received: sentence="),
        ({"sentence": ""}, "non-empty str"),
        ({"path": "map.jpg"}, "ending in .png"),
        ({"tokenizer": None}, "needs its tokenizer"),
    ],
)
def test_bad_input_is_a_clear_error(bert, arguments, message):
    backbone, tokenizer = bert
    call = {"tokenizer": tokenizer, "sentence": SENTENCE, "layer": 0, "head": 0, **arguments}
    with pytest.raises(ValueError, match=message):
        attention_map(backbone, **call)


def test_a_model_without_transformer_blocks_is_a_clear_error():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="Received: model_or_backbone=Sequential"):
        attention_map(model, None, "hello", 0, 0)
