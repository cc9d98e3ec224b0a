"""The shared body of the encoder and decoder blocks: attention and feed-forward sublayers,
each wrapped in a residual connection and layer normalisation."""

import keras

from kerastune.layers.multi_head_attention import MultiHeadAttention


class TransformerBlock(keras.layers.Layer):
    """Base class; use `TransformerEncoderBlock` or `TransformerDecoderBlock`.

    Pre-LN (`normalize_first=True`, GPT-2 and most modern models, stable without warmup tricks):
        x = x + Dropout(Attention(LN(x)));  x = x + Dropout(FFN(LN(x)))
    Post-LN (`normalize_first=False`, the original Transformer and BERT):
        x = LN(x + Dropout(Attention(x)));  x = LN(x + Dropout(FFN(x)))
    with `FFN(x) = W_2 activation(W_1 x + b_1) + b_2`. A causal block built with an `encoder_sequence`
    also has cross-attention between the two, as the original Transformer's decoder (its own layer norm,
    residual and dropout; keys and values from the encoder's output, no positions rotated).
    """

    causal = False

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        activation="gelu",
        layer_norm_epsilon=1e-5,
        normalize_first=True,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        output_kernel_initializer=None,
        rotary_max_wavelength=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for arg, value in (("num_heads", num_heads), ("intermediate_dim", intermediate_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be a positive integer; received {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); received {dropout!r}")
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.normalize_first = normalize_first
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.output_kernel_initializer = keras.initializers.get(
            output_kernel_initializer or kernel_initializer
        )
        self.rotary_max_wavelength = rotary_max_wavelength
        self.supports_masking = True

    def _initializer(self, initializer):
        # A fresh instance per sublayer, so seeded initializers don't repeat the same draw.
        return keras.initializers.get(keras.initializers.serialize(initializer))

    def build(self, inputs_shape, encoder_sequence_shape=None):
        input_shape = inputs_shape
        hidden_dim = input_shape[-1]
        if hidden_dim % self.num_heads:
            raise ValueError(
                f"hidden size {hidden_dim} is not divisible by num_heads={self.num_heads}; "
                f"choose num_heads that divides it"
            )
        common = {"dtype": self.dtype_policy}
        self.self_attention = self._attention("self_attention", hidden_dim, self.rotary_max_wavelength)
        self.self_attention.build(input_shape, input_shape)
        self.self_attention_norm = self._layer_norm("self_attention_norm", input_shape)
        self.feed_forward_intermediate = keras.layers.Dense(
            self.intermediate_dim,
            activation=self.activation,
            use_bias=self.use_bias,
            kernel_initializer=self._initializer(self.kernel_initializer),
            name="feed_forward_intermediate",
            **common,
        )
        self.feed_forward_intermediate.build(input_shape)
        self.feed_forward_output = keras.layers.Dense(
            hidden_dim,
            use_bias=self.use_bias,
            kernel_initializer=self._initializer(self.output_kernel_initializer),
            name="feed_forward_output",
            **common,
        )
        self.feed_forward_output.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        self.feed_forward_norm = self._layer_norm("feed_forward_norm", input_shape)
        self.residual_dropout = keras.layers.Dropout(self.dropout, name="residual_dropout", **common)
        self.cross_attention = self.cross_attention_norm = None
        if encoder_sequence_shape is not None:
            self._check_can_cross_attend()
            self.cross_attention = self._attention("cross_attention", hidden_dim, rotary_max_wavelength=None)
            self.cross_attention.build(input_shape, encoder_sequence_shape)
            self.cross_attention_norm = self._layer_norm("cross_attention_norm", input_shape)
        self.built = True

    def _attention(self, name, hidden_dim, rotary_max_wavelength):
        return MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=hidden_dim // self.num_heads,
            dropout=self.dropout,
            use_bias=self.use_bias,
            kernel_initializer=self._initializer(self.kernel_initializer),
            output_kernel_initializer=self._initializer(self.output_kernel_initializer),
            rotary_max_wavelength=rotary_max_wavelength,
            name=name,
            dtype=self.dtype_policy,
        )

    def _layer_norm(self, name, input_shape):
        norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, center=self.use_bias, name=name, dtype=self.dtype_policy
        )
        norm.build(input_shape)
        return norm

    def _check_can_cross_attend(self):
        if not self.causal:
            raise ValueError(f"{type(self).__name__} has no cross-attention; an encoder_sequence is for the "
                             "decoder of an encoder-decoder model: use TransformerDecoderBlock")

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        key_prefix=None,
        value_prefix=None,
        training=None,
        cache=None,
        cache_update_index=None,
        encoder_sequence=None,
        encoder_padding_mask=None,
    ):
        if encoder_sequence is not None:
            self._check_can_cross_attend()
        if (encoder_sequence is None) != (self.cross_attention is None):
            raise ValueError(
                f"{self.name} was built {'with' if self.cross_attention is not None else 'without'} "
                f"cross-attention, so it needs an encoder_sequence at every call or at none; "
                f"received encoder_sequence={'None' if encoder_sequence is None else 'a tensor'}"
            )
        if cache is not None and not self.causal:
            raise ValueError(f"{type(self).__name__} attends in both directions, so a key/value cache of "
                             "earlier positions cannot stand in for later ones; caches are for causal blocks")
        updated_cache = []

        def self_attend(h):
            out = self.self_attention(
                h,
                h,
                padding_mask=padding_mask,
                attention_mask=attention_mask,
                use_causal_mask=self.causal,
                key_prefix=key_prefix,
                value_prefix=value_prefix,
                training=training,
                cache=cache,
                cache_update_index=cache_update_index,
            )
            if cache is None:
                return out
            updated_cache.append(out[1])
            return out[0]

        x = self._residual(inputs, self.self_attention_norm, self_attend, training)  # (batch, seq, hidden)
        if self.cross_attention is not None:
            # Queries from the decoder, keys and values from the encoder.
            def cross_attend(h):
                return self.cross_attention(h, encoder_sequence, padding_mask=encoder_padding_mask, training=training)

            x = self._residual(x, self.cross_attention_norm, cross_attend, training)
        x = self._residual(
            x, self.feed_forward_norm, lambda h: self.feed_forward_output(self.feed_forward_intermediate(h)), training
        )
        return x if cache is None else (x, updated_cache[0])

    def _residual(self, x, norm, sublayer, training):
        """One sublayer with its residual connection: `x + Dropout(sublayer(norm(x)))` pre-LN,
        `norm(x + Dropout(sublayer(x)))` post-LN."""
        h = sublayer(norm(x) if self.normalize_first else x)
        x = x + self.residual_dropout(h, training=training)
        return x if self.normalize_first else norm(x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "normalize_first": self.normalize_first,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "output_kernel_initializer": keras.initializers.serialize(self.output_kernel_initializer),
                "rotary_max_wavelength": self.rotary_max_wavelength,
            }
        )
        return config
