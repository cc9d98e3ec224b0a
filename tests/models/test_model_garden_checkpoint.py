"""A Model Garden BERT encoder checkpoint, read from its files, gives the encoder's outputs in Keras 3.

The checkpoints are written here from random arrays under the object paths Model Garden's encoders
track (`BertEncoderV2`'s attributes, the functional `BertEncoder`'s `layer_with_weights-N`), and the
converted backbone is compared with an independent numpy BERT forward pass over the same arrays.
Where `tf-models-official` is installed (`pip install -e '.[model-garden]'`, which pins TensorFlow
2.20), the last test also converts checkpoints written by Model Garden's own encoders.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from kerastune.models.backbones import load_backbone
from kerastune.models.bert_encoder import BertEncoder
from kerastune.models.model_garden_checkpoint import load_model_garden_checkpoint

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(25)]  # 30 WordPieces
SIZES = dict(vocabulary_size=30, hidden_dim=16, num_heads=2, intermediate_dim=32, num_layers=2, max_sequence_length=12,
             num_segments=2)
TOKEN_IDS = np.array([[2, 7, 9, 11, 3, 0, 0], [2, 5, 6, 3, 8, 12, 3]], "int32")
SEGMENT_IDS = np.array([[0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1]], "int32")
PADDING_MASK = (TOKEN_IDS != 0).astype("int32")
PADDING_MASK[1] = 1  # the second row has no padding


def random_arrays(seed=0, vocabulary_size=30, hidden_dim=16, num_heads=2, intermediate_dim=32, num_layers=2,
                  max_sequence_length=12, num_segments=2):
    """One BERT encoder's weights, by role; the shapes Model Garden's layers give them."""
    rng = np.random.default_rng(seed)
    head_dim = hidden_dim // num_heads

    def r(*shape, scale=0.3):
        return (rng.standard_normal(shape) * scale).astype("float32")

    def norm():
        return {"gamma": 1 + r(hidden_dim, scale=0.1), "beta": r(hidden_dim, scale=0.1)}

    blocks = [{
        "query": {"kernel": r(hidden_dim, num_heads, head_dim), "bias": r(num_heads, head_dim)},
        "key": {"kernel": r(hidden_dim, num_heads, head_dim), "bias": r(num_heads, head_dim)},
        "value": {"kernel": r(hidden_dim, num_heads, head_dim), "bias": r(num_heads, head_dim)},
        "attention_output": {"kernel": r(num_heads, head_dim, hidden_dim), "bias": r(hidden_dim)},
        "attention_norm": norm(),
        "intermediate": {"kernel": r(hidden_dim, intermediate_dim), "bias": r(intermediate_dim)},
        "output": {"kernel": r(intermediate_dim, hidden_dim), "bias": r(hidden_dim)},
        "output_norm": norm(),
    } for _ in range(num_layers)]
    return {
        "word": r(vocabulary_size, hidden_dim), "position": r(max_sequence_length, hidden_dim),
        "type": r(num_segments, hidden_dim), "embedding_norm": norm(), "blocks": blocks,
        "pooler": {"kernel": r(hidden_dim, hidden_dim), "bias": r(hidden_dim)},
    }


def node(**children):
    """A trackable object whose attributes are `children` (a checkpoint key segment each, e.g. `layer_with_weights-0`)."""
    obj = tf.Module()
    for name, child in children.items():
        setattr(obj, name, tf.Variable(child) if isinstance(child, np.ndarray) else child)
    return obj


def model_garden_block(block):
    """A `TransformerEncoderBlock`'s tracked sublayers, named as Model Garden names them."""
    return node(
        _attention_layer=node(_query_dense=node(**block["query"]), _key_dense=node(**block["key"]),
                              _value_dense=node(**block["value"]), _output_dense=node(**block["attention_output"])),
        _attention_layer_norm=node(**block["attention_norm"]),
        _intermediate_dense=node(**block["intermediate"]),
        _output_dense=node(**block["output"]),
        _output_layer_norm=node(**block["output_norm"]),
    )


def write_checkpoint(arrays, prefix, layout="v2", root="encoder", extra=None):
    """Writes `arrays` as `tf.train.Checkpoint(root=encoder)` of Model Garden's `BertEncoderV2` or functional `BertEncoder`."""
    if layout == "v2":
        encoder = node(
            _embedding_layer=node(embeddings=arrays["word"]),
            _position_embedding_layer=node(embeddings=arrays["position"]),
            _type_embedding_layer=node(embeddings=arrays["type"]),
            _embedding_norm_layer=node(**arrays["embedding_norm"]),
            _pooler_layer=node(**arrays["pooler"]),
        )
        encoder._transformer_layers = [model_garden_block(b) for b in arrays["blocks"]]  # keys `_transformer_layers/<i>/`
    else:  # a functional Keras 2 model tracks its layers with weights in order: `layer_with_weights-<n>`
        layers = [node(embeddings=arrays["word"]), node(embeddings=arrays["position"]), node(embeddings=arrays["type"]),
                  node(**arrays["embedding_norm"])] + [model_garden_block(b) for b in arrays["blocks"]]
        layers.append(node(**arrays["pooler"]))
        encoder = node(**{f"layer_with_weights-{n}": layer for n, layer in enumerate(layers)})
    for name, value in (extra or {}).items():
        setattr(encoder, name, tf.Variable(value))
    return tf.train.Checkpoint(**{root: encoder}).write(str(prefix))


def numpy_bert(arrays, token_ids, segment_ids, padding_mask, epsilon=1e-12):
    """Model Garden's BERT forward pass in numpy (float64): the sequence output, (batch, seq, hidden).

    Embeddings: LN(word + position + type); each block, post-LN: x = LN(x + MHA(x)),
    x = LN(x + W2 gelu_tanh(W1 x)), with gelu_tanh(u) = 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3))).
    """
    a = arrays

    def layer_norm(x, p):
        mean = x.mean(-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + epsilon) * p["gamma"] + p["beta"]

    def gelu_tanh(u):
        return 0.5 * u * (1 + np.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u ** 3)))

    seq = token_ids.shape[1]
    x = a["word"][token_ids] + a["position"][:seq][None] + a["type"][segment_ids]  # (batch, seq, hidden)
    x = layer_norm(x.astype("float64"), a["embedding_norm"])
    additive = (1.0 - padding_mask[:, None, None, :]) * -1e9  # (batch, 1, 1, key): padding keys get no weight
    for b in a["blocks"]:
        q, k, v = (np.einsum("bsd,dnh->bsnh", x, b[n]["kernel"]) + b[n]["bias"] for n in ("query", "key", "value"))
        scores = np.einsum("bqnh,bknh->bnqk", q, k) / math.sqrt(q.shape[-1]) + additive  # (batch, heads, q, k)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        context = np.einsum("bnqk,bknh->bqnh", weights, v)  # (batch, seq, heads, head_dim)
        attention = np.einsum("bqnh,nhd->bqd", context, b["attention_output"]["kernel"]) + b["attention_output"]["bias"]
        x = layer_norm(x + attention, b["attention_norm"])
        inner = gelu_tanh(x @ b["intermediate"]["kernel"] + b["intermediate"]["bias"])
        x = layer_norm(x + inner @ b["output"]["kernel"] + b["output"]["bias"], b["output_norm"])
    return x


def backbone_inputs():
    return {"token_ids": TOKEN_IDS, "segment_ids": SEGMENT_IDS, "padding_mask": PADDING_MASK}


@pytest.mark.parametrize("layout,root", [("v2", "encoder"), ("functional", "encoder"), ("functional", "model")])
def test_checkpoint_gives_the_numpy_bert_sequence_output(tmp_path, layout, root):
    arrays = random_arrays()
    prefix = write_checkpoint(arrays, tmp_path / "bert_model.ckpt", layout, root)
    backbone, tokenizer = load_model_garden_checkpoint(prefix, vocabulary=VOCAB)
    config = backbone.get_config()
    assert {k: config[k] for k in SIZES} == SIZES  # every size read from the shapes
    assert tokenizer.token_to_id("[CLS]") == 2
    out = backbone(backbone_inputs())
    expected = numpy_bert(arrays, TOKEN_IDS, SEGMENT_IDS, PADDING_MASK)
    np.testing.assert_allclose(out["sequence_output"].numpy(), expected, atol=1e-5)
    pooled = np.tanh(expected[:, 0] @ arrays["pooler"]["kernel"] + arrays["pooler"]["bias"])
    np.testing.assert_allclose(out["pooled_output"].numpy(), pooled, atol=1e-5)


def test_load_backbone_reads_a_checkpoint_directory_with_its_vocabulary(tmp_path):
    arrays = random_arrays(seed=1)
    directory = tmp_path / "uncased_L-2_H-16_A-2"
    directory.mkdir()
    prefix = write_checkpoint(arrays, directory / "bert_model.ckpt")
    (directory / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    backbone, tokenizer = load_backbone(str(directory))  # the directory alone: prefix and vocab.txt found in it
    assert tokenizer.vocabulary_size() == 30
    np.testing.assert_allclose(backbone(backbone_inputs())["sequence_output"].numpy(),
                               numpy_bert(arrays, TOKEN_IDS, SEGMENT_IDS, PADDING_MASK), atol=1e-5)
    # kerastune's own encoder takes the weights over (e.g. to save a backbone directory) with the same outputs
    encoder = BertEncoder.from_bert_backbone(backbone)
    np.testing.assert_allclose(encoder(backbone_inputs())["sequence_output"].numpy(),
                               backbone(backbone_inputs())["sequence_output"].numpy(), atol=1e-5)
    assert load_backbone(prefix)[0].num_layers == 2  # a prefix works too


def test_missing_unknown_and_mis_shaped_variables_name_the_key(tmp_path):
    arrays = random_arrays()
    del arrays["blocks"][1]["intermediate"]["bias"]
    with pytest.raises(ValueError, match=r"lacks the Model Garden BERT variable "
                                         r"'encoder/_transformer_layers/1/_intermediate_dense/bias/"):
        load_model_garden_checkpoint(write_checkpoint(arrays, tmp_path / "missing", "v2"), vocabulary=VOCAB)

    extra = {"_embedding_projection": np.zeros((16, 16), "float32")}
    with pytest.raises(ValueError, match=r"holds 'encoder/_embedding_projection/\.ATTRIBUTES/VARIABLE_VALUE'"):
        load_model_garden_checkpoint(write_checkpoint(random_arrays(), tmp_path / "unknown", "v2", extra=extra),
                                     vocabulary=VOCAB)

    arrays = random_arrays()
    arrays["blocks"][1]["output"]["kernel"] = np.zeros((32, 8), "float32")
    with pytest.raises(ValueError, match=r"'encoder/layer_with_weights-5/_output_dense/kernel/\.ATTRIBUTES/"
                                         r"VARIABLE_VALUE' has shape \(32, 8\) but transformer_layer_1/"
                                         r"feedforward_output_dense/kernel expects \(32, 16\)"):
        load_model_garden_checkpoint(write_checkpoint(arrays, tmp_path / "shape", "functional"), vocabulary=VOCAB)

    with pytest.raises(ValueError, match="holds no Model Garden BERT encoder"):
        load_model_garden_checkpoint(tf.train.Checkpoint(step=tf.Variable(1)).write(str(tmp_path / "other")))
    with pytest.raises(FileNotFoundError, match="no TF checkpoint there"):
        load_model_garden_checkpoint(str(tmp_path / "nothing"))
    with pytest.raises(ValueError, match="the vocabulary has 5 WordPieces but the checkpoint's word embedding has 30"):
        load_model_garden_checkpoint(write_checkpoint(random_arrays(), tmp_path / "vocab"), vocabulary=VOCAB[:5])
    with pytest.raises(ValueError, match="num_heads is read from the checkpoint's shapes"):
        load_model_garden_checkpoint(tmp_path / "vocab", vocabulary=VOCAB, num_heads=4)


def test_checkpoints_written_by_model_garden_itself(tmp_path):
    """Model Garden's own encoders, random-initialised, give the same sequence output after conversion (1e-5)."""
    networks = pytest.importorskip(
        "official.nlp.modeling.networks",
        reason="tf-models-official is not installed (pip install -e '.[model-garden]'; it pins tensorflow~=2.20.0)",
    )
    sizes = dict(vocab_size=30, hidden_size=16, num_layers=2, num_attention_heads=2, max_sequence_length=12,
                 type_vocab_size=2)
    inputs = {"input_word_ids": tf.constant(TOKEN_IDS), "input_mask": tf.constant(PADDING_MASK),
              "input_type_ids": tf.constant(SEGMENT_IDS)}
    for name, encoder in (("v2", networks.BertEncoderV2(inner_dim=32, **sizes)),
                          ("functional", networks.BertEncoder(intermediate_size=32, dict_outputs=True, **sizes))):
        expected = encoder(inputs)["sequence_output"].numpy()  # Keras 2 (tf_keras), Model Garden's own layers
        prefix = tf.train.Checkpoint(encoder=encoder).write(str(tmp_path / name / "ckpt"))
        backbone, _ = load_model_garden_checkpoint(prefix, vocabulary=VOCAB)
        np.testing.assert_allclose(backbone(backbone_inputs())["sequence_output"].numpy(), expected, atol=1e-5)
