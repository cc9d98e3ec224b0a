"""A decoder-only Transformer language model (GPT-2 style), written from kerastune blocks."""

import functools
import math

import keras
import numpy as np
from keras import ops

from kerastune.api import register
from kerastune.layers.learned_position_embedding import LearnedPositionEmbedding
from kerastune.layers.transformer_decoder_block import TransformerDecoderBlock
from kerastune.models.text_generation import (decoded_str, empty_key_value_cache, generate_token_ids, make_sampler,
                                              tied_logits)


POSITION_ENCODINGS = ("learned", "rotary")


@register
class GPT(keras.Model):
    """A GPT: token embedding + positions + `num_layers` causal decoder blocks + final layer norm +
    a language-model head (tied to the token embedding by default, as in GPT-2 and nanoGPT).

    Positions are learned absolute embeddings added to the tokens (GPT-2, nanoGPT; the default) or
    rotary (`position_encoding="rotary"`, RoPE as in GPT-NeoX and Llama): queries and keys are rotated
    inside every attention layer and nothing is added to the embeddings.

    Initialisation follows GPT-2 / nanoGPT: every kernel and embedding ~ N(0, 0.02), biases zero,
    and the residual-branch output kernels ~ N(0, 0.02 / sqrt(2 * num_layers)).

    Args:
        vocabulary_size: int, number of token ids.
        sequence_length: int, the context window (longest input).
        num_layers: int, decoder blocks.
        num_heads: int, attention heads per block.
        hidden_dim: int, embedding and residual width.
        intermediate_dim: int or None, feed-forward inner size (default 4 * hidden_dim).
        dropout: float, dropout on embeddings, attention weights and residual branches.
        tie_embeddings: bool, the output head reuses the token embedding matrix.
        use_bias: bool, biases in projections and layer-norm offsets (nanoGPT's `bias`).
        position_encoding: `"learned"` (absolute, added to the token embeddings) or `"rotary"`.
        rotary_max_wavelength: int, the longest RoPE wavelength when `position_encoding="rotary"`.
        layer_norm_epsilon: float.
        tokenizer: optional tokenizer layer (`kerastune.data.CharacterTokenizer` or a KerasHub
            tokenizer) saved with the model and used by `generate` for strings.
        **kwargs: base `keras.Model` arguments (`name`, `dtype`).

    Call arguments:
        token_ids: (batch, length) int, length <= sequence_length.
        training: bool.

    Returns:
        (batch, length, vocabulary_size) float32 logits for the next token at each position.

    Example:

    >>> model = GPT(vocabulary_size=65, sequence_length=32, num_layers=2, num_heads=2, hidden_dim=32)
    >>> model(keras.ops.zeros((1, 8), "int32")).shape
    (1, 8, 65)
    """

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        num_layers=4,
        num_heads=4,
        hidden_dim=128,
        intermediate_dim=None,
        dropout=0.0,
        tie_embeddings=True,
        use_bias=True,
        position_encoding="learned",
        rotary_max_wavelength=10000,
        layer_norm_epsilon=1e-5,
        tokenizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for arg, value in (
            ("vocabulary_size", vocabulary_size),
            ("sequence_length", sequence_length),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("hidden_dim", hidden_dim),
        ):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{arg} must be a positive integer; received {value!r}")
        if position_encoding not in POSITION_ENCODINGS:
            raise ValueError(
                f"position_encoding must be one of {POSITION_ENCODINGS}; received {position_encoding!r}"
            )
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim={hidden_dim} is not divisible by num_heads={num_heads}")
        if tokenizer is not None and _vocab_size(tokenizer) not in (None, vocabulary_size):
            raise ValueError(
                f"tokenizer has {_vocab_size(tokenizer)} tokens but vocabulary_size={vocabulary_size}"
            )
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = int(sequence_length)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.hidden_dim = int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim or 4 * hidden_dim)
        self.dropout = dropout
        self.tie_embeddings = tie_embeddings
        self.use_bias = use_bias
        self.position_encoding = position_encoding
        self.rotary_max_wavelength = rotary_max_wavelength
        self.layer_norm_epsilon = layer_norm_epsilon
        self.tokenizer = tokenizer

        init = keras.initializers.RandomNormal(stddev=0.02)
        residual_init = keras.initializers.RandomNormal(stddev=0.02 / math.sqrt(2 * num_layers))
        policy = self.dtype_policy
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, hidden_dim, embeddings_initializer=init, dtype=policy, name="token_embedding"
        )
        self.position_embedding = None
        if position_encoding == "learned":
            self.position_embedding = LearnedPositionEmbedding(
                sequence_length, initializer=init, dtype=policy, name="position_embedding"
            )
        self.embedding_dropout = keras.layers.Dropout(dropout, dtype=policy, name="embedding_dropout")
        self.blocks = [
            TransformerDecoderBlock(
                num_heads=num_heads,
                intermediate_dim=self.intermediate_dim,
                dropout=dropout,
                use_bias=use_bias,
                layer_norm_epsilon=layer_norm_epsilon,
                kernel_initializer=init,
                output_kernel_initializer=residual_init,
                rotary_max_wavelength=rotary_max_wavelength if position_encoding == "rotary" else None,
                dtype=policy,
                name=f"decoder_block_{i}",
            )
            for i in range(num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, center=use_bias, dtype=policy, name="final_norm"
        )
        self.lm_head = None
        if not tie_embeddings:
            self.lm_head = keras.layers.Dense(
                vocabulary_size, use_bias=False, kernel_initializer=init, dtype=policy, name="lm_head"
            )
        self.build((None, sequence_length))

    def build(self, input_shape):
        batch = input_shape[0]
        self.token_embedding.build((batch, self.sequence_length))
        hidden_shape = (batch, self.sequence_length, self.hidden_dim)
        if self.position_embedding is not None:
            self.position_embedding.build(hidden_shape)
        for block in self.blocks:
            block.build(hidden_shape)
        self.final_norm.build(hidden_shape)
        if self.lm_head is not None:
            self.lm_head.build(hidden_shape)
        self.built = True

    def embed(self, token_ids, training=None, start_index=0):
        """Token + position embeddings: (batch, length) ids -> (batch, length, hidden_dim).

        Exposed so adversarial training can perturb the embedding output (see `logits_from_embeddings`).
        `start_index` is the position of the first id (incremental decoding with a cache).
        """
        x = self.token_embedding(token_ids)
        if self.position_embedding is not None:
            x = x + self.position_embedding(x, start_index=start_index)
        return self.embedding_dropout(x, training=training)

    def logits_from_embeddings(self, x, training=None):
        """The rest of the forward pass: (batch, length, hidden_dim) -> float32 logits."""
        for block in self.blocks:
            x = block(x, training=training)
        return self._logits(x)

    def empty_cache(self, batch_size, length):
        """A key/value cache for `call_with_cache`: zeros of shape
        (batch_size, num_layers, 2, length, num_heads, head_dim), length <= sequence_length."""
        if isinstance(length, (int, np.integer)) and not 0 < length <= self.sequence_length:
            raise ValueError(f"a cache holds 1 to sequence_length={self.sequence_length} positions "
                             f"(the positions the model was built for); received length={length}")
        return empty_key_value_cache(batch_size, self.num_layers, length, self.num_heads,
                                     self.hidden_dim // self.num_heads, self.compute_dtype)

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """One incremental-decoding pass: logits for `token_ids` placed at positions
        `cache_update_index ..` of a sequence whose earlier keys and values are in `cache`.

        Each block projects only the new tokens and attends to the cache's slots up to each token's
        own position, so a step of generation costs one token's forward pass instead of the whole
        context's. The logits equal `self(ids)`'s at those positions, `ids` being the sequence the cache
        was filled from (tested). The cache's length must not exceed `sequence_length`.

        Args:
            token_ids: (batch, new_length) int ids.
            cache: (batch, num_layers, 2, cache_length, num_heads, head_dim), from `empty_cache` or an
                earlier call.
            cache_update_index: int or scalar int tensor, the position of `token_ids[:, 0]`.

        Returns:
            `(logits, cache)`: float32 (batch, new_length, vocabulary_size) and the updated cache.
        """
        x = self.embed(token_ids, training=False, start_index=cache_update_index)
        caches = []
        for i, block in enumerate(self.blocks):
            x, block_cache = block(x, cache=cache[:, i], cache_update_index=cache_update_index, training=False)
            caches.append(block_cache)
        return self._logits(x), ops.stack(caches, axis=1)

    def _logits(self, x):
        x = self.final_norm(x)
        if self.lm_head is not None:
            return ops.cast(self.lm_head(x), "float32")
        return tied_logits(x, self.token_embedding)

    def call(self, token_ids, training=None):
        return self.logits_from_embeddings(self.embed(token_ids, training=training), training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.vocabulary_size,)

    # Generation -------------------------------------------------------------------------------

    def generate(
        self,
        prompts,
        max_new_tokens=100,
        sampler="greedy",
        temperature=1.0,
        seed=None,
        use_cache=True,
        **sampler_kwargs,
    ):
        """Continues each prompt by `max_new_tokens` tokens.

        Args:
            prompts: a string or list of strings (needs `tokenizer`), or a list of int id lists.
            max_new_tokens: int, tokens to add to each prompt.
            sampler: `"greedy"`, `"top_k"`, `"top_p"`, `"random"` or a `keras_hub.samplers.Sampler`.
            temperature: float, softmax temperature for the sampler.
            seed: int or None, seed for the random samplers.
            use_cache: bool, keep earlier positions' keys and values while the text fits in
                `sequence_length` (`call_with_cache`), so each step runs one token instead of the
                whole context; the same tokens either way. False recomputes the context every step.
            **sampler_kwargs: e.g. `k=10` for `"top_k"`, `p=0.9` for `"top_p"`.

        Returns:
            The same structure as `prompts`: strings (prompt + continuation) or id lists.
        """
        if not isinstance(use_cache, bool):
            raise ValueError(f"use_cache must be True or False. Received: use_cache={use_cache!r}")
        single = isinstance(prompts, str)
        batch = [prompts] if single else list(prompts)
        if not batch:
            raise ValueError("prompts is empty; pass at least one prompt")
        as_text = isinstance(batch[0], str)
        if as_text:
            if self.tokenizer is None:
                raise ValueError("string prompts need a tokenizer: build GPT(..., tokenizer=...) or pass token ids")
            ids = [list(np.asarray(self.tokenizer.tokenize(p)).tolist()) for p in batch]
        else:
            ids = [list(map(int, p)) for p in batch]
        for i, row in enumerate(ids):
            if not row:
                raise ValueError(f"prompt {i} is empty; generation needs at least one token to continue")
            bad = [t for t in row if not 0 <= t < self.vocabulary_size]
            if bad:
                raise ValueError(f"prompt {i} has token ids {bad[:5]} outside [0, {self.vocabulary_size})")
        width = max(len(r) for r in ids)
        token_ids = np.zeros((len(ids), width), "int32")
        padding_mask = np.zeros((len(ids), width), bool)
        for i, row in enumerate(ids):
            token_ids[i, : len(row)] = row
            padding_mask[i, : len(row)] = True
        key = (
            sampler if isinstance(sampler, str) else id(sampler), temperature, seed, use_cache,
            sorted(sampler_kwargs.items()),
        )
        run = self._compiled_generate(
            repr(key), lambda: make_sampler(sampler, temperature=temperature, seed=seed, **sampler_kwargs),
            rewind=seed is not None,
            use_cache=use_cache,
        )
        out, lengths = run(token_ids, padding_mask, np.int32(max_new_tokens))
        out, lengths = np.asarray(out), np.asarray(lengths)
        rows = [out[i, : lengths[i]].tolist() for i in range(len(ids))]
        if as_text:
            rows = [decoded_str(self.tokenizer.detokenize(np.asarray(r, "int32"))) for r in rows]
        return rows[0] if single else rows

    def _compiled_generate(self, key, make, rewind=True, use_cache=True):
        """The decoding loop as one graph (a `tf.function`), cached per sampler setting."""
        import tensorflow as tf

        cache = self.__dict__.setdefault("_generate_functions", {})
        if key not in cache:
            if len(cache) > 8:
                cache.clear()
            sampler = make()
            steps = {}
            if use_cache:
                # Each one-token step compiled by XLA: 200 tokens in 0.16 s against 0.45 s uncompiled (4 layers,
                # 128 wide, batch 1; benchmarks/README.md, `generation.py`). Past the context the window always
                # has sequence_length tokens, one shape, so it is compiled too (200 tokens of a 64-token-context
                # model: 0.34 s against 0.78 s). Not the whole loop: its shapes vary with every prompt, and so
                # does the window's length without the cache.
                compiled = functools.partial(tf.function, autograph=False, jit_compile=True)
                steps = {
                    "cached_step": compiled(self.call_with_cache),
                    "window_step": compiled(lambda ids: self(ids, training=False)),
                }

            @tf.function(autograph=False, reduce_retracing=True)
            def run(token_ids, padding_mask, max_new_tokens):
                return generate_token_ids(self, token_ids, padding_mask, max_new_tokens, sampler, use_cache, **steps)

            initial = [np.asarray(v) for v in sampler.variables]
            cache[key] = (run, sampler, initial)
        run, sampler, initial = cache[key]
        # A given seed reproduces the same text on every call: rewind the sampler's seed state.
        for variable, value in zip(sampler.variables if rewind else [], initial):
            variable.assign(value)
        return run

    def perplexity(self, dataset, steps=None):
        """exp(mean next-token cross-entropy) over a dataset of (inputs, targets) batches; where batches
        also carry a `sample_weight` (a loss mask), the weighted mean (e.g. over responses only)."""
        total, count = 0.0, 0.0
        for i, (x, y, *weight) in enumerate(dataset):
            if steps is not None and i >= steps:
                break
            logits = self(x, training=False)
            losses = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            weight = weight[0] if weight else ops.ones_like(losses)
            total += float(ops.sum(losses * weight))
            count += float(ops.sum(weight))
        if count == 0:
            raise ValueError("perplexity needs at least one batch with a counted token; the dataset is empty")
        return math.exp(total / count)

    def training_flops_per_token(self):
        """FLOPs to train on one token (forward and backward) at full context, as nanoGPT's `estimate_mfu`
        counts them (PaLM, appendix B): `6 * N + 12 * num_layers * hidden_dim * sequence_length`, where N is
        the parameter count without the learned position table (rotary positions have none) and, with
        untied embeddings, without the input token table (a lookup, not a matmul), and the second term is
        attention's score and weighted-sum matmuls. The model must be built.

        Example:

        >>> model = GPT(vocabulary_size=65, sequence_length=64, num_layers=4, num_heads=4, hidden_dim=128)
        >>> _ = model(keras.ops.zeros((1, 64), "int32"))
        >>> model.training_flops_per_token()
        5203200
        """
        parameters = self.count_params()
        if self.position_embedding is not None:
            parameters -= self.sequence_length * self.hidden_dim
        if not self.tie_embeddings:  # the input table is looked up, not multiplied; the output head is counted
            parameters -= self.vocabulary_size * self.hidden_dim
        return 6 * parameters + 12 * self.num_layers * self.hidden_dim * self.sequence_length

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "tie_embeddings": self.tie_embeddings,
                "use_bias": self.use_bias,
                "position_encoding": self.position_encoding,
                "rotary_max_wavelength": self.rotary_max_wavelength,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "tokenizer": None
                if self.tokenizer is None
                else keras.saving.serialize_keras_object(self.tokenizer),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("tokenizer") is not None:
            config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return cls(**config)


def _vocab_size(tokenizer):
    """The tokenizer's vocabulary size, or None while it has no vocabulary: a KerasHub tokenizer loaded from a
    `.keras` file is built from its config first and gets its vocabulary (an asset) after the model exists."""
    size = tokenizer.vocabulary_size
    if not callable(size):
        return size
    try:
        return size()
    except ValueError:  # KerasHub: "No vocabulary has been set ..."
        return None

