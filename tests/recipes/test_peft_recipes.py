"""Every parameter-efficient method is one switch (`peft=`) of the fine-tuning recipes."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastune.export.classifier_from_export import load_classifier
from kerastune.peft import load_adapter, peft_weights
from kerastune.peft.adapter_file import base_weights_fingerprint
from kerastune.recipes.text_classifier import text_classifier
from kerastune.recipes.token_classifier import token_classifier
from kerastune.recipes.training_setup import FULL_FINE_TUNING_LEARNING_RATE, PEFT_LEARNING_RATES
from tests.recipes.test_text_classifier_recipe import VOCAB, write_task
from tests.recipes import test_token_classifier_recipe as tagging
from tests.tiny_backbone import write_tiny_backbone


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    directory = tmp_path_factory.mktemp("peft_task")
    (directory / "vocab.txt").write_text("\n".join(VOCAB))
    return dict(
        backbone="kerastune_bert", train=write_task(directory, 128, 0), validation=write_task(directory, 64, 1),
        vocabulary=str(directory / "vocab.txt"), num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=32, batch_size=16, epochs=4, learning_rate=3e-2, dropout=0.0, jit_compile=False,
        ema_momentum=0.0, lora_rank=4,
    )


@pytest.mark.parametrize("method", ["lora", "adapter", "prompt"])
def test_a_peft_switch_trains_little_exports_merged_and_reloads_from_its_adapter_file(tmp_path, task, method):
    run = text_classifier(**task, peft=method, adapter_size=8, prompt_length=4)
    summary = run.trainable_summary()
    assert summary["trainable_percent"] < 30, summary
    base = base_weights_fingerprint(run.model)
    added = {v.path: v.numpy().copy() for v in peft_weights(run.model)}
    run.fit(verbose=0)
    assert base_weights_fingerprint(run.model) == base  # the backbone did not move
    assert added and all(not np.allclose(v.numpy(), added[v.path]) for v in peft_weights(run.model))  # the method's did
    report = run.evaluate()
    # chance is 0.5 and the frozen base is random here: 4 prompt vectors steer it less than LoRA or adapters
    assert report["accuracy"] >= (0.7 if method == "prompt" else 0.75), report
    probabilities = run.predict()
    path = run.export(str(tmp_path / "saved_models"))
    served = tf.saved_model.load(path).signatures["serving_default"]
    texts = [line.split("\t")[0] for line in open(task["validation"]).read().splitlines()[1:]]
    answer = served(text=tf.constant(texts))["probabilities"].numpy()
    np.testing.assert_allclose(answer, probabilities, atol=1e-5)  # LoRA merged into the kernels: same answers
    size = run.save_adapter(str(tmp_path / "task.safetensors"))
    assert size == os.path.getsize(tmp_path / "task.safetensors")
    fresh = text_classifier(**task, peft=method, adapter_size=8, prompt_length=4)  # the same seeded base, untrained head
    load_adapter(fresh.model, str(tmp_path / "task.safetensors"))
    np.testing.assert_array_equal(fresh.predict(), probabilities)


@pytest.mark.parametrize("method", ["lora", "dora", "adapter", "prefix", "prompt"])
def test_the_token_classifier_takes_every_method_too(tmp_path, method):
    task = tagging.task.__wrapped__(tmp_path)
    run = token_classifier(**{**task, "learning_rate": 3e-2, "epochs": 4}, peft=method, lora_rank=4, adapter_size=8,
                           prefix_length=4, prefix_reparameterize=False, prompt_length=4,
                           peft_targets="query,value,feed_forward_intermediate" if method in ("lora", "dora") else None)
    base = base_weights_fingerprint(run.model)
    run.fit(verbose=0)
    assert base_weights_fingerprint(run.model) == base
    # a random frozen base: 4 prompt vectors read after [CLS] steer it less than the others
    assert run.evaluate()["f1"] >= (0.7 if method == "prompt" else 0.8)
    assert run.trainable_summary()["trainable_percent"] < 40


def test_without_a_learning_rate_each_method_gets_its_own_and_a_given_one_wins(task):
    untuned = {key: value for key, value in task.items() if key != "learning_rate"}
    assert PEFT_LEARNING_RATES["lora"] > 5 * FULL_FINE_TUNING_LEARNING_RATE  # PEFT wants a far larger rate
    cases = [(None, None, FULL_FINE_TUNING_LEARNING_RATE), ("lora", None, PEFT_LEARNING_RATES["lora"]),
             ("adapter", None, PEFT_LEARNING_RATES["adapter"]), ("lora", 5e-4, 5e-4)]
    for peft, given, expected in cases:
        run = text_classifier(**untuned, peft=peft, learning_rate=given)
        assert run.config.learning_rate == given  # None stays None: a later peft= override re-decides it
        schedule = run.model.optimizer.get_config()["learning_rate"]["config"]
        assert schedule["peak_learning_rate"] == pytest.approx(expected), (peft, given)
    with pytest.raises(ValueError, match="learning_rate must be positive, or None for the recipe's default. "
                                         "Received: learning_rate=-0.001"):
        text_classifier(**untuned, learning_rate=-1e-3)


def test_an_unknown_method_fails_before_training(task):
    with pytest.raises(ValueError, match=r"peft must be one of \('lora', 'dora', 'adapter', 'prefix', 'prompt'\) or None. Received: peft='lorra'"):
        text_classifier(**task, peft="lorra")


def test_a_prompt_takes_positions_from_the_text(tmp_path, task):
    backbone = write_tiny_backbone(tmp_path / "backbone")  # 32 positions
    with pytest.raises(ValueError, match=r"max_sequence_length exceeds the 12 positions .* \(its 20 prompt vectors "
                                         r"take the others\).* Received: max_sequence_length=16"):
        text_classifier(backbone, task["train"], peft="prompt", prompt_length=20, max_sequence_length=16)
    assert text_classifier(backbone, task["train"], peft="prompt", prompt_length=20).sequence_length == 12


def test_lora_defaults_to_trained_layer_norms_and_no_dropout_and_given_settings_win(tmp_path, task):
    untuned = {key: value for key, value in task.items() if key != "dropout"}

    def dropout_rates(run):
        return {layer.rate for layer in run.model._flatten_layers()  # not LoRA's own input dropout, `lora_dropout`
                if isinstance(layer, keras.layers.Dropout) and layer.name != "update_dropout"}

    def norms_train(run):
        norms = [v for v in run.model.backbone.weights if "layer_norm" in v.path or "_norm/" in v.path]
        assert norms
        return {v.trainable for v in norms}

    lora = text_classifier(**untuned, peft="lora")
    assert dropout_rates(lora) == {0.0} and norms_train(lora) == {True}
    full = text_classifier(**untuned)
    assert dropout_rates(full) == {0.1} and norms_train(full) == {True}
    dora = text_classifier(**untuned, peft="dora")  # the other methods keep apply_peft's defaults
    assert dropout_rates(dora) == {0.1} and norms_train(dora) == {False}
    given = text_classifier(**untuned, peft="lora", dropout=0.2, peft_train_norms=False)
    assert dropout_rates(given) == {0.2} and norms_train(given) == {False}
    assert given.config.dropout == 0.2 and lora.config.dropout is None  # None stays None, as learning_rate does
    for run in (lora, full):  # an export's config says dropout=None: it is rebuilt with the rate training used
        model, _, _, config = load_classifier(run.export(str(tmp_path / "exports")))
        assert config["dropout"] is None and dropout_rates(type("Run", (), {"model": model})) == dropout_rates(run)
