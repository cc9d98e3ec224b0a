"""Prompt tuning: learned vectors the frozen encoder reads after [CLS], checked against the same encoder fed
the word pieces whose embeddings the prompt holds."""

import keras
import keras_hub
import numpy as np
import pytest

from kerastune.models.backbones import max_sequence_length
from kerastune.models.bert_encoder import BertEncoder
from kerastune.models.token_classifier import TokenClassifier
from kerastune.peft import apply_peft, load_adapter, peft_weights, save_adapter
from kerastune.peft.prompt_tuning import SoftPrompt
from tests.helpers import assert_layer_saves

BACKBONES = {
    "keras_hub": lambda: keras_hub.models.BertBackbone(40, 2, 2, 8, 16, max_sequence_length=16, dropout=0.0),
    "kerastune": lambda: BertEncoder(40, 2, 2, 8, 16, max_sequence_length=16, dropout=0.0),
}
PROMPT_IDS = [7, 11, 13]


def inputs():
    token_ids = np.array([[2, 20, 21, 22, 3, 0], [2, 30, 3, 25, 26, 3]], "int32")
    return {"token_ids": token_ids, "segment_ids": np.array([[0] * 6, [0, 0, 0, 1, 1, 1]], "int32"),
            "padding_mask": (np.arange(6) < np.array([[5], [6]])).astype("int32")}


@pytest.mark.parametrize("kind", sorted(BACKBONES))
def test_the_prompt_is_read_as_word_pieces_after_cls_and_its_slots_are_dropped(kind):
    backbone = BACKBONES[kind]()
    reference = BACKBONES[kind]()
    reference.set_weights(backbone.get_weights())
    apply_peft(backbone, "prompt", prompt_length=len(PROMPT_IDS))
    table = keras.ops.convert_to_numpy(backbone.token_embedding.embeddings)
    backbone.soft_prompt.prompt.assign(table[PROMPT_IDS])  # the prompt: these word pieces' own vectors
    x = inputs()
    # the same encoder, the word pieces written after [CLS] (segment 0, unpadded), their outputs removed
    widened = {name: np.insert(values, [1] * 3, PROMPT_IDS if name == "token_ids" else int(name == "padding_mask"), 1)
               for name, values in x.items()}
    expected = keras.ops.convert_to_numpy(reference(widened)["sequence_output"])
    got = backbone(x)
    assert tuple(got["sequence_output"].shape) == (2, 6, 8)
    np.testing.assert_allclose(got["sequence_output"], np.delete(expected, [1, 2, 3], axis=1), atol=1e-5)
    np.testing.assert_allclose(got["pooled_output"], reference(widened)["pooled_output"], atol=1e-5)
    assert max_sequence_length(backbone) == 16 - 3  # the prompt holds 3 of the 16 positions
    assert [v.path for v in peft_weights(backbone)] == ["soft_prompt/prompt"]
    assert [v.path for v in backbone.trainable_weights] == ["soft_prompt/prompt"]


def test_a_token_classifier_keeps_one_output_per_input_position_and_reloads_its_prompt(tmp_path):
    model = TokenClassifier(BACKBONES["keras_hub"](), num_tags=3, dropout=0.0)
    apply_peft(model, "prompt", prompt_length=2)
    x = inputs()
    assert tuple(model(x).shape) == (2, 6, 3)
    for variable in peft_weights(model):
        variable.assign(np.random.default_rng(0).normal(size=variable.shape).astype("float32"))
    save_adapter(model, str(tmp_path / "prompt.safetensors"))
    fresh = TokenClassifier(BACKBONES["keras_hub"](), num_tags=3, dropout=0.0)
    fresh.set_weights([v.numpy() for v in model.weights if "soft_prompt" not in v.path])
    load_adapter(fresh, str(tmp_path / "prompt.safetensors"))  # applies prompt tuning, then loads the vectors
    np.testing.assert_array_equal(fresh(x), model(x))


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="leaves no room for text"):
        apply_peft(BACKBONES["keras_hub"](), "prompt", prompt_length=14)
    with pytest.raises(ValueError, match="leave targets unset. Received: targets='query'"):
        apply_peft(BACKBONES["keras_hub"](), "prompt", targets="query")
    with pytest.raises(ValueError, match="prompt_length must be a positive int. Received: prompt_length=0"):
        SoftPrompt(0, 8)
    gpt_like = keras.Sequential([keras.Input((4,), dtype="int32"), keras.layers.Embedding(10, 4)])
    with pytest.raises(ValueError, match="Use peft='lora' or 'adapter' for this backbone"):
        apply_peft(gpt_like, "prompt")


def test_the_soft_prompt_layer_saves(tmp_path):
    assert_layer_saves(SoftPrompt(2, 4), np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32"), tmp_path)
