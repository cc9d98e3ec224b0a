import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.labelled_text import LabelledText
from kerastune.models.backbone_directory import save_backbone_directory
from kerastune.models.bert_encoder import BertEncoder
from kerastune.recipes.continual import ContinualTask, continual, rehearsal_batches, replay_buffer

WORDS = ["good", "bad", "film", "game", "team", "chip", "code", "bank", "cash", "the", "a", "was"]
VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS


def toy_tasks(n=48):
    rng = np.random.default_rng(0)
    filler = ["the", "a", "was", "film"]
    a_texts, a_labels, b_texts, b_labels = [], [], [], []
    for i in range(n):
        a_labels.append(i % 2)
        a_texts.append(" ".join(list(rng.choice(filler, 3)) + [["bad", "good"][i % 2]]))
        b_labels.append(i % 3)
        b_texts.append(" ".join(list(rng.choice(filler, 3)) + [["team", "chip", "cash"][i % 3]]))
    a = LabelledText(a_texts, None, a_labels, ["neg", "pos"])
    b = LabelledText(b_texts, None, b_labels, ["sports", "tech", "money"])
    return [ContinualTask("a", a, a), ContinualTask("b", b, b)]


@pytest.fixture
def backbone_dir(tmp_path):
    import keras_hub

    encoder = BertEncoder(len(VOCABULARY), 1, 2, 16, 32, dropout=0.0, max_sequence_length=16)
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCABULARY, lowercase=True)
    return save_backbone_directory(encoder, tokenizer, str(tmp_path / "tiny"))


def test_replay_buffer_is_a_stratified_subset_of_the_requested_size():
    data = LabelledText([f"t{i}" for i in range(30)], None, [0] * 20 + [1] * 10, ["x", "y"])
    buffer = replay_buffer(data, 8, seed=1)
    assert len(buffer) == 8 and set(buffer.texts) <= set(data.texts)
    assert sorted(buffer.labels) == [0] * 4 + [1] * 4
    assert replay_buffer(data, 8, seed=1).texts == buffer.texts  # seeded
    assert len(replay_buffer(data, 100)) == 30


def test_rehearsal_mixes_one_replay_batch_after_every_k_new_batches():
    new = tf.data.Dataset.from_tensors(tf.constant(0)).repeat()
    old = tf.data.Dataset.from_tensors(tf.constant(1)).repeat()
    taken = [int(x) for x in rehearsal_batches(new, old, replay_every=3).take(20)]
    assert taken[:8] == [0, 0, 0, 1, 0, 0, 0, 1]
    assert taken.count(1) == 5 and taken.count(0) == 15


def test_unknown_method_is_an_error(backbone_dir):
    with pytest.raises(ValueError, match="method must be one of"):
        continual(backbone_dir, toy_tasks(), method="magic")


def test_lora_per_task_leaves_task_a_outputs_bit_identical(backbone_dir):
    run = continual(backbone_dir, toy_tasks(), method="lora", batch_size=8, epochs=5, lora_learning_rate=1e-2,
                    max_sequence_length=16, jit_compile=False)
    run.fit_task(0, verbose=0)
    before = run.predict(run.eval_text[0], task=0)
    base_before = [v.numpy().copy() for v in run.model.backbone.weights if not v.trainable]
    run.fit_task(1, verbose=0)
    after_b = run.predict(run.eval_text[1], task=1)
    np.testing.assert_array_equal(run.predict(run.eval_text[0], task=0), before)
    for v, w in zip([v for v in run.model.backbone.weights if not v.trainable], base_before):
        np.testing.assert_array_equal(v.numpy(), w)
    assert after_b.shape == (48, 3)
    assert (before.argmax(-1) == np.asarray(run.eval_text[0].labels)).mean() > 0.8  # task A learnt


@pytest.mark.parametrize("method", [pytest.param("naive", marks=pytest.mark.slow), pytest.param("rehearsal", marks=pytest.mark.slow),
                                    pytest.param("ewc", marks=pytest.mark.slow)])
def test_methods_train_both_tasks(method, backbone_dir):
    keras.utils.set_random_seed(0)
    run = continual(backbone_dir, toy_tasks(), method=method, batch_size=8, epochs=5, learning_rate=1e-2, weight_decay=0.0,
                    max_sequence_length=16, replay_size=16, replay_every=2, ewc_strength=10.0, fisher_examples=16,
                    jit_compile=False)
    accuracies = run.fit_all(verbose=0)
    assert set(accuracies[1]) == {"a", "b"}
    assert accuracies[1]["b"] > 0.6  # task B learnt (chance 1/3)
    if method == "ewc":
        assert run._consolidation is not None and float(run._consolidation.penalty()) == 0.0  # anchored after B
