"""One head's self-attention weights over a sentence, and its heat map with the tokens as labels.

The weights are the model's own: the sentence is tokenised as in training, the model runs up to the
chosen layer, and that layer's attention is called with `return_attention_scores=True` (KerasHub's
`TransformerEncoder` and kerastune's `MultiHeadAttention` both take it), so the numbers are the
`softmax(Q K^T / sqrt(d_k) + mask)` the layer itself computes (Vaswani et al., 2017, eq. 1).
"""

import keras
import numpy as np

from kerastune.plots.figure_file import check_png_path, new_figure, save_png


def _backbone(model):
    """The backbone a task model wraps (`TextClassifier`, KerasHub tasks), or the model itself."""
    inner = getattr(model, "backbone", None)
    return inner if isinstance(inner, keras.Model) else model


def _blocks(backbone):
    """The Transformer blocks in order: `transformer_layers` (BERT-style) or `blocks` (kerastune's GPT)."""
    import keras_hub

    from kerastune.layers.transformer_block import TransformerBlock

    blocks = getattr(backbone, "transformer_layers", None) or getattr(backbone, "blocks", None)
    kinds = (TransformerBlock, keras_hub.layers.TransformerEncoder)
    if not blocks or not all(isinstance(b, kinds) for b in blocks):
        raise ValueError(
            "attention_map reads a KerasHub BertBackbone (or a backbone whose `transformer_layers` are "
            "keras_hub.layers.TransformerEncoder), kerastune's BertEncoder or GPT, or a task model holding "
            f"one as `.backbone`. Received: model_or_backbone={type(backbone).__name__}"
        )
    return list(blocks)


def _label(tokenizer, token_id):
    if hasattr(tokenizer, "id_to_token"):
        token = str(tokenizer.id_to_token(int(token_id)))
    else:
        token = str(tokenizer.get_vocabulary()[int(token_id)])
    return token if token.strip() else repr(token)  # a space or newline stays visible


def _too_long(length, limit, sentence):
    return ValueError(f"The sentence is {length} tokens long and the model reads at most {limit}; pass a "
                      f"shorter sentence. Received: sentence={sentence!r}")


def _encode(backbone, tokenizer, sentence):
    """`(inputs, token_ids, padding_mask)` for one sentence, tokenised the way the model trains."""
    from kerastune.models.gpt import GPT

    if not isinstance(sentence, str) or not sentence:
        raise ValueError(f"sentence must be a non-empty str. Received: sentence={sentence!r}")
    if isinstance(backbone, GPT):
        tokenizer = tokenizer if tokenizer is not None else backbone.tokenizer
        if tokenizer is None:
            raise ValueError("The GPT has no tokenizer: pass tokenizer= (e.g. its CharacterTokenizer). "
                             "Received: tokenizer=None")
        ids = np.asarray(keras.ops.convert_to_numpy(tokenizer(sentence)), "int32").reshape(1, -1)  # (1, seq)
        if ids.shape[1] > backbone.sequence_length:
            raise _too_long(ids.shape[1], backbone.sequence_length, sentence)
        return ids, ids[0], None  # the GPT takes ids alone and masks causally
    import tensorflow as tf

    from kerastune.data.bert_inputs import dense_inputs, pad_id, tokenize_and_pack
    from kerastune.models.backbones import max_sequence_length

    if tokenizer is None:
        raise ValueError("A BERT-style backbone needs its tokenizer (e.g. keras_hub.tokenizers.BertTokenizer). "
                         "Received: tokenizer=None")
    limit = max_sequence_length(backbone)
    # [CLS] sentence [SEP], as the classifier and tagger batches are packed
    token_ids, segment_ids, full = tokenize_and_pack(tokenizer, tf.constant([sentence]), sequence_length=limit)
    if int(full[0]) > limit:
        raise _too_long(int(full[0]), limit, sentence)
    inputs = {k: v.numpy() for k, v in dense_inputs(token_ids, segment_ids, pad_id(tokenizer)).items()}
    return inputs, inputs["token_ids"][0], inputs["padding_mask"]


def _block_input(backbone, blocks, layer, inputs):
    """The hidden states (1, seq, hidden) that block `layer` receives."""
    from kerastune.models.gpt import GPT

    if isinstance(backbone, GPT):  # a subclassed model: rerun embeddings, then the blocks below
        x = backbone.embed(inputs, training=False)
        for block in blocks[:layer]:
            x = block(x, training=False)
        return x
    # A functional backbone: the sub-graph from its inputs to this block's (first) input.
    block_input = blocks[layer].input
    block_input = block_input[0] if isinstance(block_input, (list, tuple)) else block_input
    return keras.Model(backbone.input, block_input)(inputs, training=False)


def _attention(block, x, padding_mask):
    """(1, heads, seq, seq) attention weights of `block` on its input `x`."""
    import keras_hub

    if isinstance(block, keras_hub.layers.TransformerEncoder):
        _, weights = block(x, padding_mask=padding_mask, return_attention_scores=True, training=False)
        return weights
    h = block.self_attention_norm(x) if block.normalize_first else x  # pre-LN blocks attend to LN(x)
    _, weights = block.self_attention(
        h, h, padding_mask=padding_mask, use_causal_mask=block.causal, training=False, return_attention_scores=True
    )
    return weights


def _heat_map(weights, labels, title, path):
    size = 2.0 + 0.35 * len(labels)
    figure = new_figure(size + 1.0, size)
    ax = figure.subplots()
    image = ax.imshow(weights, cmap="viridis", vmin=0.0)
    figure.colorbar(image, ax=ax, label="attention weight")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query")
    ax.set_title(title)
    return save_png(figure, path)


def attention_map(model_or_backbone, tokenizer, sentence, layer, head, path=None):
    """Returns one head's self-attention weights over `sentence`; with `path`, also writes a heat map.

    Works with KerasHub's `BertBackbone`, kerastune's `BertEncoder` (both read `[CLS] sentence [SEP]`)
    and kerastune's `GPT` (causal: row `i` is zero after column `i`), or a task model holding one of
    them as `.backbone` (e.g. `TextClassifier`). Row `i` is how much token `i` (the query) attends to
    each token (the keys); every row sums to 1.

    Args:
        model_or_backbone: the model.
        tokenizer: its tokenizer (a KerasHub `BertTokenizer`; for a GPT its tokenizer, e.g.
            `CharacterTokenizer`, or None for the GPT's own `model.tokenizer`).
        sentence: str, one sentence (no longer than the model reads).
        layer: int in `[0, num_layers)`, the Transformer block.
        head: int in `[0, num_heads)`.
        path: None, or a str / path-like ending in `.png` for the heat map (token labels on both axes).

    Returns:
        float32 numpy array (seq, seq): queries in rows, keys in columns.

    Example:

    >>> from kerastune.data.character_tokenizer import CharacterTokenizer
    >>> from kerastune.models.gpt import GPT
    >>> tokenizer = CharacterTokenizer.from_corpus("hello world")
    >>> gpt = GPT(vocabulary_size=8, sequence_length=16, num_layers=1, num_heads=2, hidden_dim=8)
    >>> attention_map(gpt, tokenizer, "hello", layer=0, head=1, path="/tmp/attention.png").shape
    (5, 5)
    """
    if path is not None:
        check_png_path(path)
    backbone = _backbone(model_or_backbone)
    blocks = _blocks(backbone)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < len(blocks):
        raise ValueError(f"layer must be an int in [0, {len(blocks)}), one of the model's Transformer blocks. "
                         f"Received: layer={layer!r}")
    num_heads = blocks[layer].num_heads
    if isinstance(head, bool) or not isinstance(head, (int, np.integer)) or not 0 <= head < num_heads:
        raise ValueError(f"head must be an int in [0, {num_heads}), one of the layer's attention heads. "
                         f"Received: head={head!r}")
    inputs, token_ids, padding_mask = _encode(backbone, tokenizer, sentence)
    x = _block_input(backbone, blocks, int(layer), inputs)  # (1, seq, hidden)
    weights = _attention(blocks[layer], x, padding_mask)  # (1, heads, seq, seq)
    weights = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(weights, "float32")))[0, int(head)]
    if path is not None:
        if tokenizer is None:
            tokenizer = backbone.tokenizer
        labels = [_label(tokenizer, t) for t in token_ids]
        _heat_map(weights, labels, f"{type(backbone).__name__}: layer {layer}, head {head}", path)
    return weights
