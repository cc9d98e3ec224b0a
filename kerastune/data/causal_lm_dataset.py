"""Next-token (inputs, targets) windows over one token array, sliced inside tf.data as nanoGPT's `get_batch` does."""

import fractions
import numbers
import warnings

import numpy as np
import tensorflow as tf

SAMPLINGS = ("random", "sequential")


def split_tokens(token_ids, validation_fraction=0.1):
    """Splits a 1-D token array into its first part (train) and last part (validation), no shuffling.

    The boundary is `floor(len(token_ids) * (1 - validation_fraction))`, computed in exact decimal
    arithmetic (so `0.9` of 50 tokens is 45, not 44), nanoGPT's `int(n * 0.9)` for the default
    fraction: Tiny Shakespeare's 1,115,394 characters split at 1,003,854.

    Args:
        token_ids: 1-D array-like of integer token ids (numpy array, list or `tf.Tensor`).
        validation_fraction: float in `[0, 1)`, the share of tokens kept for validation.

    Returns:
        `(train_ids, validation_ids)`, slices of `token_ids` (same type).

    Example:

    >>> train, val = split_tokens(np.arange(10))
    >>> train.tolist(), val.tolist()
    ([0, 1, 2, 3, 4, 5, 6, 7, 8], [9])
    """
    shape = np.shape(token_ids)
    if len(shape) != 1:
        raise ValueError(f"token_ids must be a 1-D sequence of token ids; received shape {tuple(shape)}")
    boundary = split_boundary(shape[0], validation_fraction)
    return token_ids[:boundary], token_ids[boundary:]


def split_boundary(num_tokens, validation_fraction=0.1):
    """The number of tokens `split_tokens` keeps for training: `floor(num_tokens * (1 - validation_fraction))`
    in exact decimal arithmetic.

    Example:

    >>> split_boundary(1_115_394)
    1003854
    """
    _check_fraction(validation_fraction)
    # Fraction(repr(0.1)) is exactly 1/10, so float rounding never moves the boundary by a token.
    return int(num_tokens * (1 - fractions.Fraction(repr(float(validation_fraction)))))


def causal_lm_datasets(
    token_ids,
    sequence_length,
    batch_size,
    validation_fraction=0.1,
    seed=1337,
    sampling="random",
    validation_batches=None,
    loss_mask=None,
    window_starts=None,
):
    """Returns `(train_ds, val_ds)` of `(inputs, targets)` int32 batches for next-token prediction.

    The token array is held once as a 1-D tensor; each element of a dataset is a batch of windows
    sliced from it inside `tf.data` (no window is ever materialised up front). A window starting at
    offset `i` is `inputs = ids[i : i + sequence_length]`, `targets = ids[i + 1 : i + 1 + sequence_length]`.

    - `sampling="random"` (nanoGPT's `get_batch`): training offsets drawn uniformly from
      `[0, len(train) - sequence_length)` by a seeded `tf.data.Dataset.random`, an infinite stream:
      pass `steps_per_epoch` to `fit` (which keeps one iterator across epochs, so the stream
      continues). Batch n is a stateless function of (seed, n): the same seed gives the same stream.
    - `sampling="sequential"`: every non-overlapping training window (offsets `0, T, 2T, ...`),
      shuffled with `seed` and reshuffled each epoch; finite.

    Validation uses the non-overlapping windows of the last `validation_fraction` of the tokens
    (or one at each of `window_starts` there, which may overlap) in order (no shuffling), finite,
    and the first `validation_batches` batches of them when that is set. Batches drop the remainder
    so that shapes are fixed (XLA), and the datasets prefetch and use the `DATA` auto-shard policy
    so they shard under any `tf.distribute` strategy.

    With a `loss_mask` (one 0/1 per token: 1 where predicting that token counts, e.g. the responses
    of prompt/response pairs in supervised fine-tuning, 0 on the prompts), each batch also carries
    `sample_weight`, the mask at the targets' positions, which `fit` and `evaluate` apply per token.
    Compile the loss with `reduction="mean_with_sample_weight"` to average over the counted tokens
    only (Keras's default divides by every token).

    With `window_starts` (the offset of each example in a stream of packed examples, e.g. from
    `ChatTemplate.encode_pairs`), every window, training and validation, starts at one of them, so
    no window opens inside an example with its prompt cut off: random sampling draws a start
    uniformly, sequential sampling takes each start once (shuffled for training, in order for
    validation). A start is used where its split holds `sequence_length + 1` tokens from it. With a
    `loss_mask` too, a `UserWarning` gives the share of training windows that hold no counted
    target (an example whose prompt fills the window is never learned): raise `sequence_length`.

    Args:
        token_ids: 1-D array-like of integer token ids, the whole corpus.
        sequence_length: int, tokens per window (the model's context, nanoGPT's `block_size`).
        batch_size: int, windows per batch (the global batch under a strategy).
        validation_fraction: float in `[0, 1)`; `0` gives no validation set (`val_ds` is `None`).
        seed: int (or `None` for unseeded), the random offsets / shuffle seed.
        sampling: `"random"` or `"sequential"`.
        validation_batches: optional int, the most validation batches to keep.
        loss_mask: optional 1-D array-like of 0/1 (or bool), as long as `token_ids`.
        window_starts: optional 1-D increasing array-like of offsets into `token_ids`.

    Returns:
        `(train_ds, val_ds)`: `tf.data.Dataset`s of `(inputs, targets)`, each int32 of shape
        `(batch_size, sequence_length)`, and float32 `sample_weight` of that shape with a `loss_mask`.

    Example:

    >>> train_ds, val_ds = causal_lm_datasets(np.arange(1000), sequence_length=8, batch_size=4)
    >>> inputs, targets = next(iter(train_ds))
    >>> inputs.shape, bool((inputs[:, 1:] == targets[:, :-1]).numpy().all())
    (TensorShape([4, 8]), True)
    """
    sequence_length, batch_size = _check_settings(sequence_length, batch_size, seed, sampling, validation_batches)
    _check_fraction(validation_fraction)
    token_ids = _as_token_array(token_ids)
    _check_long_enough("the corpus", len(token_ids), sequence_length, "use a longer corpus")
    loss_mask = None if loss_mask is None else _as_loss_mask(loss_mask, len(token_ids))
    window_starts = None if window_starts is None else _as_window_starts(window_starts, len(token_ids))

    train_ids, val_ids = split_tokens(token_ids, validation_fraction)
    train_mask, val_mask = (None, None) if loss_mask is None else split_tokens(loss_mask, validation_fraction)
    fix = "lower validation_fraction" if validation_fraction else "use a longer corpus"
    _check_long_enough("the training split", len(train_ids), sequence_length, fix)
    train_starts, val_starts = (None, None) if window_starts is None else (
        _starts_within(window_starts, 0, len(train_ids), sequence_length, "training split"),
        _starts_within(window_starts, len(train_ids), len(token_ids), sequence_length, "validation split")
        if validation_fraction else None,
    )
    if train_starts is not None and train_mask is not None:
        _check_windows_count(train_mask, train_starts, sequence_length)
    return _window_datasets(
        train_ids, val_ids if validation_fraction else None, sequence_length, batch_size, seed, sampling,
        validation_batches, train_mask, val_mask, train_starts, val_starts, "raise validation_fraction",
    )


def split_causal_lm_datasets(
    train_ids, validation_ids, sequence_length, batch_size, seed=1337, sampling="random", validation_batches=None
):
    """`causal_lm_datasets` over a corpus already split in two, e.g. a `TokenDirectory`'s memory-mapped files.

    The same windows, sampling and batches as `causal_lm_datasets` gives for the concatenation of
    `train_ids` and `validation_ids` split at their boundary. A `numpy.memmap` (`np.memmap` of a
    `train.bin`) is never read whole: each batch's windows are read from it inside `tf.data` (a
    `tf.numpy_function`), so the corpus may be far larger than memory; an in-memory array is held as one
    tensor, as there. Reading from the memory map runs Python: it holds the GIL while it copies a
    batch (well under a millisecond for 64 x 1,024 tokens: `benchmarks/gpt2_small.py`), the dataset
    cannot be serialised (`tf.data` service, `Dataset.save`, a TPU host other than the one running
    Python: use a Cloud TPU VM), and under several workers each reads every global batch and keeps
    its slice. The file must be local (copy a bucket's to the machine's disk).

    Args:
        train_ids: 1-D integer array (or `np.memmap`) of the training tokens.
        validation_ids: the same for validation, or None for no validation set.
        sequence_length, batch_size, seed, sampling, validation_batches: as `causal_lm_datasets`.

    Returns:
        `(train_ds, val_ds)` as `causal_lm_datasets` (`val_ds` is None without `validation_ids`).

    Example:

    >>> train_ds, val_ds = split_causal_lm_datasets(np.arange(900), np.arange(100), sequence_length=8, batch_size=4)
    >>> next(iter(val_ds))[0].shape
    TensorShape([4, 8])
    """
    sequence_length, batch_size = _check_settings(sequence_length, batch_size, seed, sampling, validation_batches)
    train_ids = _as_token_array(train_ids, "train_ids")
    validation_ids = None if validation_ids is None else _as_token_array(validation_ids, "validation_ids")
    _check_long_enough("the training split", len(train_ids), sequence_length, "use a longer corpus")
    return _window_datasets(train_ids, validation_ids, sequence_length, batch_size, seed, sampling,
                            validation_batches, fix="use more validation tokens")


def _window_datasets(train_ids, val_ids, sequence_length, batch_size, seed, sampling, validation_batches,
                     train_mask=None, val_mask=None, train_starts=None, val_starts=None, fix=""):
    if sampling == "random":
        train_ds = _random_windows(train_ids, sequence_length, batch_size, seed, train_mask, train_starts)
    else:
        train_ds = _sequential_windows(
            train_ids, sequence_length, batch_size, "training split", shuffle=True, seed=seed, mask=train_mask,
            starts=train_starts,
        )

    val_ds = None
    if val_ids is not None:
        _check_long_enough("the validation split", len(val_ids), sequence_length, fix)
        val_ds = _sequential_windows(
            val_ids, sequence_length, batch_size, "validation split", shuffle=False, seed=None, mask=val_mask,
            starts=val_starts,
        )
        if validation_batches is not None:
            val_ds = val_ds.take(validation_batches)
    return _finish(train_ds), (None if val_ds is None else _finish(val_ds))


def _random_windows(ids, sequence_length, batch_size, seed, mask=None, starts=None):
    """Infinite batches of windows at uniform random offsets in `[0, len(ids) - sequence_length)`
    (or drawn uniformly from `starts`).

    Batch `n`'s offsets are a stateless function of `(seed, n)`, so the stream is the same for the
    same seed wherever and however often the dataset is built (two runs in one process, a
    strategy's replicas), and it continues, never repeats, while one iterator lives across epochs.
    """
    num_offsets = len(ids) - sequence_length if starts is None else len(starts)
    allowed = None if starts is None else tf.constant(starts, tf.int64)
    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1))

    def draw(step):  # step: int64 scalar, the batch index
        drawn = tf.random.stateless_uniform(
            [batch_size], seed=tf.stack([tf.constant(seed, tf.int64), step]), maxval=num_offsets, dtype=tf.int64
        )
        return drawn if allowed is None else tf.gather(allowed, drawn)

    offsets = tf.data.Dataset.counter().map(draw)  # (batch,) per element
    return _batched_windows(offsets, ids, sequence_length, batch_size, batched=True, mask=mask)


def _sequential_windows(ids, sequence_length, batch_size, split_name, shuffle, seed, mask=None, starts=None):
    """The non-overlapping windows `0, T, 2T, ...` (each needs T + 1 tokens), or one at each of `starts`,
    optionally shuffled."""
    num_windows = (len(ids) - 1) // sequence_length if starts is None else len(starts)
    if num_windows < batch_size:
        raise ValueError(
            f"the {split_name} has {len(ids)} tokens, {num_windows} window(s) of sequence_length="
            f"{sequence_length} + 1 tokens, fewer than batch_size={batch_size}, so it would give no "
            "full batch; lower batch_size or sequence_length, or use more tokens"
        )
    if starts is None:
        offsets = tf.data.Dataset.range(num_windows).map(lambda i: i * sequence_length)
    else:
        offsets = tf.data.Dataset.from_tensor_slices(tf.constant(starts, tf.int64))
    if shuffle:
        # Shuffles window offsets (int64 scalars), not windows: the buffer holds every offset once.
        offsets = offsets.shuffle(num_windows, seed=seed, reshuffle_each_iteration=True)
    return _batched_windows(offsets, ids, sequence_length, batch_size, mask=mask)


def _batched_windows(offsets, ids, sequence_length, batch_size, batched=False, mask=None):
    gather_tokens = _memory_mapped_gather(ids) if isinstance(ids, np.memmap) else _in_memory_gather(ids)
    weights = None if mask is None else tf.constant(mask, dtype=tf.float32)
    window = tf.range(sequence_length + 1, dtype=tf.int64)  # (T + 1,)

    def slice_windows(starts):  # starts: (batch,)
        positions = starts[:, None] + window[None, :]  # (batch, T + 1)
        chunk = gather_tokens(positions)
        if weights is None:
            return chunk[:, :-1], chunk[:, 1:]  # inputs, targets: (batch, T) each
        return chunk[:, :-1], chunk[:, 1:], tf.gather(weights, positions[:, 1:])  # + each target's weight

    if not batched:
        offsets = offsets.batch(batch_size, drop_remainder=True)
    return offsets.map(slice_windows, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _in_memory_gather(ids):
    tokens = tf.constant(ids, dtype=tf.int32)  # (num_tokens,), captured once by the map function
    return lambda positions: tf.gather(tokens, positions)


def _memory_mapped_gather(ids):
    """Reads only the positions asked for from the file behind `ids` (the OS caches its pages), never all of it."""

    def read(positions):
        tokens = ids[positions]
        if tokens.dtype != np.uint16 and (tokens.min() < 0 or tokens.max() > np.iinfo(np.int32).max):
            raise ValueError(f"token ids must be in [0, 2**31); a batch read from {ids.filename!r} holds values "
                             f"from {tokens.min()} to {tokens.max()}")
        return tokens.astype(np.int32)

    def gather(positions):
        tokens = tf.numpy_function(read, [positions], tf.int32, stateful=False)
        tokens.set_shape(positions.shape)
        return tokens

    return gather


def _check_settings(sequence_length, batch_size, seed, sampling, validation_batches):
    sequence_length = _check_positive_int("sequence_length", sequence_length)
    batch_size = _check_positive_int("batch_size", batch_size)
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}; received {sampling!r}")
    if validation_batches is not None:
        _check_positive_int("validation_batches", validation_batches)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValueError(f"seed must be an integer or None; received {seed!r}")
    return sequence_length, batch_size


def _finish(dataset):
    options = tf.data.Options()
    # FILE sharding cannot split range/random sources; DATA shards the stream element-wise.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def _as_token_array(token_ids, name="token_ids"):
    if isinstance(token_ids, (tf.Tensor, tf.Variable)):
        token_ids = token_ids.numpy()
    array = token_ids if isinstance(token_ids, np.memmap) else np.asarray(token_ids)
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of token ids (the whole corpus, e.g. "
            f"tokenizer.encode_text(text)); received shape {array.shape}"
        )
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integers; received dtype {array.dtype}")
    if isinstance(array, np.memmap):  # a token file: read batch by batch, never scanned or copied whole
        if array.dtype not in (np.uint16, np.uint32, np.int32):
            raise ValueError(f"{name}, a memory-mapped token file, must hold uint16, uint32 or int32 ids "
                             f"(TokenDirectory's); received dtype {array.dtype}")
        return array
    if array.size and (array.min() < 0 or array.max() > np.iinfo(np.int32).max):
        raise ValueError(
            f"{name} must be in [0, 2**31); received values from {array.min()} to {array.max()}"
        )
    return array.astype(np.int32, copy=False)


def _as_loss_mask(loss_mask, num_tokens):
    if isinstance(loss_mask, (tf.Tensor, tf.Variable)):
        loss_mask = loss_mask.numpy()
    array = np.asarray(loss_mask)
    if array.shape != (num_tokens,):
        raise ValueError(f"loss_mask must hold one 0/1 per token, shape ({num_tokens},) as token_ids; "
                         f"received shape {array.shape}")
    if array.dtype != bool and not (np.issubdtype(array.dtype, np.number) and np.isin(array, (0, 1)).all()):
        bad = array if array.dtype.kind not in "iuf" else array[~np.isin(array, (0, 1))]
        raise ValueError(f"loss_mask must be 0/1 or bool (1: the token's prediction counts); "
                         f"received values such as {bad.ravel()[:3].tolist()} (dtype {array.dtype})")
    if not array.any():
        raise ValueError("loss_mask is 0 everywhere, so no token would count in the loss; "
                         "mark the tokens to learn with 1")
    return array.astype(np.float32)


def _as_window_starts(window_starts, num_tokens):
    if isinstance(window_starts, (tf.Tensor, tf.Variable)):
        window_starts = window_starts.numpy()
    array = np.asarray(window_starts)
    if array.ndim != 1 or not array.size or not np.issubdtype(array.dtype, np.integer):
        raise ValueError("window_starts must be a non-empty 1-D array of integer offsets (where each example "
                         f"starts); received shape {array.shape}, dtype {array.dtype}")
    if array.min() < 0 or array.max() >= num_tokens or (np.diff(array) <= 0).any():
        raise ValueError(f"window_starts must increase strictly and lie in [0, {num_tokens}) (offsets into "
                         f"token_ids); received values from {array.min()} to {array.max()}")
    return array.astype(np.int64)


def _starts_within(window_starts, begin, end, sequence_length, split_name):
    """The starts in `[begin, end)` with `sequence_length + 1` tokens before `end`, relative to `begin`."""
    starts = window_starts[(window_starts >= begin) & (window_starts + sequence_length < end)] - begin
    if not starts.size:
        raise ValueError(f"no window start in the {split_name} has sequence_length={sequence_length} + 1 tokens "
                         "after it; lower sequence_length or use more examples")
    return starts


def _check_windows_count(mask, starts, sequence_length):
    """Raises when no window from `starts` holds a target the loss mask counts (every prompt too long), warns
    when some do not."""
    counted = np.concatenate([[0.0], np.cumsum(mask)])  # counted[i]: counted tokens before position i
    empty = (counted[starts + sequence_length + 1] - counted[starts + 1]) == 0
    if empty.any() and not empty.all():
        warnings.warn(f"{int(empty.sum())} of {len(starts)} training windows of sequence_length={sequence_length} "
                      "hold no token the loss_mask counts (their example's prompt fills the window), so those "
                      "examples are never learned; raise sequence_length or shorten the prompts", stacklevel=3)
    if empty.all():
        raise ValueError(f"no training window of sequence_length={sequence_length} reaches a token the loss_mask "
                         "counts (e.g. every prompt fills the window before its response starts); raise "
                         "sequence_length or shorten the prompts")


def _check_long_enough(what, num_tokens, sequence_length, fix):
    needed = sequence_length + 1
    if num_tokens < needed:
        raise ValueError(
            f"{what} has {num_tokens} tokens but one window of sequence_length={sequence_length} needs "
            f"{needed} (inputs plus the one-token shift); lower sequence_length or {fix}"
        )


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; received {value!r}")
    return int(value)


def _check_fraction(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"validation_fraction must be a number in [0, 1); received {value!r}")
