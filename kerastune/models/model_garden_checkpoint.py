"""A TF Model Garden BERT encoder checkpoint, read from its files, as the Keras 3 backbone recipes fine-tune.

Model Garden's NLP code (`tf-models-official`) is Keras 2 (`tf_keras`), so its encoders cannot be
fine-tuned by Keras 3 directly. Its checkpoints are plain TF2 object-based checkpoints, though, and
`tf.train.load_checkpoint` reads them without Model Garden installed. This module maps their
variables onto KerasHub's `BertBackbone` (the class Hugging Face directories and KerasHub presets
load into, `kerastune.models.backbones`): the same architecture, as KerasHub's BERT is the Keras 3
port of Model Garden's (post-LN blocks, the tanh approximation of GELU, layer-norm epsilon 1e-12).

Two checkpoint layouts are read, both as `tf.train.Checkpoint(encoder=...)` (or `model=...`, the
name older checkpoints use) writes them, each variable under `ROOT/<object path>/.ATTRIBUTES/VARIABLE_VALUE`:

- `BertEncoderV2` (official/nlp/modeling/networks/bert_encoder.py, the layer the current configs
  build): `_embedding_layer/embeddings`, `_position_embedding_layer/embeddings`,
  `_type_embedding_layer/embeddings`, `_embedding_norm_layer/{gamma,beta}`,
  `_transformer_layers/<i>/...`, `_pooler_layer/{kernel,bias}`;
- the functional `BertEncoder` (the published TF2 BERT checkpoints): the same weights as
  `layer_with_weights-0` (word), `-1` (position), `-2` (type), `-3` (embedding layer norm),
  `-4` ... `-(3 + num_layers)` (the blocks) and `-(4 + num_layers)` (the pooler).

Inside a block (`TransformerEncoderBlock`, official/nlp/modeling/layers/transformer_encoder_block.py):
`_attention_layer/_{query,key,value}_dense/{kernel,bias}` (kernels (hidden, heads, head_dim)),
`_attention_layer/_output_dense` (heads, head_dim, hidden), `_attention_layer_norm`,
`_intermediate_dense`, `_output_dense`, `_output_layer_norm`.

Every size (vocabulary, hidden, heads, intermediate, layers, positions, segments) is read from the
shapes; a missing variable, an unknown one under the encoder's root, or a shape that disagrees is
an error naming the key. Optimizer slots (`.OPTIMIZER_SLOT`) and other roots (a pretrainer's
`masked_lm`, the optimizer, `save_counter`) are ignored.
"""

import os
import re

import keras_hub
import numpy as np
import tensorflow as tf

VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"
ROOTS = ("encoder", "model")  # tf.train.Checkpoint(encoder=...); older checkpoints used model=...
# KerasHub BertBackbone variable path -> Model Garden object path, inside one encoder block.
BLOCK = {
    "self_attention_layer/query/kernel": "_attention_layer/_query_dense/kernel",
    "self_attention_layer/query/bias": "_attention_layer/_query_dense/bias",
    "self_attention_layer/key/kernel": "_attention_layer/_key_dense/kernel",
    "self_attention_layer/key/bias": "_attention_layer/_key_dense/bias",
    "self_attention_layer/value/kernel": "_attention_layer/_value_dense/kernel",
    "self_attention_layer/value/bias": "_attention_layer/_value_dense/bias",
    "self_attention_layer/attention_output/kernel": "_attention_layer/_output_dense/kernel",
    "self_attention_layer/attention_output/bias": "_attention_layer/_output_dense/bias",
    "self_attention_layer_norm/gamma": "_attention_layer_norm/gamma",
    "self_attention_layer_norm/beta": "_attention_layer_norm/beta",
    "feedforward_intermediate_dense/kernel": "_intermediate_dense/kernel",
    "feedforward_intermediate_dense/bias": "_intermediate_dense/bias",
    "feedforward_output_dense/kernel": "_output_dense/kernel",
    "feedforward_output_dense/bias": "_output_dense/bias",
    "feedforward_layer_norm/gamma": "_output_layer_norm/gamma",
    "feedforward_layer_norm/beta": "_output_layer_norm/beta",
}
# The embeddings and the pooler, per layout: BertBackbone path -> Model Garden object path.
OUTER = {
    "v2": {
        "token_embedding/embeddings": "_embedding_layer/embeddings",
        "position_embedding/embeddings": "_position_embedding_layer/embeddings",
        "segment_embedding/embeddings": "_type_embedding_layer/embeddings",
        "embeddings_layer_norm/gamma": "_embedding_norm_layer/gamma",
        "embeddings_layer_norm/beta": "_embedding_norm_layer/beta",
        "pooled_dense/kernel": "_pooler_layer/kernel",
        "pooled_dense/bias": "_pooler_layer/bias",
    },
    "functional": {
        "token_embedding/embeddings": "layer_with_weights-0/embeddings",
        "position_embedding/embeddings": "layer_with_weights-1/embeddings",
        "segment_embedding/embeddings": "layer_with_weights-2/embeddings",
        "embeddings_layer_norm/gamma": "layer_with_weights-3/gamma",
        "embeddings_layer_norm/beta": "layer_with_weights-3/beta",
        "pooled_dense/kernel": "layer_with_weights-{pooler}/kernel",
        "pooled_dense/bias": "layer_with_weights-{pooler}/bias",
    },
}
BLOCK_PREFIX = {"v2": "_transformer_layers/{i}/", "functional": "layer_with_weights-{j}/"}


def checkpoint_prefix(path):
    """The checkpoint prefix (`dir/ckpt-1`) for a prefix or a directory holding one, or None."""
    path = str(path)
    if tf.io.gfile.exists(path + ".index"):
        return path
    if not os.path.isdir(path):
        return None
    latest = tf.train.latest_checkpoint(path)  # reads the `checkpoint` file
    if latest:
        return latest
    indexes = sorted(name[: -len(".index")] for name in os.listdir(path) if name.endswith(".index"))
    return os.path.join(path, indexes[0]) if len(indexes) == 1 else None


def is_model_garden_checkpoint(path):
    """Whether `path` is a TF checkpoint (prefix or directory) holding a Model Garden BERT encoder."""
    prefix = checkpoint_prefix(path)
    if prefix is None:
        return False
    return _find_layout({name for name, _ in tf.train.list_variables(prefix)}) is not None


def _key(root, path):
    return f"{root}/{path}{VALUE}"


def _find_layout(keys):
    """`(root, layout)` of the first root and layout whose word-embedding key is among `keys`, or None."""
    for root in ROOTS:
        for layout in OUTER:
            if _key(root, OUTER[layout]["token_embedding/embeddings"]) in keys:
                return root, layout
    return None


def _layout(prefix, shapes):
    found = _find_layout(shapes)
    if found is not None:
        return found
    sample = sorted(k for k in shapes if k != "_CHECKPOINTABLE_OBJECT_GRAPH")[:5]
    raise ValueError(
        f"{prefix} holds no Model Garden BERT encoder: expected a word-embedding variable such as "
        f"{_key('encoder', OUTER['v2']['token_embedding/embeddings'])!r} (BertEncoderV2) or "
        f"{_key('encoder', OUTER['functional']['token_embedding/embeddings'])!r} (the functional BertEncoder), "
        f"under the root 'encoder' or 'model'. Its first keys are {sample}. Pass the checkpoint of "
        "`tf.train.Checkpoint(encoder=bert_encoder)`."
    )


def _num_layers(root, layout, shapes):
    """Counts the encoder blocks: the indices holding a query kernel."""
    pattern = {
        "v2": rf"^{root}/_transformer_layers/(\d+)/_attention_layer/_query_dense/kernel{re.escape(VALUE)}$",
        "functional": rf"^{root}/layer_with_weights-(\d+)/_attention_layer/_query_dense/kernel{re.escape(VALUE)}$",
    }[layout]
    found = sorted(int(m.group(1)) for m in (re.match(pattern, k) for k in shapes) if m)
    first = 0 if layout == "v2" else 4
    if not found or found != list(range(first, first + len(found))):
        raise ValueError(
            f"the encoder blocks' query kernels are at indices {found}; expected {first}, {first + 1}, ... "
            f"without gaps ({BLOCK_PREFIX[layout].format(i=first, j=first)}_attention_layer/_query_dense/kernel ...)"
        )
    return len(found)


def model_garden_key_map(root, layout, num_layers):
    """{KerasHub BertBackbone variable path: checkpoint key} for a checkpoint of `layout` ("v2" or "functional")."""
    keys = {ours: _key(root, theirs.format(pooler=4 + num_layers)) for ours, theirs in OUTER[layout].items()}
    for i in range(num_layers):
        block = BLOCK_PREFIX[layout].format(i=i, j=4 + i)
        keys.update({f"transformer_layer_{i}/{ours}": _key(root, block + theirs) for ours, theirs in BLOCK.items()})
    return keys


def _check_keys(prefix, root, shapes, keys):
    missing = sorted(set(keys.values()) - set(shapes))
    if missing:
        raise ValueError(
            f"{prefix} lacks the Model Garden BERT variable {missing[0]!r} ({len(missing)} missing in all); "
            "the encoder may have been built with other options (e.g. embedding_width != hidden_size, "
            "norm_first=True), which KerasHub's BertBackbone does not have"
        )
    known = set(keys.values())
    unknown = sorted(
        k for k in shapes
        if k.startswith(root + "/") and ".OPTIMIZER_SLOT" not in k and k not in known
    )
    if unknown:
        raise ValueError(
            f"{prefix} holds {unknown[0]!r} ({len(unknown)} unknown variables under {root!r} in all), which a "
            "BERT encoder (BertEncoderV2 / BertEncoder with default options) does not have; it cannot be "
            "loaded without dropping weights. Convert only post-LN BERT encoders without an embedding projection"
        )


def load_model_garden_checkpoint(checkpoint, vocabulary=None, lowercase=True, **kwargs):
    """Returns `(backbone, tokenizer)`: a KerasHub `BertBackbone` holding a Model Garden BERT checkpoint's weights.

    Reads the checkpoint files alone (`tf.train.load_checkpoint`), so neither Model Garden nor Keras 2
    is needed. The backbone is what a Hugging Face directory or a KerasHub preset loads into, so
    every recipe fine-tunes it; `BertEncoder.from_bert_backbone(backbone)` gives kerastune's own
    encoder (to save with `save_backbone_directory`). `load_backbone(path)` calls this for a
    checkpoint directory.

    Args:
        checkpoint: str, a checkpoint prefix (`dir/bert_model.ckpt`, `dir/ckpt-1`) or a directory
            holding one.
        vocabulary: the WordPiece vocabulary: a `vocab.txt`, or a list; None reads `vocab.txt`
            beside the checkpoint.
        lowercase: bool, whether the tokenizer lower-cases (uncased checkpoints: True).
        **kwargs: other `BertBackbone` arguments (e.g. `dropout=0.1`, `dtype=`); the sizes come from
            the checkpoint's shapes.

    Example:

    >>> backbone, tokenizer = load_model_garden_checkpoint("uncased_L-12_H-768_A-12/")  # doctest: +SKIP
    >>> backbone.num_layers, backbone.hidden_dim  # doctest: +SKIP
    (12, 768)
    """
    prefix = checkpoint_prefix(checkpoint)
    if prefix is None:
        raise FileNotFoundError(
            f"{checkpoint}: no TF checkpoint there (expected PREFIX.index + PREFIX.data-*, or a directory "
            "holding one); pass the prefix Model Garden wrote, e.g. 'dir/bert_model.ckpt'"
        )
    reader = tf.train.load_checkpoint(prefix)
    shapes = {k: tuple(v) for k, v in reader.get_variable_to_shape_map().items()}
    root, layout = _layout(prefix, shapes)
    num_layers = _num_layers(root, layout, shapes)
    keys = model_garden_key_map(root, layout, num_layers)
    _check_keys(prefix, root, shapes, keys)

    vocabulary_size, hidden_dim = shapes[keys["token_embedding/embeddings"]]
    _, num_heads, _ = shapes[keys["transformer_layer_0/self_attention_layer/query/kernel"]]
    for name in ("intermediate_dim", "max_sequence_length", "num_segments", "num_layers", "num_heads", "hidden_dim",
                 "vocabulary_size"):
        if name in kwargs:
            raise ValueError(f"{name} is read from the checkpoint's shapes; do not pass it. Received: {name}={kwargs[name]!r}")
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=vocabulary_size,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=shapes[keys["transformer_layer_0/feedforward_intermediate_dense/kernel"]][1],
        max_sequence_length=shapes[keys["position_embedding/embeddings"]][0],
        num_segments=shapes[keys["segment_embedding/embeddings"]][0],
        **kwargs,
    )
    variables = {v.path: v for v in backbone.weights}
    if set(variables) != set(keys):  # KerasHub changed its layer names: say which, rather than load half
        raise RuntimeError(f"BertBackbone's variables {sorted(set(variables) ^ set(keys))} are not mapped; "
                           "this keras-hub version names its layers differently from what this converter knows")
    for path, key in keys.items():
        value = reader.get_tensor(key)
        if tuple(value.shape) != tuple(variables[path].shape):
            raise ValueError(
                f"{prefix}: {key!r} has shape {tuple(value.shape)} but {path} expects {tuple(variables[path].shape)} "
                f"(sizes read from the word embedding and block 0); the checkpoint's layers disagree in size"
            )
        variables[path].assign(np.asarray(value, dtype=variables[path].dtype))
    return backbone, _tokenizer(prefix, vocabulary, lowercase, vocabulary_size)


def _tokenizer(prefix, vocabulary, lowercase, vocabulary_size):
    if vocabulary is None:
        vocabulary = os.path.join(os.path.dirname(prefix), "vocab.txt")
        if not os.path.exists(vocabulary):
            raise FileNotFoundError(
                f"no vocab.txt beside {prefix}; pass vocabulary= the WordPiece vocabulary the encoder was "
                "trained with (Model Garden's BERT checkpoints ship it as vocab.txt)"
            )
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=vocabulary, lowercase=lowercase)
    if tokenizer.vocabulary_size() != vocabulary_size:
        raise ValueError(
            f"the vocabulary has {tokenizer.vocabulary_size()} WordPieces but the checkpoint's word embedding has "
            f"{vocabulary_size} rows; pass the vocab.txt that came with the checkpoint. Received: vocabulary={vocabulary!r}"
        )
    return tokenizer
