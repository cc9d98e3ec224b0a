import keras
import keras_hub
import numpy as np
import pytest

from kerastune.models.text_classifier import TextClassifier
from kerastune.peft import apply_peft, load_adapter, save_adapter
from tests.peft.test_parameter_efficient import INPUTS, _classifier, _fit


@pytest.mark.parametrize("method", ["lora", "dora", "adapter"])
def test_a_saved_adapter_on_a_fresh_base_reproduces_the_predictions_exactly(tmp_path, method):
    model = _classifier(seed=0)
    apply_peft(model, method, rank=2, adapter_size=4)
    _fit(model)
    path = str(tmp_path / "sst2.adapter.safetensors")
    size = save_adapter(model, path)
    trained = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trained * 4 < size < trained * 4 + 4096  # float32 weights plus a small header
    fresh = _classifier(seed=0)  # the same base, a new head
    load_adapter(fresh, path)  # applies the file's method itself
    np.testing.assert_array_equal(fresh(INPUTS), model(INPUTS))


def test_layer_norms_trained_beside_lora_travel_in_its_file_and_adapters_can_leave_theirs(tmp_path):
    model = _classifier(seed=0)
    apply_peft(model, "lora", rank=2, train_norms=True)
    norms = [w for w in model.trainable_weights if "norm" in w.path]
    assert norms and all(w.path in {v.path for v in model.backbone.weights} for w in norms)
    before = [keras.ops.convert_to_numpy(w) for w in norms]
    _fit(model)
    assert any(np.abs(keras.ops.convert_to_numpy(w) - b).max() > 0 for w, b in zip(norms, before))
    path = str(tmp_path / "lora_norms.safetensors")
    save_adapter(model, path)
    fresh = _classifier(seed=0)
    load_adapter(fresh, path)  # without the trained norms its predictions would differ
    assert [w.path for w in fresh.trainable_weights if "norm" in w.path] == [w.path for w in norms]
    np.testing.assert_array_equal(fresh(INPUTS), model(INPUTS))
    adapters = _classifier(seed=0)
    apply_peft(adapters, "adapter", adapter_size=4, train_norms=False)
    assert not [w for w in adapters.trainable_weights if "norm" in w.path]
    with pytest.raises(ValueError, match=r"train_norms must be True, False or None .* Received: train_norms='yes'"):
        apply_peft(_classifier(seed=0), "lora", train_norms="yes")


def test_a_different_base_is_refused_with_a_message(tmp_path):
    model = _classifier(seed=0)
    apply_peft(model, "lora", rank=2)
    path = str(tmp_path / "a.safetensors")
    save_adapter(model, path)
    with pytest.raises(ValueError, match="different base weights"):
        load_adapter(_classifier(seed=1), path)  # same shapes, other values
    keras.utils.set_random_seed(0)
    wider = TextClassifier(keras_hub.models.BertBackbone(20, 2, 2, 12, 16, max_sequence_length=8), 2, pooling="mean")
    with pytest.raises(ValueError, match="different architecture"):
        load_adapter(wider, path)
    adapted = _classifier(seed=0)
    apply_peft(adapted, "adapter", adapter_size=4)
    with pytest.raises(ValueError, match="is adapted with .*'adapter'.*, the adapter file .* with .*'lora'"):
        load_adapter(adapted, path)


def test_files_that_are_not_adapters_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="No adapter file at"):
        load_adapter(_classifier(), str(tmp_path / "missing.safetensors"))
    from safetensors.numpy import save_file
    other = str(tmp_path / "other.safetensors")
    save_file({"x": np.zeros(2, "float32")}, other)
    with pytest.raises(ValueError, match="is not a kerastune adapter file"):
        load_adapter(_classifier(), other)
    with pytest.raises(ValueError, match="has no parameter-efficient method applied"):
        save_adapter(_classifier(), str(tmp_path / "none.safetensors"))
