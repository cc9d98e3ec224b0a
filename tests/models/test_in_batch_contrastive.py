import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.distribute import get_strategy
from kerastune.models.in_batch_contrastive import InBatchContrastive
from kerastune.models.sentence_encoder import SentenceEncoder


def encoder(seed=0):
    keras.utils.set_random_seed(seed)
    return SentenceEncoder(keras_hub.models.BertBackbone(40, 1, 2, 16, 32, max_sequence_length=16, dropout=0.0))


def texts(n, width, seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, width + 1, n)
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype("int32")
    return {"token_ids": rng.integers(5, 40, (n, width)).astype("int32") * mask,
            "segment_ids": np.zeros_like(mask), "padding_mask": mask}


def batch(n=4, negatives=False, group=None):
    out = {"anchor": texts(n, 6, 1), "positive": texts(n, 7, 2)}
    if negatives:
        out["negative"] = texts(n, 5, 3)
    if group is not None:
        out["group"] = np.asarray(group, "int32")
    return out


def unit(x):
    x = keras.ops.convert_to_numpy(x)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def cross_entropy(logits):
    """Mean over rows of -log softmax(row)[row index]: each anchor's own positive is the target."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probabilities[np.arange(len(logits)), np.arange(len(logits))].mean()


@pytest.mark.parametrize("negatives", [False, True])
def test_logits_are_scaled_cosines_against_every_candidate(negatives):
    model = InBatchContrastive(encoder(), scale=7.0)
    x = batch(negatives=negatives)
    candidates = [unit(model.encoder(x["positive"]))] + ([unit(model.encoder(x["negative"]))] if negatives else [])
    expected = 7.0 * unit(model.encoder(x["anchor"])) @ np.concatenate(candidates).T
    got = keras.ops.convert_to_numpy(model(x))
    assert got.shape == (4, 8 if negatives else 4)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_same_group_positives_of_other_anchors_are_masked_out():
    model = InBatchContrastive(encoder())
    x = batch(negatives=True, group=[0, 1, 0, 2])
    plain = keras.ops.convert_to_numpy(model({k: v for k, v in x.items() if k != "group"}))
    got = keras.ops.convert_to_numpy(model(x))
    masked = np.zeros_like(got, bool)
    masked[0, 2] = masked[2, 0] = True  # anchors 0 and 2 share group 0: each other's positive is not a negative
    assert (got[masked] < -1e3).all()
    np.testing.assert_allclose(got[~masked], plain[~masked], rtol=1e-6)


def test_loss_and_accuracy_use_each_anchors_own_positive_as_target():
    model = InBatchContrastive(encoder(), scale=20.0)
    model.compile(optimizer="sgd")
    x = batch(n=6, negatives=True, group=[0, 0, 1, 1, 2, 3])
    logits = keras.ops.convert_to_numpy(model(x))
    results = model.evaluate(tf.data.Dataset.from_tensors(x), return_dict=True, verbose=0)
    np.testing.assert_allclose(results["loss"], cross_entropy(logits), rtol=1e-5)
    np.testing.assert_allclose(results["accuracy"], (logits.argmax(1) == np.arange(6)).mean())


def test_training_pulls_pairs_together():
    model = InBatchContrastive(encoder(), scale=20.0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    x = batch(n=8)
    before = model.evaluate(tf.data.Dataset.from_tensors(x), return_dict=True, verbose=0)
    model.fit(tf.data.Dataset.from_tensors(x).repeat(), steps_per_epoch=30, verbose=0)
    after = model.evaluate(tf.data.Dataset.from_tensors(x), return_dict=True, verbose=0)
    assert after["loss"] < 0.5 * before["loss"] and after["accuracy"] == 1.0


def masked_cross_entropy(logits, group):
    """`cross_entropy` with every other same-group positive out of the softmax (the positives' block)."""
    logits = logits.copy()
    n = len(group)
    same = (group[:, None] == group[None, :]) & ~np.eye(n, dtype=bool)
    logits[:, :n][same] = -1e4
    return cross_entropy(logits)


@pytest.mark.parametrize("gather", [True, False])
def test_under_a_strategy_anchors_meet_every_replicas_candidates(gather):
    strategy = get_strategy("mirrored")  # the two logical CPUs of conftest.py, summed on one device
    group = np.array([0, 1, 0, 2, 1, 3, 0, 4], "int32")  # same-group pairs within and across the two halves
    x = batch(n=8, negatives=True, group=group)
    with strategy.scope():
        model = InBatchContrastive(encoder(), scale=20.0, gather_across_replicas=gather)
        model.compile(optimizer="sgd")
    loss = model.evaluate(tf.data.Dataset.from_tensors(x), return_dict=True, verbose=0)["loss"]
    plain = InBatchContrastive(model.encoder, scale=20.0)  # the same weights, one device
    if gather:  # the whole batch's loss, as on one device
        logits = keras.ops.convert_to_numpy(plain({k: v for k, v in x.items() if k != "group"}))
        expected = masked_cross_entropy(logits, group)
    else:  # each half against its own candidates
        halves = [{k: ({f: w[i * 4:(i + 1) * 4] for f, w in v.items()} if isinstance(v, dict) else v[i * 4:(i + 1) * 4])
                   for k, v in x.items()} for i in (0, 1)]
        expected = np.mean([masked_cross_entropy(keras.ops.convert_to_numpy(
            plain({k: v for k, v in h.items() if k != "group"})), h["group"]) for h in halves])
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_an_uneven_last_batch_on_two_replicas_scores_as_on_one_device():
    # a full batch first: Keras builds a model under a strategy from its data's first batch reduced across
    # replicas (keras/src/backend/tensorflow/trainer.py `_maybe_symbolic_build`), which an uneven split fails for
    # any model; a recipe's batches are full but for a validation set's last, at least half a batch
    # (`validation_batch_sizes`: a replica left with no pair would break the gather's collectives)
    n = 7
    group = np.array([0, 1, 0, 2, 1, 3, 0][:n], "int32")
    batches = [batch(n=8, negatives=True, group=np.arange(8) % 3), batch(n=n, negatives=True, group=group)]
    data = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=tf.nest.map_structure(
        lambda v: tf.TensorSpec((None,) + v.shape[1:], v.dtype), batches[0]))
    data = data.apply(tf.data.experimental.assert_cardinality(2))  # no third step begun on one replica only
    strategy = get_strategy("mirrored")  # the two logical CPUs of conftest.py, summed on one device
    with strategy.scope():
        two = InBatchContrastive(encoder(), scale=20.0)
        two.compile(optimizer="sgd")
    one = InBatchContrastive(two.encoder, scale=20.0)  # the same weights, one device
    one.compile(optimizer="sgd")
    np.testing.assert_allclose(two.evaluate(data, verbose=0), one.evaluate(data, verbose=0), rtol=1e-5)
    last = keras.ops.convert_to_numpy(one({k: v for k, v in batches[1].items() if k != "group"}))
    assert masked_cross_entropy(last, group) > 0  # the last batch's own loss, counted in both


def test_a_training_step_on_two_replicas_equals_one_on_one_device():
    x = batch(n=8, negatives=True, group=[0, 1, 0, 2, 1, 3, 0, 4])
    data = tf.data.Dataset.from_tensors(x)
    one = InBatchContrastive(encoder(seed=3), scale=20.0)
    one.compile(optimizer=keras.optimizers.SGD(0.5))
    start = [w.copy() for w in one.get_weights()]
    one.fit(data, epochs=1, verbose=0)
    strategy = get_strategy("mirrored")  # the two logical CPUs of conftest.py, summed on one device
    with strategy.scope():
        two = InBatchContrastive(encoder(seed=3), scale=20.0)
        two.compile(optimizer=keras.optimizers.SGD(0.5))
    two.set_weights(start)
    two.fit(data, epochs=1, verbose=0)
    moved = [np.abs(a - b).max() for a, b in zip(one.get_weights(), start)]
    assert max(moved) > 1e-3  # the step changed the weights
    for after_one, after_two in zip(one.get_weights(), two.get_weights()):
        np.testing.assert_allclose(after_two, after_one, rtol=1e-4, atol=1e-6)


def test_keras_save_and_load(tmp_path):
    model = InBatchContrastive(encoder(), scale=5.0)
    x = batch(negatives=True, group=[0, 1, 0, 2])
    model.save(str(tmp_path / "contrastive.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "contrastive.keras"))
    assert isinstance(loaded, InBatchContrastive) and loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6)


def test_config_round_trip_and_bad_arguments():
    model = InBatchContrastive(encoder(), scale=5.0)
    copy = InBatchContrastive.from_config(model.get_config())
    assert copy.scale == 5.0 and isinstance(copy.encoder, SentenceEncoder)
    with pytest.raises(ValueError, match="scale must be a positive number.*Received: scale=0"):
        InBatchContrastive(encoder(), scale=0)
    with pytest.raises(ValueError, match="'anchor' and 'positive'"):
        model({"anchor": texts(2, 4, 0)})
