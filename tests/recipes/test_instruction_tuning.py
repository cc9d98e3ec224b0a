"""`causal_lm(data_format="instructions")`: supervised fine-tuning on prompt/response pairs, loss on responses."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastune.peft.adapter_file import base_weights_fingerprint
from kerastune.recipes import causal_lm
from tests.helpers import token_cross_entropy
from tests.recipes.test_causal_lm import TINY
from tests.recipes.test_causal_lm_fine_tuning import pretrained  # noqa: F401 (a module fixture)

WORDS = ["red", "blue", "green", "cat", "dog"]
SMALL = dict(num_layers=1, num_heads=2, hidden_dim=32, intermediate_dim=64, sequence_length=48, batch_size=8,
             validation_batches=4, sample_tokens=0, max_new_tokens=16)


def pairs_file(tmp_path, count=300, words=WORDS, name="pairs.jsonl", ask="say {} twice"):
    """Pairs asking for a word twice ("say cat twice" -> "cat cat"): learnable from the responses alone."""
    words = np.random.default_rng(0).choice(words, count)
    path = tmp_path / name
    lines = (json.dumps({"prompt": ask.format(w), "response": f"{w} {w}"}) + "\n" for w in words)
    path.write_text("".join(lines), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("tuned")
    run = causal_lm(data=pairs_file(tmp_path), data_format="instructions", prompt_format="Q: {prompt}\nA: ",
                    learning_rate=1e-2, warmup_steps=10, total_steps=150, epochs=1, steps_per_epoch=150,
                    run_dir=str(tmp_path / "runs"), export_dir=str(tmp_path / "sm"), **SMALL)
    run.train(verbose=0)
    return run


def test_tuned_gpt_answers_each_prompt_and_stops_at_the_end_marker(tuned):
    prompts = [f"say {w} twice" for w in WORDS]
    assert tuned.respond(prompts) == [f"{w} {w}" for w in WORDS]  # measured: all five right after 150 steps
    assert tuned.respond("say dog twice") == "dog dog"
    assert tuned.model.perplexity(tuned.val_ds) < 1.5  # over the response tokens, the ones the loss counts
    saved = json.load(open(os.path.join(tuned.run_dir(), "config.json")))
    assert (saved["data_format"], saved["prompt_format"]) == ("instructions", "Q: {prompt}\nA: ")


def test_export_wraps_the_prompt_and_answers_as_respond_does(tuned):
    path = tuned.export()
    served = tf.saved_model.load(path).signatures["serving_default"]
    prompts = ["say cat twice", "say green twice"]
    out = {key: [v.decode() for v in value.numpy()] for key, value in served(prompts=tf.constant(prompts)).items()}
    assert out["response"] == tuned.respond(prompts) == ["cat cat", "green green"]
    assert out["generated_text"][0].startswith("Q: say cat twice\nA: cat cat\n\n")
    assert all(len(c) == tuned.config.max_new_tokens for c in out["completion"])  # one character per token
    info = json.load(open(os.path.join(path, "assets.extra", "config.json")))
    assert info["chat_template"] == {"prompt_format": "Q: {prompt}\nA: ", "end_marker": "\n\n"}


def test_the_loss_averages_over_response_tokens_only(tmp_path):
    run = causal_lm(data=pairs_file(tmp_path), data_format="instructions", **{**TINY, "sequence_length": 48})
    x, y, weight = next(iter(run.train_ds))
    token_losses = token_cross_entropy(keras.ops.convert_to_numpy(run.model(x, training=False)), y.numpy())
    weight = weight.numpy()
    expected = (token_losses * weight).sum() / weight.sum()  # response tokens only
    assert 0 < weight.mean() < 0.5  # most tokens are prompts ("Instruction: say cat twice\nResponse: ")
    np.testing.assert_allclose(run.model.evaluate(x, y, sample_weight=weight, verbose=0), expected, rtol=1e-4)
    everything = causal_lm(data=pairs_file(tmp_path), data_format="instructions", loss_on_prompt=True,
                           **{**TINY, "sequence_length": 48})
    assert next(iter(everything.train_ds))[2].numpy().all()


def test_lora_instruction_tunes_a_pretrained_gpt_and_leaves_it_unchanged(tmp_path, pretrained):  # noqa: F811
    path, old_model = pretrained  # trained on "the quick brown fox ..." only: its characters, no others
    data = pairs_file(tmp_path, words=["fox", "dog"], ask="{}")  # "fox is fox fox.": within its 16 positions
    run = causal_lm(data=data, data_format="instructions", init_from=path, peft="lora", lora_rank=4,
                    prompt_format="{prompt} is ", end_marker=".", learning_rate=3e-2, warmup_steps=1, total_steps=60,
                    max_new_tokens=8, **{**TINY, "run_eagerly": False})
    base = base_weights_fingerprint(run.model)
    start = run.model.evaluate(run.val_ds, verbose=0)
    run.model.fit(run.train_ds, epochs=1, steps_per_epoch=60, verbose=0, shuffle=False)
    assert run.model.evaluate(run.val_ds, verbose=0) < 0.85 * start  # measured 2.29 -> 1.75 (this tiny GPT)
    assert base_weights_fingerprint(run.model) == base
    with pytest.raises(ValueError, match=r"does not fit the tokenizer of the GPT in init_from=.*or the chat template"):
        causal_lm(data=data, data_format="instructions", init_from=path, **TINY)  # "I", "R" of the default template


def test_bad_instruction_settings_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"data_format must be one of \('text', 'instructions'\)"):
        causal_lm(data_format="pairs")
    with pytest.raises(ValueError, match=r"prompt_format must be a str with exactly one '\{prompt\}'"):
        causal_lm(data_format="instructions", prompt_format="Q: ")
    with pytest.raises(ValueError, match="end_marker must be non-empty for kerastune's GPT, which has no end"):
        causal_lm(data_format="instructions", end_marker="")
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a", "response": "one\\n\\ntwo"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl, line 1: the response contains the end marker"):
        causal_lm(data=str(path), data_format="instructions", **TINY)
    with pytest.raises(ValueError, match="no training window of sequence_length=16 reaches a token the loss_mask"):
        causal_lm(data=pairs_file(tmp_path), data_format="instructions", **TINY)  # 37-character prompts
    with pytest.raises(ValueError, match=r"reads prompt/response pairs from a .jsonl, .json, .tsv or .csv file.*'pydoc'"):
        causal_lm(data_format="instructions")
    with pytest.raises(ValueError, match=r"sample_prompt does not fit the tokenizer .*'X'.* Received: sample_prompt="):
        causal_lm(data=pairs_file(tmp_path), data_format="instructions", sample_prompt="X", **TINY)
    with pytest.raises(ValueError, match="respond answers prompts of an instruction-tuned GPT"):
        causal_lm(data=pairs_file(tmp_path, name="corpus.txt"), **TINY).respond("hi")


def test_the_cli_instruction_tunes_and_predict_prints_the_response(tmp_path, monkeypatch, capsys):
    from kerastune.cli import main
    from tests.test_cli import ROOT, tiny_settings

    monkeypatch.chdir(ROOT)
    flags = tiny_settings("causal_lm", tmp_path) + [
        f"--data={pairs_file(tmp_path)}", "--data_format=instructions", "--sequence_length=48", "--max_new_tokens=6",
        "--sample_prompt=",  # pydoc_gpt.toml's "The " has capitals the pairs never use: answer their last prompt
        "--validation_fraction=0",  # no validation set: nothing to report on, the run still exports
        f"--export_dir={tmp_path / 'exports'}", f"--logging_dir={tmp_path / 'logs'}"]
    assert main(["run", "recipes/pydoc_gpt.toml", *flags]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "prompt: 'say " in printed and "response (greedy): " in printed
    export = tmp_path / "exports" / "pydoc_gpt"
    assert main(["predict", str(export), "say cat twice"]) == 0
    answer = capsys.readouterr().out.rstrip("\n")
    served = tf.saved_model.load(str(export / "1")).signatures["serving_default"]
    assert answer == served(prompts=tf.constant(["say cat twice"]))["response"].numpy()[0].decode()
