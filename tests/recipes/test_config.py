import dataclasses
from typing import Optional

import pytest

from kerastune.cli import parse_overrides
from kerastune.recipes.config import resolve


@dataclasses.dataclass
class Example:
    epochs: int = 1
    rate: float = 0.1
    name: str = "x"
    flag: bool = False
    data_dir: Optional[str] = None


def test_flags_are_parsed_by_declared_type():
    config = resolve(Example, parse_overrides(["--epochs=3", "--rate=1e-3", "--flag=true", "--data-dir=/d"]))
    assert config == Example(epochs=3, rate=1e-3, name="x", flag=True, data_dir="/d")
    assert resolve(Example, {"data_dir": "none"}).data_dir is None


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"epoch": 3}, "Unknown argument 'epoch' for Example; known keys: data_dir, epochs, flag, name, rate"),
        ({"epochs": "3.5"}, "argument 'epochs' must be an int. Received: epochs='3.5'"),
        ({"epochs": 2.5}, "argument 'epochs' must be an int. Received: epochs=2.5"),
        ({"flag": "maybe"}, "argument 'flag' must be a bool. Received: flag='maybe'"),
        ({"name": 3}, "argument 'name' must be a str. Received: name=3"),
    ],
)
def test_bad_values_are_errors(overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        resolve(Example, overrides)


def test_overrides_must_look_like_flags():
    with pytest.raises(ValueError, match="--key=value"):
        parse_overrides(["epochs=3"])


@pytest.mark.parametrize("module,name", [
    ("causal_lm", "CausalLMConfig"), ("masked_lm", "MaskedLMConfig"),
    ("text_classifier", "TextClassifierConfig"), ("token_classifier", "TokenClassifierConfig"),
])
def test_every_recipe_config_checks_its_fields_when_built_directly(module, name):
    import importlib

    config_cls = getattr(importlib.import_module(f"kerastune.recipes.{module}"), name)
    required = {f.name: "x" for f in dataclasses.fields(config_cls) if f.default is dataclasses.MISSING}
    config = config_cls(**required, epochs=3, seed=1)
    assert config.epochs == 3 and isinstance(config.epochs, int)
    assert isinstance(config_cls(**required, learning_rate=1).learning_rate, float)  # an int is a fine float
    with pytest.raises(ValueError, match="argument 'epochs' must be an int. Received: epochs='two'"):
        config_cls(**required, epochs="two")
    with pytest.raises(ValueError, match="argument 'seed' must be an int. Received: seed=0.5"):
        config_cls(**required, seed=0.5)


def test_a_recipe_file_value_is_parsed_once_on_its_way_to_the_recipe(tmp_path, monkeypatch):
    from kerastune.recipe_files import load_recipe_file
    from kerastune.recipes import config as config_module
    from kerastune.recipes.text_classifier import TextClassifierConfig

    path = tmp_path / "run.toml"
    path.write_text('recipe = "text_classifier"\nbackbone = "b"\ntrain = "t.tsv"\nepochs = 2\n')
    calls = []
    real_coerce = config_module.coerce

    def counting_coerce(config_cls, key, value, source="argument"):
        calls.append(key)
        return real_coerce(config_cls, key, value, source)

    monkeypatch.setattr(config_module, "coerce", counting_coerce)
    kind, config = load_recipe_file(path, {"epochs": "3", "seed": "4"})
    assert (kind, config.epochs, config.seed) == ("text_classifier", 3, 4)
    assert sorted(calls) == ["backbone", "epochs", "seed", "train"]  # each given value, once
    calls.clear()
    assert config_module.config_from(TextClassifierConfig, config) is config  # a recipe takes it as it is
    assert calls == []
    with pytest.raises(ValueError, match=f"key in {path}: 'epochs' must be an int. Received: epochs='two'"):
        path.write_text('recipe = "text_classifier"\nbackbone = "b"\ntrain = "t.tsv"\nepochs = "two"\n')
        load_recipe_file(path)
    with pytest.raises(ValueError, match="argument 'epochs' must be an int. Received: epochs='two'"):
        load_recipe_file(path, {"epochs": "two"})  # a flag's value is named as a flag's
