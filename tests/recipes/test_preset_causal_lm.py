import json

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.cli import main
from kerastune.recipes.preset_causal_lm import PresetCausalLMConfig, preset_causal_lm
from kerastune.saved_model_predict import one_line, predict_lines
from tests.tiny_causal_lm import tiny_llama, write_tiny_preset

COLOURS = [("sky", "blue"), ("grass", "green"), ("blood", "red"), ("snow", "white")]
ROWS = [{"prompt": f"colour of {thing}?", "response": colour} for thing, colour in COLOURS] * 8


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("preset_causal_lm")
    pairs = root / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    return {"root": root, "pairs": str(pairs), "gpt2": write_tiny_preset(root / "gpt2")}


def settings(files, **overrides):
    return {"preset": files["gpt2"], "data": files["pairs"], "validation_fraction": 0.25, "batch_size": 4,
            "sequence_length": 64, "max_new_tokens": 8, "export_dir": str(files["root"] / "exports"), **overrides}


@pytest.fixture(scope="module")
def tuned(files):
    """Every weight of the tiny GPT-2 tuned until it answers the four colours."""
    run = preset_causal_lm(**settings(files, peft=None, learning_rate=3e-3, epochs=40))
    run.fit(verbose=0)
    return run


def test_the_tuned_model_answers_and_its_export_answers_the_same(tuned):
    prompts = [f"colour of {thing}?" for thing, _ in COLOURS] + ["colour of the sea?"]
    answers = tuned.respond(prompts)
    assert answers[:4] == [colour for _, colour in COLOURS]
    report = tuned.evaluate()
    assert report["exact_match"] == 1.0 and report["num_examples"] == 8 and report["loss"] < 0.5
    path = tuned.export()
    assert predict_lines(path, prompts) == [one_line(answer) for answer in answers]
    served = tf.saved_model.load(path).signatures["serving_default"](prompts=tf.constant(prompts[:1]))
    assert served["generated_text"].numpy()[0].decode() == "### Instruction:\ncolour of sky?\n\n### Response:\nblue"
    assert served["completion"].numpy()[0].decode() == "blue"  # the end token stopped it, and is left out


def test_the_loss_is_the_mean_cross_entropy_of_the_response_tokens(tuned):
    inputs, targets, weights = next(iter(tuned.validation_data.dataset))
    logits = np.asarray(tuned.model(inputs), np.float64)
    log_probabilities = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
        - logits.max(-1, keepdims=True)
    picked = np.take_along_axis(log_probabilities, targets.numpy()[..., None], -1)[..., 0]
    reference = -(picked * weights.numpy()).sum() / weights.numpy().sum()
    one_batch = tf.data.Dataset.from_tensors((inputs, targets, weights))
    loss, _ = tuned.model.evaluate(one_batch, verbose=0)
    assert loss == pytest.approx(reference, rel=1e-4)


def test_a_prompt_that_leaves_no_room_to_answer_is_refused(tuned):
    with pytest.raises(tf.errors.InvalidArgumentError, match="do not fit in the 128 positions of the model"):
        tuned.respond("x" * 130)


def test_lora_trains_only_its_factors_and_saves_merged_or_alone(files, tmp_path):
    run = preset_causal_lm(**settings(files, epochs=1, learning_rate=1e-2, lora_rank=2))
    trainable = {w.path for w in run.model.trainable_weights}
    assert trainable and all("lora_kernel" in path for path in trainable)  # biases frozen, as PEFT's bias="none"
    frozen = {w.path: np.array(w) for w in run.model.weights if w.path not in trainable}
    run.fit(verbose=0)
    assert all(np.array_equal(np.array(w), frozen[w.path]) for w in run.model.weights if w.path in frozen)
    factors = [w for w in run.model.trainable_weights if "lora_kernel_b" in w.path]
    assert all(np.abs(np.array(w)).max() > 0 for w in factors)  # B starts at zero: it moved
    inputs = next(iter(run.validation_data.dataset))[0]
    expected = np.asarray(run.model(inputs))

    merged = keras_hub.models.CausalLM.from_preset(run.save(str(tmp_path / "merged")))
    assert not any("lora" in w.path for w in merged.weights)
    np.testing.assert_allclose(np.asarray(merged(inputs)), expected, atol=1e-5)
    with pytest.raises(FileExistsError):
        run.save(str(tmp_path / "merged"))

    adapter = run.save_adapter(str(tmp_path / "colours.lora.h5"))
    fresh = keras_hub.models.CausalLM.from_preset(files["gpt2"])
    fresh.backbone.load_lora_weights(adapter)
    np.testing.assert_allclose(np.asarray(fresh(inputs)), expected, atol=1e-5)


def test_a_llama_with_a_sentencepiece_vocabulary_tunes_and_exports(files, tmp_path):
    llama = write_tiny_preset(files["root"] / "llama", tiny_llama)
    run = preset_causal_lm(**settings(files, preset=llama, peft=None, learning_rate=3e-3, epochs=2,
                                      export_dir=str(tmp_path)))
    run.fit(verbose=0)
    prompts = ["colour of sky?", "colour of snow?"]
    assert predict_lines(run.export(), prompts) == [one_line(answer) for answer in run.respond(prompts)]


@pytest.mark.parametrize("overrides, message", [
    ({"peft": "dora"}, "peft must be one of"),
    ({"preset": ""}, "needs preset="),
    ({"dropout": 0.1}, "dropout is the preset's own"),
    ({"sampler": "top_q"}, "sampler must be one of"),
    ({"max_new_tokens": 0}, "max_new_tokens must be a positive integer"),
    ({"peft": None, "peft_targets": "all-linear"}, "peft=None tunes every weight"),
    ({"learning_rate": 0.0}, "learning_rate must be a positive float"),
])
def test_bad_settings_fail_when_the_config_is_made(files, overrides, message):
    with pytest.raises(ValueError, match=message):
        PresetCausalLMConfig(**settings(files, **overrides))


def test_settings_the_model_or_data_cannot_take_fail_before_training(files):
    with pytest.raises(ValueError, match="exceeds the 128 positions"):
        preset_causal_lm(**settings(files, sequence_length=200))
    with pytest.raises(ValueError, match="line 1: the pair takes .* more than sequence_length=8"):
        preset_causal_lm(**settings(files, sequence_length=8))
    for targets in ("no_such_layer", "query,valeu", "token_embedding"):  # a typo, an Embedding: refused by name
        with pytest.raises(ValueError, match="must name projections .* its blocks have: attention_output, "
                                             "feedforward_intermediate_dense, feedforward_output_dense, key, query"):
            preset_causal_lm(**settings(files, peft_targets=targets))
    # a validation prompt whose answer would not fit in the positions fails now, not in evaluate after training
    long_prompt = files["root"] / "long_prompt.jsonl"
    long_prompt.write_text(json.dumps({"prompt": "x" * 60, "response": "y"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"long_prompt.jsonl, line 1: the prompt takes \d+ tokens, and with "
                                         "max_new_tokens=40 its answer would not fit in the model's 128 positions"):
        preset_causal_lm(**settings(files, validation=str(long_prompt), sequence_length=128, max_new_tokens=40))


def test_a_recipe_file_of_this_kind_runs_and_its_export_answers_through_the_cli(files, tmp_path, capsys):
    recipe = tmp_path / "colours.toml"
    recipe.write_text(f'recipe = "preset_causal_lm"\nname = "colours"\npreset = "{files["gpt2"]}"\n'
                      f'data = "{files["pairs"]}"\nlora_rank = 2\nepochs = 1\n', encoding="utf-8")
    flags = [f"--{key}={value}" for key, value in settings(files, export_dir=tmp_path / "exports").items()
             if key not in ("preset", "data")] + [f"--logging_dir={tmp_path / 'logs'}", "--run_eagerly=true"]
    assert main(["run", str(recipe), *flags]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "instruction-tuning" in out and '"exact_match"' in out and "saved the LoRA weights" in out
    version = tmp_path / "exports" / "colours" / "1"
    assert (version / "saved_model.pb").is_file() and (version / "adapter.lora.h5").is_file()
    assert main(["predict", str(version), "colour of sky?", "colour of snow?"]) == 0
    assert capsys.readouterr().out.count("\n") == 2  # one answer a prompt (an empty one is a line too)


@pytest.mark.parametrize("policy", [None, "bfloat16"])
def test_a_crashed_run_resumes_from_its_backup_and_ends_as_an_uninterrupted_one(files, tmp_path, policy):
    from kerastune.training import latest_backup
    from tests.recipes.test_fine_tuning_backups import PowerCut

    run_settings = settings(files, epochs=2, learning_rate=1e-2, lora_rank=2, run_eagerly=True,
                            peft_targets="all-linear", mixed_precision=policy,
                            backup_dir=str(tmp_path / "backups"), backup_every_steps=2)
    uninterrupted = preset_causal_lm(**run_settings)
    steps = uninterrupted.train_data.steps_per_epoch
    uninterrupted.fit(validate=False, verbose=0)
    expected = [np.array(w, "float32") for w in uninterrupted.model.weights]

    with pytest.raises(RuntimeError, match="power cut"):
        preset_causal_lm(**run_settings).fit(validate=False, callbacks=[PowerCut(at=steps + 3)], verbose=0)
    assert steps < latest_backup(str(tmp_path / "backups" / "causal_lm"))[1]["step"] < steps + 3  # mid-epoch 2
    resumed = preset_causal_lm(**run_settings)
    resumed.fit(validate=False, verbose=0)
    for got, want in zip(resumed.model.weights, expected):  # the frozen kernels unmerged, the factors trained on
        np.testing.assert_allclose(np.array(got, "float32"), want, rtol=1e-5, atol=1e-6)


def test_lora_on_named_layers_exports_merged_and_its_adapter_loads_onto_the_same_targets(files, tmp_path):
    run = preset_causal_lm(**settings(files, epochs=1, learning_rate=1e-2, lora_rank=2, peft_targets="all-linear"))
    adapted = {w.path.rsplit("/", 2)[-2] for w in run.model.trainable_weights}
    assert adapted == {"query", "key", "value", "attention_output", "feedforward_intermediate_dense",
                       "feedforward_output_dense"}
    run.fit(verbose=0)
    factors = [np.array(w) for w in run.model.trainable_weights]
    inputs = next(iter(run.validation_data.dataset))[0]
    expected = np.asarray(run.model(inputs))
    report = {"exact_match": 0.5}
    path = run.export(export_dir=str(tmp_path), report=report)
    assert json.load(open(f"{path}/evaluation.json")) == report
    served = tf.saved_model.load(path).signatures["next_token_logits"](token_ids=tf.constant(
        inputs["token_ids"].numpy()[:1, :5], tf.int32))["logits"].numpy()
    np.testing.assert_allclose(served, expected[:1, :5], atol=1e-4)  # the merged kernels answer as LoRA did
    saved = tf.saved_model.load(path)
    assert not any("lora" in v.name for v in saved.signatures["serving_default"].variables)  # merged: unused
    assert all(np.array_equal(np.array(w), f) for w, f in zip(run.model.trainable_weights, factors))
    lora_layers = [layer for layer in run.model.backbone._flatten_layers() if hasattr(layer, "lora_kernel_a")]
    assert len(lora_layers) == 12 and all(layer.lora_enabled for layer in lora_layers)  # LoRA back on after export

    adapter = run.save_adapter(str(tmp_path / "all.lora.h5"))
    fresh = keras_hub.models.CausalLM.from_preset(files["gpt2"])
    fresh.backbone.enable_lora(2, target_layer_names=sorted(adapted))
    fresh.backbone.load_lora_weights(adapter)
    np.testing.assert_allclose(np.asarray(fresh(inputs)), expected, atol=1e-5)


@pytest.mark.parametrize("policy, frozen", [("mixed_bfloat16", "float32"), ("bfloat16", "bfloat16")])
def test_the_model_loads_and_trains_in_the_precision_policy_of_the_run(files, policy, frozen):
    run = preset_causal_lm(**settings(files, epochs=1, mixed_precision=policy))
    assert run.model.backbone.dtype_policy.name == policy
    assert {w.dtype for w in run.model.trainable_weights} == {"float32"}  # Keras keeps LoRA factors in float32
    assert {w.dtype for w in run.model.non_trainable_weights if "kernel" in w.path} == {frozen}
    history = run.fit(validate=False, verbose=0)
    assert np.isfinite(history.history["loss"]).all()



def test_lora_can_train_the_layer_norms_too_and_then_saves_the_whole_model_only(files, tmp_path):
    run = preset_causal_lm(**settings(files, epochs=1, learning_rate=1e-2, peft_train_norms=True))
    norms = [w for w in run.model.trainable_weights if "lora_kernel" not in w.path]
    assert len(norms) == 10 and all("norm" in w.path for w in norms)  # 2 blocks x 2 + the last: scale and offset
    before = [np.array(w) for w in norms]
    run.fit(validate=False, verbose=0)
    assert all(not np.array_equal(np.array(w), b) for w, b in zip(norms, before))
    saved = keras_hub.models.CausalLM.from_preset(run.save(str(tmp_path / "tuned")))
    by_path = {w.path: np.array(w) for w in saved.weights}
    assert all(np.array_equal(by_path[w.path], np.array(w)) for w in norms)
    with pytest.raises(ValueError, match="also trained the layer norms"):
        run.save_adapter(str(tmp_path / "a.lora.h5"))


def test_an_answer_of_several_lines_is_printed_on_one_line_and_can_be_read_back():
    answer = "1. red\n2. blue \\ or green\n"
    line = one_line(answer)
    assert "\n" not in line and line == "1. red\\n2. blue \\\\ or green\\n"
    assert line.encode().decode("unicode_escape") == answer  # the escapes Python reads back

