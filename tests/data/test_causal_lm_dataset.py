import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.causal_lm_dataset import causal_lm_datasets, split_tokens

IDS = np.random.default_rng(0).permutation(1_000)  # distinct ids: a window has one start


def batches(dataset, count=None):
    dataset = dataset if count is None else dataset.take(count)
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def assert_windows_of(ids, inputs, targets):
    """Every row equals a numpy slice of `ids`, and targets are inputs shifted by one token."""
    length = inputs.shape[1]
    starts = []
    for x, y in zip(inputs, targets):
        matches = [i for i in range(len(ids) - length) if np.array_equal(ids[i : i + length], x)]
        assert len(matches) == 1
        start = matches[0]
        np.testing.assert_array_equal(y, ids[start + 1 : start + 1 + length])
        starts.append(start)
    return starts


def test_split_tokens_is_nanogpt_boundary():
    train, val = split_tokens(np.arange(1_115_394))
    assert len(train) == 1_003_854 and train[-1] + 1 == val[0] and len(val) == 111_540
    train, val = split_tokens(list(range(10)), validation_fraction=0.3)
    assert train == list(range(7)) and val == [7, 8, 9]
    train, val = split_tokens(np.arange(5), validation_fraction=0)
    assert len(train) == 5 and len(val) == 0


def test_random_windows_are_slices_with_shifted_targets():
    train_ds, _ = causal_lm_datasets(IDS, sequence_length=8, batch_size=4, seed=3)
    assert train_ds.element_spec == (tf.TensorSpec((4, 8), tf.int32), tf.TensorSpec((4, 8), tf.int32))
    assert train_ds.cardinality() == tf.data.INFINITE_CARDINALITY
    train_ids = IDS[:900]
    for inputs, targets in batches(train_ds, 5):
        starts = assert_windows_of(train_ids, inputs, targets)
        assert all(0 <= s < 900 - 8 for s in starts)


def test_random_seeded_runs_reproduce_and_seeds_differ():
    first = batches(causal_lm_datasets(IDS, 8, 4, seed=1)[0], 3)
    again = batches(causal_lm_datasets(IDS, 8, 4, seed=1)[0], 3)
    other = batches(causal_lm_datasets(IDS, 8, 4, seed=2)[0], 3)
    np.testing.assert_array_equal(np.stack([x for x, _ in first]), np.stack([x for x, _ in again]))
    assert not np.array_equal(np.stack([x for x, _ in first]), np.stack([x for x, _ in other]))


def test_sequential_covers_all_windows_once_and_reshuffles():
    train_ds, _ = causal_lm_datasets(IDS, 10, 4, sampling="sequential", seed=0)
    num_windows = (900 - 1) // 10  # 89 windows -> 22 full batches
    assert train_ds.cardinality() == num_windows // 4
    epoch = batches(train_ds)
    starts = sorted(s for x, y in epoch for s in assert_windows_of(IDS[:900], x, y))
    assert len(starts) == 88 and set(starts) <= set(range(0, 890, 10))
    second = batches(train_ds)
    assert not np.array_equal(np.stack([x for x, _ in epoch]), np.stack([x for x, _ in second]))
    again = batches(causal_lm_datasets(IDS, 10, 4, sampling="sequential", seed=0)[0])
    np.testing.assert_array_equal(np.stack([x for x, _ in epoch]), np.stack([x for x, _ in again]))


def test_validation_is_deterministic_ordered_windows_of_last_fraction():
    _, val_ds = causal_lm_datasets(IDS, 8, 2, validation_fraction=0.1, seed=5)
    val = batches(val_ds)
    assert len(val) == (99 // 8) // 2  # 100 tokens -> 12 windows -> 6 batches
    inputs = np.concatenate([x for x, _ in val])
    targets = np.concatenate([y for _, y in val])
    expected = np.stack([IDS[900 + 8 * i : 900 + 8 * i + 9] for i in range(12)])
    np.testing.assert_array_equal(inputs, expected[:, :-1])
    np.testing.assert_array_equal(targets, expected[:, 1:])
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches(val_ds)]), inputs)
    _, limited = causal_lm_datasets(IDS, 8, 2, validation_batches=2)
    assert len(batches(limited)) == 2


def test_no_validation_split():
    train_ds, val_ds = causal_lm_datasets(IDS, 8, 2, validation_fraction=0.0)
    assert val_ds is None and len(batches(train_ds, 1)) == 1


def test_distributes_under_strategy():
    train_ds, val_ds = causal_lm_datasets(IDS, 8, 4)
    policy = train_ds.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    inputs, targets = next(iter(strategy.experimental_distribute_dataset(train_ds)))
    assert inputs.shape == (4, 8)
    assert len(list(strategy.experimental_distribute_dataset(val_ds))) == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sequence_length": 0}, "sequence_length must be a positive integer; received 0"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer; received 2.5"),
        ({"validation_fraction": 1.0}, r"validation_fraction must be a number in \[0, 1\); received 1.0"),
        ({"sampling": "strided"}, "sampling must be one of .*received 'strided'"),
        ({"validation_batches": 0}, "validation_batches must be a positive integer; received 0"),
        ({"seed": "x"}, "seed must be an integer or None; received 'x'"),
    ],
)
def test_argument_errors_quote_value(kwargs, match):
    arguments = {"sequence_length": 8, "batch_size": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        causal_lm_datasets(IDS, **arguments)


def test_token_array_errors():
    with pytest.raises(ValueError, match=r"1-D array.*received shape \(2, 3\)"):
        causal_lm_datasets(np.zeros((2, 3), int), 2, 1)
    with pytest.raises(ValueError, match="must hold integers; received dtype float"):
        causal_lm_datasets(np.zeros(10), 2, 1)


def test_too_short_corpus_and_splits_say_what_to_change():
    with pytest.raises(ValueError, match=r"the corpus has 8 tokens but one window of sequence_length=8 needs 9"):
        causal_lm_datasets(np.arange(8), 8, 1)
    with pytest.raises(ValueError, match=r"the validation split has 5 tokens .* needs 9.*raise validation_fraction"):
        causal_lm_datasets(np.arange(50), 8, 1)
    with pytest.raises(ValueError, match=r"the training split has 5 tokens .* needs 9.*lower validation_fraction"):
        causal_lm_datasets(np.arange(50), 8, 1, validation_fraction=0.9)
    with pytest.raises(ValueError, match=r"validation split has 100 tokens, 12 window\(s\).*fewer than batch_size=16"):
        causal_lm_datasets(IDS, 8, 16)


@pytest.mark.parametrize("sampling", ["random", "sequential"])
def test_loss_mask_weights_each_target_by_its_own_token(sampling):
    ids = np.arange(400)  # a token's id is its position, so a window shows where it came from
    mask = np.random.default_rng(0).integers(0, 2, 400).astype(bool)
    train_ds, val_ds = causal_lm_datasets(ids, sequence_length=8, batch_size=4, sampling=sampling, loss_mask=mask)
    for dataset in (train_ds.take(5), val_ds):
        for inputs, targets, weights in dataset:
            assert weights.dtype == tf.float32 and weights.shape == targets.shape == (4, 8)
            np.testing.assert_array_equal(weights.numpy(), mask[targets.numpy()].astype("float32"))
    # Without a mask the batches stay (inputs, targets).
    assert len(next(iter(causal_lm_datasets(ids, sequence_length=8, batch_size=4)[0]))) == 2


def test_loss_mask_errors_say_what_is_wrong():
    ids = np.arange(100)
    with pytest.raises(ValueError, match=r"one 0/1 per token, shape \(100,\) as token_ids; received shape \(99,\)"):
        causal_lm_datasets(ids, 8, 2, loss_mask=np.ones(99))
    with pytest.raises(ValueError, match=r"must be 0/1 or bool .* received values such as \[0.5\]"):
        causal_lm_datasets(ids, 8, 2, loss_mask=np.r_[np.ones(99), 0.5])
    with pytest.raises(ValueError, match="loss_mask is 0 everywhere"):
        causal_lm_datasets(ids, 8, 2, loss_mask=np.zeros(100, bool))


@pytest.mark.parametrize("sampling", ["random", "sequential"])
def test_window_starts_open_every_window_at_an_example(sampling):
    ids = np.arange(1_000)  # a token's id is its position
    starts = np.unique(np.random.default_rng(1).integers(0, 1_000, 120))
    train_ds, val_ds = causal_lm_datasets(ids, sequence_length=8, batch_size=4, sampling=sampling,
                                          window_starts=starts, validation_fraction=0.2)
    boundary = 800
    seen = set()
    for inputs, targets in train_ds.take(60):
        np.testing.assert_array_equal(targets.numpy(), inputs.numpy() + 1)
        first = inputs.numpy()[:, 0]
        assert np.isin(first, starts).all() and (first + 8 < boundary).all()  # inside the training split
        seen.update(first.tolist())
    allowed = starts[starts + 8 < boundary]
    assert len(seen) > 0.8 * len(allowed)  # drawn across the starts, not a few of them
    val_first = np.concatenate([inputs.numpy()[:, 0] for inputs, _ in val_ds])
    expected = starts[(starts >= boundary) & (starts + 8 < 1_000)]
    np.testing.assert_array_equal(val_first, expected[: len(val_first)])  # every validation start, in order
    assert len(val_first) == len(expected) // 4 * 4


def test_window_starts_errors_say_what_is_wrong():
    ids = np.arange(100)
    with pytest.raises(ValueError, match=r"increase strictly and lie in \[0, 100\)"):
        causal_lm_datasets(ids, 8, 2, window_starts=[0, 50, 40])
    with pytest.raises(ValueError, match=r"increase strictly and lie in \[0, 100\)"):
        causal_lm_datasets(ids, 8, 2, window_starts=[0, 100])
    with pytest.raises(ValueError, match="non-empty 1-D array of integer offsets"):
        causal_lm_datasets(ids, 8, 2, window_starts=[0.0, 5.0])
    with pytest.raises(ValueError, match=r"no window start in the validation split has sequence_length=8 \+ 1"):
        causal_lm_datasets(ids, 8, 2, window_starts=[0, 10, 20, 85])  # 85 + 9 tokens pass the end
    prompt_heavy = np.tile(np.r_[np.zeros(12), np.ones(3)], 8)  # each 15-token example: a 12-token prompt
    with pytest.raises(ValueError, match="no training window of sequence_length=8 reaches a token the loss_mask"):
        causal_lm_datasets(np.arange(120), 8, 2, validation_fraction=0, loss_mask=prompt_heavy,
                           window_starts=np.arange(0, 120, 15))


def test_window_starts_warn_when_some_examples_are_never_learned():
    # examples of 15 tokens: even ones a 12-token prompt (fills an 8-token window), odd ones a 3-token prompt
    mask = np.concatenate([np.r_[np.zeros(12), np.ones(3)] if i % 2 == 0 else np.r_[np.zeros(3), np.ones(12)]
                           for i in range(8)])
    with pytest.warns(UserWarning, match="4 of 8 training windows of sequence_length=8 hold no token the loss_mask"):
        causal_lm_datasets(np.arange(120), 8, 2, validation_fraction=0, loss_mask=mask,
                           window_starts=np.arange(0, 120, 15))
