"""`causal_lm(data=TOKEN_DIRECTORY)`: a corpus tokenized once to disk trains exactly as the same text read whole."""

import keras
import pytest

from kerastune.data import prepare_token_directory
from kerastune.recipes import CausalLMConfig, causal_lm
from tests.recipes.test_causal_lm import TINY, corpus
from tests.recipes.test_causal_lm_fine_tuning import OLD_TEXT, pretrained_gpt


@pytest.fixture(scope="module")
def text_and_tokens(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokens")
    path = corpus(root)
    return path, str(prepare_token_directory(root / "tokens", path, tokenizer="character", chunk_bytes=100).path)


def _losses(run):
    history = run.model.fit(run.train_ds, epochs=2, steps_per_epoch=3, validation_data=run.val_ds, verbose=0,
                            shuffle=False)
    return history.history["loss"] + history.history["val_loss"]


def test_a_token_directory_trains_as_the_text_it_holds(text_and_tokens):
    text_path, token_path = text_and_tokens
    from_text = causal_lm(data=text_path, **TINY)
    from_tokens = causal_lm(data=token_path, **TINY)
    assert from_tokens.tokenizer.get_vocabulary() == from_text.tokenizer.get_vocabulary()
    assert from_tokens.sample_prompt == from_text.sample_prompt == "t"
    assert _losses(from_tokens) == pytest.approx(_losses(from_text), rel=1e-6)


def test_first_step_loss_under_mirrored_strategy_equals_single_device(text_and_tokens):
    # conftest.py splits the CPU into two logical devices: each replica reads its half of the batch from the files
    losses = {}
    for name in ("default", "mirrored"):
        keras.utils.set_random_seed(0)
        run = causal_lm(strategy=name, data=text_and_tokens[1], **TINY)
        history = run.model.fit(run.train_ds, epochs=1, steps_per_epoch=1, verbose=0)
        losses[name] = history.history["loss"][0]
    assert losses["mirrored"] == pytest.approx(losses["default"], rel=1e-5)


def test_settings_the_directory_fixes_are_refused(text_and_tokens):
    settings = (dict(tokenizer="sentencepiece"), dict(vocabulary_size=500), dict(validation_fraction=0.2),
                dict(data_dir="tfds_data"))
    for setting in settings:
        with pytest.raises(ValueError, match=f"{next(iter(setting))} is the token directory's .* leave it unset"):
            CausalLMConfig(data=text_and_tokens[1], **setting)  # refused with the settings, before TensorFlow runs
    with pytest.raises(ValueError, match="is a token directory, a corpus for data_format='text'"):
        causal_lm(data=text_and_tokens[1], data_format="instructions", **TINY)


def test_a_config_made_before_the_directory_is_checked_when_it_runs(tmp_path):
    config = CausalLMConfig(data=str(tmp_path / "tokens"), vocabulary_size=500, **TINY)  # not prepared yet: accepted
    (tmp_path / "text").mkdir()
    prepare_token_directory(tmp_path / "tokens", corpus(tmp_path / "text"), tokenizer="character")
    with pytest.raises(ValueError, match="vocabulary_size is the token directory's"):
        causal_lm(config)


def test_fine_tuning_needs_the_pretrained_gpts_vocabulary(tmp_path):
    path, model = pretrained_gpt(tmp_path)
    (tmp_path / "other").mkdir()
    other = prepare_token_directory(tmp_path / "other_tokens", corpus(tmp_path / "other", "ZEBRA crossing. " * 40),
                                    tokenizer="character")
    with pytest.raises(ValueError, match="tokenized with another vocabulary than the GPT in init_from"):
        causal_lm(data=str(other.path), init_from=path, **TINY)
    (tmp_path / "new").mkdir()
    tokens = prepare_token_directory(tmp_path / "same", corpus(tmp_path / "new", OLD_TEXT[::-1]),
                                     tokenizer=model.tokenizer)
    run = causal_lm(data=str(tokens.path), init_from=path, **TINY)
    assert run.tokenizer.get_vocabulary() == model.tokenizer.get_vocabulary()
    assert run.model.fit(run.train_ds, epochs=1, steps_per_epoch=2, verbose=0).history["loss"][0] > 0


def test_gradient_accumulation_under_mirrored_strategy_follows_one_device(text_and_tokens):
    """GPT-2-small's code path at a tiny size: a token directory, 2 micro-batches per update, a clipped global
    gradient, 2 replicas (traced, not eager: Keras's accumulation fails there on its own, keras-team/keras#20582)."""
    settings = {**TINY, "run_eagerly": False, "jit_compile": False, "gradient_accumulation_steps": 2,
                "global_clipnorm": 0.1, "learning_rate": 1e-2, "warmup_steps": 1, "total_steps": 3}
    losses = {}
    for name in ("default", "mirrored"):
        run = causal_lm(strategy=name, data=text_and_tokens[1], **settings)
        history = run.model.fit(run.train_ds, epochs=3, steps_per_epoch=2, verbose=0)
        losses[name] = history.history["loss"]
        assert int(keras.ops.convert_to_numpy(run.model.optimizer.iterations)) == 3  # updates, not micro-batches
    assert losses["default"][-1] < losses["default"][0]
    assert losses["mirrored"] == pytest.approx(losses["default"], rel=1e-5)
