import json

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.cli import main
from kerastune.recipes.preset_seq2seq import PresetSeq2SeqConfig, preset_seq2seq
from kerastune.saved_model_predict import predict_lines
from tests.tiny_causal_lm import write_tiny_preset
from tests.tiny_seq2seq_lm import tiny_bart, tiny_t5

COLOURS = [("sky", "blue"), ("grass", "green"), ("blood", "red"), ("snow", "white")]
ROWS = [{"question": f"colour of {thing}?", "answer": colour} for thing, colour in COLOURS] * 8


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("preset_seq2seq")
    pairs = root / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    keras.utils.set_random_seed(0)  # the same tiny BART every run
    return {"root": root, "pairs": str(pairs), "bart": write_tiny_preset(root / "bart", tiny_bart)}


def settings(files, **overrides):
    return {"preset": files["bart"], "data": files["pairs"], "validation_fraction": 0.25, "batch_size": 4,
            "max_source_length": 32, "max_target_length": 8, "export_dir": str(files["root"] / "exports"),
            **overrides}


@pytest.fixture(scope="module")
def tuned(files):
    """Every weight of the tiny BART tuned until it answers the four colours."""
    run = preset_seq2seq(**settings(files, peft=None, learning_rate=5e-3, epochs=60))
    run.fit(verbose=0)
    return run


def test_the_tuned_model_answers_as_kerashub_would_and_its_export_the_same(tuned):
    sources = [f"colour of {thing}?" for thing, _ in COLOURS] + ["colour of the sea?"]
    written = tuned.generate(sources)
    assert written[:4] == [colour for _, colour in COLOURS]
    assert tuned.generate("colour of snow?") == "white"
    report = tuned.evaluate()
    assert report["exact_match"] == 1.0 and report["num_examples"] == 8 and report["loss"] < 0.5
    tuned.model.preprocessor = tuned.preprocessor  # KerasHub's own generate, on its own preprocessing
    try:
        tuned.model.preprocessor.encoder_sequence_length = 64
        assert list(tuned.model.generate(sources, max_length=len(tuned.layout.decoder_start) + 9)) == written
    finally:
        tuned.model.preprocessor = None
    path = tuned.export()
    assert predict_lines(path, sources) == written
    assert json.load(open(f"{path}/assets.extra/config.json"))["layout"]["decoder_start"] == \
        list(tuned.layout.decoder_start)


def test_the_loss_is_kerashubs_loss_on_its_own_preprocessed_batch(tuned):
    pairs = tuned.validation_pairs
    x, y, weights = tuned.preprocessor({"encoder_text": tf.constant(pairs.prompts),
                                        "decoder_text": tf.constant(pairs.responses)},
                                       encoder_sequence_length=32, decoder_sequence_length=12)
    reference, _ = tuned.model.evaluate(tf.data.Dataset.from_tensors((x, y, weights)), verbose=0)
    ours = tuned.evaluate()["loss"]  # each length bucket's batches the mean over their target tokens
    batches = list(tuned.validation_data.dataset)
    sizes, counts = [len(y) for _, y, _ in batches], [float(w.numpy().sum()) for _, _, w in batches]
    losses = [tuned.model.evaluate(tf.data.Dataset.from_tensors(batch), verbose=0)[0] for batch in batches]
    assert ours == pytest.approx(np.average(losses, weights=sizes), rel=1e-5)  # Keras averages over examples
    assert np.average(losses, weights=counts) == pytest.approx(reference, rel=1e-4)  # the same tokens, the same loss


def test_lora_trains_only_its_factors_and_saves_merged_or_alone(files, tmp_path):
    run = preset_seq2seq(**settings(files, epochs=1, learning_rate=1e-2, lora_rank=2, peft_targets="all-linear"))
    trainable = {w.path for w in run.model.trainable_weights}
    assert trainable and all("lora_kernel" in path for path in trainable)
    frozen = {w.path: np.array(w) for w in run.model.weights if w.path not in trainable}
    run.fit(verbose=0)
    assert all(np.array_equal(np.array(w), frozen[w.path]) for w in run.model.weights if w.path in frozen)
    inputs = next(iter(run.validation_data.dataset))[0]
    expected = np.asarray(run.model(inputs))
    adapted = {w.path.rsplit("/", 2)[-2] for w in run.model.trainable_weights}
    assert {"query", "key", "value", "attention_output"} <= adapted  # the encoder's, the decoder's and cross-attention

    merged = keras_hub.models.Seq2SeqLM.from_preset(run.save(str(tmp_path / "merged")))
    assert not any("lora" in w.path for w in merged.weights)
    np.testing.assert_allclose(np.asarray(merged(inputs)), expected, atol=1e-5)

    adapter = run.save_adapter(str(tmp_path / "colours.lora.h5"))
    fresh = keras_hub.models.Seq2SeqLM.from_preset(files["bart"])
    fresh.backbone.enable_lora(2, target_layer_names=run.lora_targets)
    fresh.backbone.load_lora_weights(adapter)
    np.testing.assert_allclose(np.asarray(fresh(inputs)), expected, atol=1e-5)

    path = run.export(export_dir=str(tmp_path))  # merged in the export; the run keeps its factors
    assert predict_lines(path, ["colour of sky?"]) == [run.generate("colour of sky?")]
    assert {w.path for w in run.model.trainable_weights} == trainable


def test_a_t5_with_a_source_prefix_tunes_and_exports(files, tmp_path):
    t5 = write_tiny_preset(files["root"] / "t5", tiny_t5)
    run = preset_seq2seq(**settings(files, preset=t5, peft=None, learning_rate=3e-3, epochs=2,
                                    source_prefix="answer: ", export_dir=str(tmp_path)))
    assert run.train_data.examples.encoder_ids[0][-1] == run.tokenizer.end_token_id  # T5: source </s>
    run.fit(verbose=0)
    sources = ["colour of sky?", "colour of snow?"]
    assert predict_lines(run.export(), sources) == run.generate(sources)
    lora = preset_seq2seq(**settings(files, preset=t5, epochs=1, export_dir=str(tmp_path)))  # KerasHub's defaults
    assert lora.lora_targets == ["query_projector", "value_projector"]  # name no T5 layer: its query and value


@pytest.mark.parametrize("overrides, message", [
    ({"peft": "dora"}, "peft must be one of"),
    ({"preset": ""}, "preset_seq2seq needs preset=: .* of an encoder-decoder"),
    ({"data": ""}, "preset_seq2seq needs data=: .* of source/target pairs"),
    ({"dropout": 0.1}, "dropout is the preset's own"),
    ({"max_target_length": 0}, "max_target_length must be a positive integer"),
    ({"peft": None, "peft_train_norms": True}, "peft=None tunes every weight"),
])
def test_bad_settings_fail_when_the_config_is_made(files, overrides, message):
    with pytest.raises(ValueError, match=message):
        PresetSeq2SeqConfig(**settings(files, **overrides))


def test_settings_the_model_or_data_cannot_take_fail_before_training(files):
    with pytest.raises(ValueError, match="max_source_length=200 and the 2 special tokens .* 128 positions"):
        preset_seq2seq(**settings(files, max_source_length=200))
    with pytest.raises(ValueError, match=r"target texts are longer than max_target_length=2 tokens .* line 1 of"):
        preset_seq2seq(**settings(files, max_target_length=2))
    with pytest.raises(ValueError, match="must name projections .* its blocks have: .*query"):
        preset_seq2seq(**settings(files, peft_targets="querry"))
    with pytest.raises(ValueError, match="holds no sequence-to-sequence LM"):
        from tests.tiny_causal_lm import tiny_gpt2
        preset_seq2seq(**settings(files, preset=write_tiny_preset(files["root"] / "gpt2", tiny_gpt2)))


def test_a_recipe_file_of_this_kind_runs_and_its_export_answers_through_the_cli(files, tmp_path, capsys):
    recipe = tmp_path / "colours.toml"
    recipe.write_text(f'recipe = "preset_seq2seq"\nname = "colours"\npreset = "{files["bart"]}"\n'
                      f'data = "{files["pairs"]}"\nlora_rank = 2\nepochs = 1\n', encoding="utf-8")
    flags = [f"--{key}={value}" for key, value in settings(files, export_dir=tmp_path / "exports").items()
             if key not in ("preset", "data")] + [f"--logging_dir={tmp_path / 'logs'}", "--run_eagerly=true"]
    assert main(["run", str(recipe), *flags]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "fine-tuning" in out and '"exact_match"' in out and "source: " in out and "saved the LoRA weights" in out
    version = tmp_path / "exports" / "colours" / "1"
    assert (version / "saved_model.pb").is_file() and (version / "adapter.lora.h5").is_file()
    assert main(["predict", str(version), "colour of sky?", "colour of snow?"]) == 0
    assert capsys.readouterr().out.count("\n") == 2
