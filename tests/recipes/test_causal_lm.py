import dataclasses
import json
import os

import keras
import pytest

from kerastune.recipes import CausalLMConfig, CausalLMRun, causal_lm

TINY = dict(
    num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32, sequence_length=16, batch_size=4,
    epochs=1, steps_per_epoch=3, validation_batches=2, sample_tokens=0, run_eagerly=True,  # a few steps: eager
)


def corpus(tmp_path, text="the quick brown fox jumps over the lazy dog. " * 40):
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_recipe_returns_what_a_user_fits(tmp_path):
    run = causal_lm(data=corpus(tmp_path), warmup_steps=1, total_steps=6, learning_rate=3e-3, **TINY)
    assert isinstance(run.config, CausalLMConfig) and run.config.hidden_dim == 16
    assert run.tokenizer.vocabulary_size() == len(set("the quick brown fox jumps over the lazy dog. "))
    x, y = next(iter(run.train_ds))
    assert x.shape == (4, 16)
    history = run.model.fit(
        run.train_ds, epochs=2, steps_per_epoch=3, validation_data=run.val_ds, verbose=0, shuffle=False
    )
    assert history.history["loss"][1] < history.history["loss"][0]
    decayed = {v.path for v in run.model.trainable_variables if run.model.optimizer._use_weight_decay(v)}
    assert any("embeddings" in p for p in decayed) and any("kernel" in p for p in decayed)
    assert not any(p.endswith(("bias", "gamma", "beta")) for p in decayed)


def test_train_saves_config_checkpoint_and_logs_then_exports(tmp_path):
    run = causal_lm(
        data=corpus(tmp_path), run_dir=str(tmp_path / "runs"), export_dir=str(tmp_path / "sm"), name="t",
        logging_dir=str(tmp_path / "tb"), export_sampler="top_p", top_p=0.7, **TINY,
    )
    run.train(verbose=0)
    with open(tmp_path / "runs" / "t" / "config.json") as f:
        assert json.load(f)["hidden_dim"] == 16
    assert (tmp_path / "runs" / "t" / "checkpoint.weights.h5").exists()
    assert os.listdir(tmp_path / "tb" / "t") and not (tmp_path / "runs" / "t" / "logs").exists()
    path = run.export()
    assert path.endswith(os.path.join("sm", "t", "1"))
    with open(os.path.join(path, "assets.extra", "config.json")) as f:
        sampler = json.load(f)["sampler"]
    assert sampler["class_name"] == "TopPSampler"
    assert sampler["config"] == {"p": 0.7, "k": None, "temperature": 0.8, "seed": 1337}
    run.config = dataclasses.replace(run.config, logging_dir=None)  # unset: logs stay under run_dir/name/
    logs = [c.log_dir for c in run.callbacks() if isinstance(c, keras.callbacks.TensorBoard)]
    assert logs == [str(tmp_path / "runs" / "t" / "logs")]


def test_sampler_settings_follow_the_config(tmp_path):
    config = CausalLMConfig(top_p=0.8, top_k=4, temperature=0.5)
    assert config.mixed_precision is None and config.seed == 1337 and config.name == "gpt"
    run = CausalLMRun(None, None, None, None, config, None)
    assert run.sampler_arguments("top_p") == {"sampler": "top_p", "p": 0.8, "temperature": 0.5, "seed": 1337}
    assert run.sampler_arguments() == {"sampler": "top_k", "k": 4, "temperature": 0.5, "seed": 1337}
    assert run.sampler_arguments("greedy") == {"sampler": "greedy"}
    with pytest.raises(ValueError, match=r"top_p must be a float in \(0, 1\]. Received: top_p=1.5"):
        CausalLMConfig(top_p=1.5)
    with pytest.raises(ValueError, match="export_sampler must be one of .* Received: export_sampler='beam'"):
        CausalLMConfig(export_sampler="beam")


def test_unknown_or_mistyped_settings_are_errors(tmp_path):
    with pytest.raises(ValueError, match="Unknown argument 'hiden_dim'"):
        causal_lm(data=corpus(tmp_path), hiden_dim=3)
    with pytest.raises(ValueError, match="argument 'epochs' must be an int. Received: epochs='many'"):
        causal_lm(data=corpus(tmp_path), epochs="many")


def test_bad_corpora_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        causal_lm(data=str(tmp_path / "missing.txt"), **TINY)
    with pytest.raises(ValueError, match="empty"):
        causal_lm(data=corpus(tmp_path, "   \n"), **TINY)
    with pytest.raises(ValueError, match="shorter|too short|tokens"):
        causal_lm(data=corpus(tmp_path, "tiny text"), **TINY)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 au lait\n".encode("latin-1") * 50)
    with pytest.raises(ValueError, match="not valid UTF-8.*line 1, column 4"):
        causal_lm(data=str(bad), **TINY)


def test_first_step_loss_under_mirrored_strategy_equals_single_device(tmp_path):
    # conftest.py splits the CPU into two logical devices, so "mirrored" has two replicas here.
    losses = {}
    for name in ("default", "mirrored"):
        keras.utils.set_random_seed(0)
        run = causal_lm(strategy=name, data=corpus(tmp_path), **TINY)
        assert run.strategy.num_replicas_in_sync == (2 if name == "mirrored" else 1)
        history = run.model.fit(run.train_ds, epochs=1, steps_per_epoch=1, verbose=0)
        losses[name] = history.history["loss"][0]
    assert losses["mirrored"] == pytest.approx(losses["default"], rel=1e-5)
