import re

import keras
import keras_hub
import numpy as np
import pytest

from kerastune.models.bert_encoder import BertEncoder
from kerastune.models.gpt import GPT
from kerastune.models.text_classifier import TextClassifier
from kerastune.peft import apply_peft, merged_for_export, peft_weights, trainable_summary
from kerastune.peft.adapter_file import base_weights_fingerprint

INPUTS = {
    "token_ids": np.array([[2, 5, 9, 3, 0], [2, 7, 3, 0, 0]], "int32"),
    "segment_ids": np.zeros((2, 5), "int32"),
    "padding_mask": np.array([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], "int32"),
}
LABELS = np.array([0, 1])


def _classifier(own_encoder=False, seed=0):
    keras.utils.set_random_seed(seed)
    if own_encoder:
        backbone = BertEncoder(vocabulary_size=20, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16,
                               max_sequence_length=8)
    else:
        backbone = keras_hub.models.BertBackbone(20, 2, 2, 8, 16, max_sequence_length=8)
    return TextClassifier(backbone, num_classes=2, pooling="mean", dropout=0.0)


def _fit(model, steps=3):
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)  # tiny: tracing would cost more than the steps
    model.fit(INPUTS, LABELS, epochs=steps, verbose=0)


@pytest.mark.parametrize("method", ["lora", "dora", "adapter"])
@pytest.mark.parametrize("own_encoder", [False, True])
def test_trains_only_the_method_and_the_head_and_leaves_the_base_unchanged(method, own_encoder):
    model = _classifier(own_encoder)
    before = keras.ops.convert_to_numpy(model(INPUTS))
    apply_peft(model, method, rank=2, adapter_size=4)
    np.testing.assert_allclose(model(INPUTS), before, atol=1e-3)  # starts from the base model
    trained = {w.path for w in model.trainable_weights}
    added = {w.path for w in peft_weights(model)}
    extra = trained - added - {"logits/kernel", "logits/bias"}
    if method == "adapter":  # Houlsby trains the layer norms too
        assert extra and all("norm" in path for path in extra), extra
    else:
        assert not extra, extra
    wrapped = {re.match(r".*_(?:lora|dora|adapter)/", p).group(0) for p in added}
    # 2 layers x (LoRA: all six projections; DoRA: query + value; adapters: attention + feed-forward outputs), with
    # KerasHub's projection names and kerastune's alike
    assert len(wrapped) == 2 * (6 if method == "lora" else 2), wrapped
    summary = trainable_summary(model)
    assert summary["trainable"] == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert summary["total"] == sum(int(np.prod(w.shape)) for w in model.weights)
    base = base_weights_fingerprint(model)
    _fit(model)
    assert base_weights_fingerprint(model) == base
    assert np.abs(keras.ops.convert_to_numpy(model(INPUTS)) - before).max() > 1e-3  # it learned something


@pytest.mark.parametrize("method", ["lora", "dora"])
def test_merged_predictions_equal_and_the_base_comes_back_exactly(method):
    model = _classifier()
    apply_peft(model, method, rank=2)
    _fit(model)
    adapted = keras.ops.convert_to_numpy(model(INPUTS))
    kernels = {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}
    with merged_for_export(model):
        assert not peft_weights(model)  # plain projections back in place
        merged = keras.ops.convert_to_numpy(model(INPUTS))
        assert len(model.weights) < len(kernels)
    np.testing.assert_allclose(merged, adapted, atol=1e-5)
    assert {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}.keys() == kernels.keys()
    for w in model.weights:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), kernels[w.path])
    np.testing.assert_array_equal(model(INPUTS), adapted)


def test_lora_fine_tunes_a_pretrained_gpt_on_new_text_and_leaves_it_unchanged():
    keras.utils.set_random_seed(0)
    gpt = GPT(vocabulary_size=12, sequence_length=8, num_layers=2, num_heads=2, hidden_dim=16)
    old = np.tile(np.arange(8, dtype="int32"), (16, 1)) % 6  # "pretraining" text: 0 1 2 3 4 5 0 1
    new = (np.tile(np.arange(8, dtype="int32"), (16, 1)) % 3) + 6  # new text: 6 7 8 6 7 8 ...
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    gpt.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss, jit_compile=False)
    gpt.fit(np.tile(old[:, :-1], (20, 1)), np.tile(old[:, 1:], (20, 1)), batch_size=16, verbose=0)  # 20 steps
    pretrained = {w.path: keras.ops.convert_to_numpy(w) for w in gpt.weights}
    apply_peft(gpt, "lora", rank=4, alpha=8.0, targets="query,value,lm_head")
    assert trainable_summary(gpt)["trainable_percent"] < 50
    gpt.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss, jit_compile=False)
    start = gpt.evaluate(new[:, :-1], new[:, 1:], verbose=0)
    gpt.fit(np.tile(new[:, :-1], (30, 1)), np.tile(new[:, 1:], (30, 1)), batch_size=16, verbose=0)
    assert gpt.evaluate(new[:, :-1], new[:, 1:], verbose=0) < 0.5 * start
    for w in gpt.weights:
        if w.path in pretrained:
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), pretrained[w.path])


def test_bad_requests_are_named():
    model = _classifier()
    with pytest.raises(ValueError, match=r"method must be one of \('lora', 'dora', 'adapter', 'prefix', 'prompt'\). Received: method='ia3'"):
        apply_peft(model, "ia3")
    with pytest.raises(ValueError, match=r"No projection of .* matches targets='qkv'. Its projections are: .*query"):
        apply_peft(model, "lora", targets="qkv")
    apply_peft(model, "lora")
    with pytest.raises(ValueError, match="is already adapted with .*'lora'.*build a fresh model"):
        apply_peft(model, "adapter")
