"""kerastune's encoder-decoder Transformer (the original Transformer: translation, summarisation, correction)."""

import keras
from keras import ops

from kerastune.api import register
from kerastune.arguments import check_positive_ints, check_rates
from kerastune.layers import SinusoidalPositionEncoding, TransformerDecoderBlock, TransformerEncoderBlock
from kerastune.models.text_generation import empty_key_value_cache, make_sampler, tied_logits

INPUT_NAMES = ("encoder_token_ids", "encoder_padding_mask", "decoder_token_ids", "decoder_padding_mask")


@register
class Seq2SeqTransformer(keras.Model):
    """An encoder-decoder Transformer (Vaswani et al., 2017) built from kerastune's blocks.

    The encoder reads the source in both directions (`TransformerEncoderBlock`s); each decoder block
    (`TransformerDecoderBlock` with an encoder sequence) attends causally to the target so far, then
    to the encoder's output (cross-attention), then runs its feed-forward network. One token
    embedding serves the source, the target and the output layer (section 3.4: shared weights, the
    embeddings scaled by sqrt(hidden_dim)); positions are the fixed sinusoids of section 3.5. Blocks
    are pre-LN (a final layer norm after each stack), which trains without the paper's warmup tricks.

    Args:
        vocabulary_size: int, one vocabulary for source and target.
        max_sequence_length: int, the longest target `generate` writes (the key/value cache's length).
        num_layers: int, blocks in the encoder and in the decoder each.
        num_heads: int, attention heads (must divide `hidden_dim`).
        hidden_dim: int.
        intermediate_dim: int or None, the feed-forward inner size (None: 4 x hidden_dim).
        dropout: float, on the embeddings, attention weights and residual branches.
        layer_norm_epsilon: float.
        **kwargs: base `keras.Model` arguments (`name`, `dtype`).

    Call arguments:
        inputs: dict of (batch, length) tensors: `encoder_token_ids`, `encoder_padding_mask` (1 on
            source tokens), `decoder_token_ids` (the target shifted right: a start token first) and
            `decoder_padding_mask`.
        training: bool.

    Returns:
        float32 logits (batch, target_length, vocabulary_size): position t predicts target token t + 1.

    Example:

    >>> import numpy as np
    >>> model = Seq2SeqTransformer(vocabulary_size=20, max_sequence_length=8, num_layers=1, num_heads=2,
    ...                            hidden_dim=16)
    >>> x = {name: np.ones((2, 5), "int32") for name in INPUT_NAMES}
    >>> tuple(model(x).shape)
    (2, 5, 20)
    >>> tuple(model.generate(x["encoder_token_ids"], x["encoder_padding_mask"], start_token_id=1).shape)
    (2, 8)
    """

    def __init__(self, vocabulary_size, max_sequence_length, num_layers=3, num_heads=4, hidden_dim=128,
                 intermediate_dim=None, dropout=0.1, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        check_positive_ints(vocabulary_size=vocabulary_size, max_sequence_length=max_sequence_length,
                            num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim)
        if intermediate_dim is not None:
            check_positive_ints(intermediate_dim=intermediate_dim)
        check_rates(dropout=dropout)
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim must be a multiple of num_heads. Received: hidden_dim={hidden_dim}, "
                             f"num_heads={num_heads}")
        self.vocabulary_size = vocabulary_size
        self.max_sequence_length = max_sequence_length
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim or 4 * hidden_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon

        policy = self.dtype_policy
        block = dict(num_heads=num_heads, intermediate_dim=self.intermediate_dim, dropout=dropout,
                     layer_norm_epsilon=layer_norm_epsilon, dtype=policy)
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, hidden_dim, dtype=policy, name="token_embedding",
            embeddings_initializer=keras.initializers.RandomNormal(stddev=hidden_dim**-0.5),
        )
        self.position_encoding = SinusoidalPositionEncoding(dtype=policy, name="position_encoding")
        self.embeddings_dropout = keras.layers.Dropout(dropout, dtype=policy, name="embeddings_dropout")
        self.encoder_layers = [TransformerEncoderBlock(**block, name=f"encoder_layer_{i}") for i in range(num_layers)]
        self.decoder_layers = [TransformerDecoderBlock(**block, name=f"decoder_layer_{i}") for i in range(num_layers)]
        norm = dict(epsilon=layer_norm_epsilon, dtype=policy)
        self.encoder_norm = keras.layers.LayerNormalization(**norm, name="encoder_norm")
        self.decoder_norm = keras.layers.LayerNormalization(**norm, name="decoder_norm")
        self.build()

    def build(self, input_shape=None):
        hidden_shape = (None, None, self.hidden_dim)
        self.token_embedding.build((None, None))
        for layer in self.encoder_layers:
            layer.build(hidden_shape)
        for layer in self.decoder_layers:
            layer.build(hidden_shape, encoder_sequence_shape=hidden_shape)
        self.encoder_norm.build(hidden_shape)
        self.decoder_norm.build(hidden_shape)
        self.built = True

    def _embed(self, token_ids, training=None, start_index=0):
        x = self.token_embedding(token_ids) * ops.cast(self.hidden_dim**0.5, self.compute_dtype)  # (batch, len, hidden)
        return self.embeddings_dropout(x + self.position_encoding(x, start_index=start_index), training=training)

    def encode(self, encoder_token_ids, encoder_padding_mask, training=None):
        """The encoder's output: (batch, source_length, hidden_dim)."""
        x = self._embed(encoder_token_ids, training=training)
        for layer in self.encoder_layers:
            x = layer(x, padding_mask=encoder_padding_mask, training=training)
        return self.encoder_norm(x)

    def decode(self, decoder_token_ids, encoder_sequence, encoder_padding_mask, decoder_padding_mask=None,
               training=None):
        """Logits of every target position given the encoder's output: float32 (batch, target_length, vocab)."""
        x = self._embed(decoder_token_ids, training=training)
        for layer in self.decoder_layers:
            x = layer(x, padding_mask=decoder_padding_mask, encoder_sequence=encoder_sequence,
                      encoder_padding_mask=encoder_padding_mask, training=training)
        return self._logits(x)

    def _logits(self, x):
        return tied_logits(self.decoder_norm(x), self.token_embedding)  # the output layer is E^T (section 3.4)

    def call(self, inputs, training=None):
        encoder_sequence = self.encode(inputs["encoder_token_ids"], inputs["encoder_padding_mask"], training=training)
        return self.decode(inputs["decoder_token_ids"], encoder_sequence, inputs["encoder_padding_mask"],
                           inputs.get("decoder_padding_mask"), training=training)

    def empty_cache(self, batch_size, length):
        """Zeros for `call_with_cache`: (batch_size, num_layers, 2, length, num_heads, head_dim)."""
        return empty_key_value_cache(batch_size, self.num_layers, length, self.num_heads,
                                     self.hidden_dim // self.num_heads, self.compute_dtype)

    def call_with_cache(self, decoder_token_ids, encoder_sequence, encoder_padding_mask, cache, cache_update_index):
        """Logits for `decoder_token_ids` placed at target positions `cache_update_index ..`, the
        decoder's self-attention keys and values of earlier positions read from `cache`.

        Cross-attention reads `encoder_sequence` whole at every call (it does not change while
        decoding). The logits equal `decode`'s at those positions (tested).

        Returns:
            `(logits, cache)`: float32 (batch, new_length, vocabulary_size) and the updated cache.
        """
        x = self._embed(decoder_token_ids, training=False, start_index=cache_update_index)
        caches = []
        for i, layer in enumerate(self.decoder_layers):
            x, layer_cache = layer(x, cache=cache[:, i], cache_update_index=cache_update_index, training=False,
                                   encoder_sequence=encoder_sequence, encoder_padding_mask=encoder_padding_mask)
            caches.append(layer_cache)
        return self._logits(x), ops.stack(caches, axis=1)

    def generate(self, encoder_token_ids, encoder_padding_mask, start_token_id, end_token_id=None, max_length=None,
                 sampler="greedy", temperature=1.0, seed=None):
        """Writes a target for each source, one token at a time with a key/value cache.

        Args:
            encoder_token_ids, encoder_padding_mask: (batch, source_length) source ids and mask.
            start_token_id: int, the first decoder token (as in training).
            end_token_id: int or None; decoding stops once every row has written it (the tokens a
                row writes after its own end token, while others go on, are to be ignored).
            max_length: int or None, target positions including the start token (default and at
                most `max_sequence_length`).
            sampler, temperature, seed: the decoding (`kerastune.models.text_generation.make_sampler`:
                `"greedy"`, `"top_k"`, `"top_p"`, `"random"` or a `keras_hub.samplers.Sampler`).

        Returns:
            int32 (batch, max_length): the start token, then the written tokens (zeros where decoding stopped).
        """
        max_length = max_length or self.max_sequence_length
        if not 1 < max_length <= self.max_sequence_length:
            raise ValueError(f"max_length must be in [2, max_sequence_length={self.max_sequence_length}]. "
                             f"Received: max_length={max_length}")
        sampler = make_sampler(sampler, temperature=temperature, seed=seed)
        encoder_sequence = self.encode(encoder_token_ids, encoder_padding_mask, training=False)
        batch = ops.shape(encoder_sequence)[0]
        start = ops.full((batch, 1), start_token_id, dtype="int32")
        prompt = ops.concatenate([start, ops.zeros((batch, max_length - 1), "int32")], axis=1)

        def next_logits(prompt, cache, index):
            token = ops.slice(prompt, [0, index - 1], [batch, 1])  # the last token written
            logits, cache = self.call_with_cache(token, encoder_sequence, encoder_padding_mask, cache, index - 1)
            return logits[:, 0, :], None, cache

        stop = None if end_token_id is None else [end_token_id]
        # The start token is given, not written: masked, it never counts as a stop token (BART starts
        # with its end token).
        given = ops.arange(max_length)[None, :] < 1
        given = ops.broadcast_to(given, (batch, max_length))
        return sampler(next_logits, prompt, cache=self.empty_cache(batch, max_length), index=1, mask=given,
                       stop_token_ids=stop)

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size,
            "max_sequence_length": self.max_sequence_length,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        })
        return config
