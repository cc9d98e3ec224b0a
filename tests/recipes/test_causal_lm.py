import json
import os
import subprocess
import sys

import pytest

from kerastune.recipes import CausalLMConfig, causal_lm

TINY = dict(
    num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32, sequence_length=16, batch_size=4,
    epochs=1, steps_per_epoch=3, validation_batches=2, sample_tokens=0, jit_compile=False,
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
    history = run.model.fit(run.train_ds, epochs=2, steps_per_epoch=3, validation_data=run.val_ds, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
    decayed = {v.path for v in run.model.trainable_variables if run.model.optimizer._use_weight_decay(v)}
    assert any("embeddings" in p for p in decayed) and any("kernel" in p for p in decayed)
    assert not any(p.endswith(("bias", "gamma", "beta")) for p in decayed)


def test_train_saves_config_checkpoint_and_logs_then_exports(tmp_path):
    run = causal_lm(data=corpus(tmp_path), run_dir=str(tmp_path / "runs"), export_dir=str(tmp_path / "sm"), name="t", **TINY)
    run.train(verbose=0)
    with open(tmp_path / "runs" / "t" / "config.json") as f:
        assert json.load(f)["hidden_dim"] == 16
    assert (tmp_path / "runs" / "t" / "checkpoint.weights.h5").exists()
    assert (tmp_path / "runs" / "t" / "logs").is_dir()
    path = run.export()
    assert path.endswith(os.path.join("sm", "t", "1"))


def test_unknown_or_mistyped_settings_are_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown argument 'hiden_dim'"):
        causal_lm(data=corpus(tmp_path), hiden_dim=3)
    with pytest.raises(ValueError, match="argument 'epochs' must be a int; received 'many'"):
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


MIRRORED_CHECK = r"""
import json, sys
from kerastune.distribute import use_logical_cpus, get_strategy
devices = use_logical_cpus(2)
from kerastune.recipes import causal_lm
args = json.loads(sys.argv[1])
losses = {}
for name in ("default", "mirrored"):
    run = causal_lm(strategy=name, **args)
    assert run.strategy.num_replicas_in_sync == (2 if name == "mirrored" else 1)
    history = run.model.fit(run.train_ds, epochs=1, steps_per_epoch=1, verbose=0)
    losses[name] = history.history["loss"][0]
print(json.dumps(losses))
"""


def test_first_step_loss_under_mirrored_strategy_equals_single_device(tmp_path):
    args = dict(TINY, data=corpus(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", MIRRORED_CHECK, json.dumps(args)], check=True, capture_output=True, text=True
    ).stdout
    losses = json.loads(out.strip().splitlines()[-1])
    assert losses["mirrored"] == pytest.approx(losses["default"], rel=1e-5)
