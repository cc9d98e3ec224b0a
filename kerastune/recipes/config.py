"""Typed, flat recipe configuration: dataclass defaults, TOML files and `--key=value` overrides.

Never `exec`/`eval`: values are parsed according to each field's declared type, and unknown keys
are an error that lists the known ones.
"""

import dataclasses
import json
import typing

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _field_types(config_cls):
    hints = typing.get_type_hints(config_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_cls)}


def _base_type(tp):
    """`Optional[int]` -> (int, True); `int` -> (int, False)."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def _type_name(tp):
    """`int` -> "an int", `str` -> "a str" (for messages)."""
    name = getattr(tp, "__name__", str(tp))
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def coerce(config_cls, key, value, source="argument"):
    """Converts `value` (a string from a flag, or a TOML/python value) to the type of field `key`.

    `source` names where the value came from in error messages (`"argument"`, or e.g. a recipe
    file's `"key in recipes/x.toml:"`).
    """
    types = _field_types(config_cls)
    if key not in types:
        known = ", ".join(sorted(types))
        raise ValueError(
            f"Unknown {source} {key!r} for {config_cls.__name__}; known keys: {known}. Received: {key}={value!r}"
        )
    tp, optional = _base_type(types[key])
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null", "")):
        if optional:
            return None
        raise ValueError(f"The {source} {key!r} must be {_type_name(tp)}, not None. Received: {key}=None")
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
                return value.lower() in _TRUE
            raise ValueError
        if tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if tp is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if tp is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        if typing.get_origin(tp) in (list, tuple):
            if isinstance(value, str):
                value = json.loads(value) if value.strip().startswith("[") else [v for v in value.split(",") if v]
            return list(value)
    except (TypeError, ValueError):
        raise ValueError(f"The {source} {key!r} must be {_type_name(tp)}. Received: {key}={value!r}") from None
    return value


def resolve(config_cls, overrides=None, source="argument"):
    """Returns `config_cls` with `overrides` (a dict) applied after type checks."""
    overrides = overrides or {}
    values = {key: coerce(config_cls, key, value, source) for key, value in overrides.items()}
    return config_cls(**values)


@dataclasses.dataclass(kw_only=True)
class RecipeConfig:
    """Base of every recipe's config dataclass: each field is checked (and coerced) against its
    declared type on construction, so `TextClassifierConfig(epochs="two")` fails at once with the
    field's name, the same way a bad `--epochs=two` flag or TOML value does."""

    def __post_init__(self):
        for field in dataclasses.fields(self):
            setattr(self, field.name, coerce(type(self), field.name, getattr(self, field.name)))


@dataclasses.dataclass(kw_only=True)
class RunConfig(RecipeConfig):
    """The run settings every recipe kind takes, from a recipe file, `--key=value` or a keyword.

    Args:
        name: str, the run's name: the export goes to `export_dir/name/<version>/`.
        seed: int, seeds every random choice (data order, initialisation, dropout).
        strategy: str, `"auto"` or a name `kerastune.distribute.get_strategy` takes.
        mixed_precision: str or None: a Keras policy (`"mixed_bfloat16"`, `"mixed_float16"`);
            None is float32.
        export_dir: str, the root of the versioned SavedModel exports.
        logging_dir: str or None: when set, TensorBoard logs go to `logging_dir/name/`.
    """

    name: str = "run"
    seed: int = 0
    strategy: str = "auto"
    mixed_precision: typing.Optional[str] = None
    export_dir: str = "saved_models"
    logging_dir: typing.Optional[str] = None


def parse_overrides(args):
    """`["--epochs=3", "--data=x.txt"]` -> `{"epochs": "3", "data": "x.txt"}` (types checked later)."""
    overrides = {}
    for arg in args:
        if not arg.startswith("--") or "=" not in arg:
            raise ValueError(f"Settings are given as --key=value. Received: {arg!r}")
        key, value = arg[2:].split("=", 1)
        overrides[key.replace("-", "_")] = value
    return overrides


def as_dict(config):
    return dataclasses.asdict(config)
