import keras_hub
import numpy as np
import pytest
import requests

from kerastune.models.preset_causal_lm import load_causal_lm
from kerastune.models.preset_task import end_token_id, max_positions
from tests.conftest import shared_path
from tests.tiny_causal_lm import tiny_gpt2, tiny_llama, write_tiny_preset

INPUTS = {"token_ids": np.array([[257, 5, 6, 7]]), "padding_mask": np.ones((1, 4), "int32")}


def test_a_keras_hub_preset_directory_loads_with_its_weights_tokenizer_and_packing_length(tmp_path):
    original = tiny_gpt2()
    path = str(tmp_path / "gpt2")
    original.save_to_preset(path)
    loaded = load_causal_lm(path, sequence_length=40)
    assert isinstance(loaded, keras_hub.models.GPT2CausalLM)
    np.testing.assert_allclose(np.asarray(loaded(INPUTS)), np.asarray(original(INPUTS)), atol=1e-6)
    assert loaded.preprocessor.sequence_length == 40
    assert loaded.preprocessor.tokenizer.get_vocabulary() == original.preprocessor.tokenizer.get_vocabulary()
    assert max_positions(loaded) == 128 and end_token_id(loaded.preprocessor.tokenizer) == 257


def test_rotary_models_have_no_position_limit(tmp_path):
    assert max_positions(load_causal_lm(write_tiny_preset(tmp_path / "llama", tiny_llama))) is None


def test_paths_that_hold_no_model_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a KerasHub preset"):
        load_causal_lm(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_causal_lm(str(tmp_path / "missing" / "gpt2"))


def test_an_encoder_is_refused_as_no_causal_lm():
    with pytest.raises(ValueError, match="holds no causal LM KerasHub can build"):
        load_causal_lm(str(shared_path("models", "all-MiniLM-L6-v2")))


def test_a_preset_name_without_network_says_to_pass_a_local_directory(monkeypatch):
    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 'www.kaggle.com'")

    monkeypatch.setattr(keras_hub.models.CausalLM, "from_preset", offline)
    with pytest.raises(ConnectionError, match="download failed .* pass a local directory instead"):
        load_causal_lm("gpt2_base_en")
