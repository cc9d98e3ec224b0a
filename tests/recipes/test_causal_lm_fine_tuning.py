"""`causal_lm(init_from=..., peft=...)`: a pretrained GPT fine-tuned on new text, in full or with LoRA."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastune.models import GPT
from kerastune.peft import load_adapter, peft_weights
from kerastune.peft.adapter_file import base_weights_fingerprint
from kerastune.recipes import CausalLMConfig, causal_lm
from tests.recipes.test_causal_lm import TINY, corpus

OLD_TEXT = "the quick brown fox jumps over the lazy dog. " * 40
NEW_TEXT = "a lazy dog sleeps. a quick fox runs. " * 40  # only characters the old text has


def pretrained_gpt(tmp_path):
    """A tiny GPT trained 40 steps on `OLD_TEXT` (loss 3.1 -> 1.7) and saved as `.keras`, as a user would."""
    (tmp_path / "old").mkdir(exist_ok=True)
    run = causal_lm(data=corpus(tmp_path / "old", OLD_TEXT), learning_rate=1e-2, warmup_steps=1, total_steps=40, **TINY)
    run.model.fit(run.train_ds, epochs=4, steps_per_epoch=10, verbose=0, shuffle=False)
    return run.save(str(tmp_path / "gpt.keras")), run.model


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    return pretrained_gpt(tmp_path_factory.mktemp("pretrained"))


def new_text_run(tmp_path, path, **settings):
    (tmp_path / "new").mkdir(exist_ok=True)
    return causal_lm(data=corpus(tmp_path / "new", NEW_TEXT), init_from=path, learning_rate=1e-2, warmup_steps=1,
                     total_steps=20, **{**TINY, "epochs": 4, "steps_per_epoch": 5, **settings})


def logits(model, ids):
    return keras.ops.convert_to_numpy(model(ids, training=False))


def test_lora_fine_tunes_the_pretrained_gpt_on_new_text_and_leaves_it_unchanged(tmp_path, pretrained):
    path, old_model = pretrained
    run = new_text_run(tmp_path, path, peft="lora", lora_rank=4)  # all six projections of the block
    assert run.tokenizer.get_vocabulary() == old_model.tokenizer.get_vocabulary()  # the saved tokenizer, not a new one
    x, y = next(iter(run.val_ds))
    np.testing.assert_allclose(logits(run.model, x), logits(old_model, x), atol=1e-6)  # B starts at zero
    base = base_weights_fingerprint(run.model)
    start = run.model.evaluate(run.val_ds, verbose=0)
    run.model.fit(run.train_ds, epochs=4, steps_per_epoch=5, verbose=0, shuffle=False)
    assert run.model.evaluate(run.val_ds, verbose=0) < 0.85 * start  # measured 2.93 -> 2.25
    assert base_weights_fingerprint(run.model) == base  # the pretrained weights did not move
    assert 0 < sum(int(np.prod(w.shape)) for w in peft_weights(run.model)) < 0.5 * old_model.count_params()

    run.config.export_dir = str(tmp_path / "sm")
    served = tf.saved_model.load(run.export()).signatures["next_token_logits"]
    np.testing.assert_allclose(served(token_ids=tf.constant(x))["logits"].numpy(), logits(run.model, x), atol=1e-5)

    merged = new_text_run(tmp_path, run.save(str(tmp_path / "merged.keras")))  # LoRA folded in: a plain GPT
    assert not peft_weights(merged.model)
    np.testing.assert_allclose(logits(merged.model, x), logits(run.model, x), atol=1e-5)

    adapter = str(tmp_path / "lora.safetensors")
    assert run.save_adapter(adapter) > 0
    fresh = new_text_run(tmp_path, path, peft="lora", lora_rank=4)
    load_adapter(fresh.model, adapter)
    np.testing.assert_array_equal(logits(fresh.model, x), logits(run.model, x))
    other_base = keras.saving.load_model(path)  # the same architecture, one weight moved
    other_base.token_embedding.embeddings.assign(other_base.token_embedding.embeddings + 0.01)
    other_base.save(tmp_path / "other.keras")
    other = new_text_run(tmp_path, str(tmp_path / "other.keras"), peft="lora", lora_rank=4)
    with pytest.raises(ValueError, match="base weights"):
        load_adapter(other.model, adapter)  # refused: not the GPT it was trained on


def test_without_peft_every_weight_starts_from_the_pretrained_gpt_and_trains(tmp_path, pretrained):
    path, old_model = pretrained
    run = new_text_run(tmp_path, path, num_layers=3, hidden_dim=64)  # architecture settings: the saved model's
    assert isinstance(run.model, GPT) and run.model.num_layers == 1 and run.model.hidden_dim == 16
    x, _ = next(iter(run.val_ds))
    np.testing.assert_array_equal(logits(run.model, x), logits(old_model, x))
    before = {w.path: w.numpy().copy() for w in run.model.weights}
    run.model.fit(run.train_ds, epochs=1, steps_per_epoch=5, verbose=0, shuffle=False)
    assert all(not np.array_equal(w.numpy(), before[w.path]) for w in run.model.trainable_weights)


def test_bad_fine_tuning_settings_are_clear_errors(tmp_path, pretrained):
    path, _ = pretrained
    with pytest.raises(ValueError, match="peft='lora' adapts a pretrained GPT .* set init_from"):
        CausalLMConfig(peft="lora")
    with pytest.raises(ValueError, match=r"peft must be one of \('lora', 'dora', 'adapter', 'prefix'\) or None for "
                                         r"a GPT. Received: peft='prompt'"):
        CausalLMConfig(peft="prompt", init_from=path)
    with pytest.raises(ValueError, match=r"init_from must be a saved GPT, a .keras file .* \(no such file\)"):
        new_text_run(tmp_path, str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match=r"sequence_length=32 exceeds the 16 positions .* pass sequence_length <= 16"):
        new_text_run(tmp_path, path, sequence_length=32)
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(tmp_path / "dense.keras")
    with pytest.raises(ValueError, match="init_from must hold a kerastune GPT; this file holds a Sequential"):
        new_text_run(tmp_path, str(tmp_path / "dense.keras"))
    with pytest.raises(ValueError, match="peft='adapter' adds layers a plain GPT does not have: .*run.save_adapter"):
        new_text_run(tmp_path, path, peft="adapter").save(str(tmp_path / "adapted.keras"))
    (tmp_path / "new2").mkdir()
    # new text with a character the GPT never saw
    with pytest.raises(ValueError, match=r"does not fit the tokenizer of the GPT in init_from=.*'Z' at position 0"):
        causal_lm(data=corpus(tmp_path / "new2", "ZEBRA crossing. " * 40), init_from=path, **TINY)
