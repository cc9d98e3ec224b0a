"""A word-piece table that holds what a fine-tuned encoder makes of each word piece in context.

A student without attention (`ConvEncoder`) reads one vector per word piece. Starting it from the
teacher's *input* table gives it vectors the teacher's layers still had to turn into meaning. Bommasani
et al. (2020, "Interpreting Pretrained Contextualized Representations via Reductions to Static
Embeddings") instead average a contextual model's hidden states over a word's occurrences in a corpus;
from a fine-tuned teacher, those averages carry the task (here: what each word piece adds to the
sentiment the teacher's pooled output reads). Word pieces the corpus never shows get their input vector
mapped by the ridge least-squares fit from input vectors to averages over the pieces it does show.

Measured (benchmarks/README.md, "A table of the teacher's contextual vectors"): a convolutional student
distilled from the SST-2 MiniLM classifier scored 87.61 dev with `layer=2` (the third of six), 85.44 with
`layer=1` and 84.52 with the last layer, against 87.16 from the input table: no gain beyond a run's noise.
"""

import keras
import numpy as np
from keras import ops

from kerastune.compression.distillation import TRANSFORMER_LAYER, _num_layers


def _features(batch):
    """A recipe dataset's element `(features, labels[, weights])`, or a features dict alone."""
    features = keras.utils.unpack_x_y_sample_weight(batch)[0]
    if not isinstance(features, dict) or not {"token_ids", "padding_mask"} <= set(features):
        raise ValueError(f"Each batch must be BERT features (a dict with token_ids and padding_mask), or a tuple "
                         f"that starts with one, as a recipe's train dataset yields. Received: {type(batch).__name__}"
                         + (f" with keys {sorted(features)}" if isinstance(features, dict) else ""))
    return features


def ridge_map(inputs, targets, ridge):
    """`(weights, bias)` minimising `|inputs @ weights + bias - targets|^2 + ridge * |weights|^2` (bias unpenalised)."""
    inputs, targets = np.asarray(inputs, "float64"), np.asarray(targets, "float64")
    input_mean, target_mean = inputs.mean(0), targets.mean(0)
    centred = inputs - input_mean
    gram = centred.T @ centred + ridge * np.eye(inputs.shape[1])
    weights = np.linalg.solve(gram, centred.T @ (targets - target_mean))
    return weights, target_mean - input_mean @ weights


def _hidden_states(backbone, layer):
    """`features -> (batch, seq, hidden)` numpy: the backbone's `sequence_output`, or Transformer layer `layer`'s."""
    if layer is None:
        return lambda features: backbone.predict_on_batch(features)["sequence_output"]
    name, depth = TRANSFORMER_LAYER.format(layer), _num_layers(backbone)
    if not (isinstance(layer, int) and 0 <= layer < depth):
        raise ValueError(f"The backbone has no layer {name!r}; layer counts from 0 over its Transformer layers "
                         f"({depth} here). Received: layer={layer!r}")
    return keras.Model(backbone.inputs, backbone.get_layer(name).output).predict_on_batch


def contextual_token_table(backbone, batches, ridge=1.0, layer=None):
    """Each word piece's mean hidden state over `batches`; unseen pieces mapped from their input vectors.

    Args:
        backbone: a BERT-style backbone whose outputs hold `sequence_output` and that has a
            `token_embedding` (KerasHub `BertBackbone`, kerastune `BertEncoder`), usually a fine-tuned
            classifier's `.backbone`.
        batches: an iterable of BERT feature dicts (`token_ids`, `padding_mask`, `segment_ids`), or of
            `(features, labels, ...)` tuples as a recipe's train dataset yields. Padded positions are
            left out.
        ridge: float >= 0, the L2 weight of the map from input vectors to averages used for the pieces
            no batch shows.
        layer: None for the backbone's final hidden states (`sequence_output`), or the index of the
            Transformer layer whose outputs are averaged (a middle layer keeps more of each word's identity).

    Returns:
        `(table, counts)`: float32 array (vocabulary, hidden) and int64 array (vocabulary,), how many
        times each word piece was seen.

    Example:

    >>> table, counts = contextual_token_table(teacher.backbone, run.train_data.dataset.take(100))  # doctest: +SKIP
    >>> student = conv_student_from_teacher(teacher, table=table)  # doctest: +SKIP
    """
    if not (isinstance(ridge, (int, float)) and ridge >= 0):
        raise ValueError(f"ridge must be a number >= 0. Received: ridge={ridge!r}")
    embedding = getattr(backbone, "token_embedding", None)
    if embedding is None:
        raise ValueError(f"The backbone has no token_embedding to map unseen word pieces from. "
                         f"Received: backbone={type(backbone).__name__}")
    input_table = ops.convert_to_numpy(embedding.embeddings).astype("float64")
    vocabulary = input_table.shape[0]
    hidden_states = _hidden_states(backbone, layer)
    sums, counts = None, np.zeros(vocabulary, "int64")
    for batch in batches:
        features = _features(batch)
        hidden = np.asarray(hidden_states(features), "float64")
        kept = np.asarray(features["padding_mask"]).astype(bool)
        ids = np.asarray(features["token_ids"])[kept]
        if sums is None:
            sums = np.zeros((vocabulary, hidden.shape[-1]))
        np.add.at(sums, ids, hidden[kept])
        counts += np.bincount(ids, minlength=vocabulary)
    seen = counts > 0
    if seen.sum() < 2:
        raise ValueError(f"The batches showed {int(seen.sum())} distinct word piece(s); averages need text: pass "
                         f"the batches of a training set (at least two different word pieces).")
    table = np.zeros((vocabulary, sums.shape[1]))
    table[seen] = sums[seen] / counts[seen, None]
    if not seen.all():
        weights, bias = ridge_map(input_table[seen], table[seen], ridge)
        table[~seen] = input_table[~seen] @ weights + bias
    return table.astype("float32"), counts
