"""Typed, flat recipe configuration: dataclass defaults, TOML files and `--key=value` overrides.

Never `exec`/`eval`: values are parsed according to each field's declared type, and unknown keys
are an error that lists the known ones.
"""

import contextvars
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


# Set while `resolve` constructs a config whose values it has just checked, so that they are
# parsed and checked once on their way from a file, a flag or a keyword to the recipe.
_VALUES_CHECKED = contextvars.ContextVar("values_checked", default=False)


def resolve(config_cls, settings=None, sources=None):
    """Returns `config_cls` built from `settings` (a dict), each value parsed and checked once.

    Args:
        config_cls: a `RecipeConfig` dataclass.
        settings: dict of field name -> value (a flag's string, a TOML or python value).
        sources: dict of field name -> where its value came from, for messages (default
            `"argument"`; a recipe file's values are named as `"key in recipes/x.toml:"`).
    """
    settings, sources = settings or {}, sources or {}
    values = {key: coerce(config_cls, key, value, sources.get(key, "argument")) for key, value in settings.items()}
    token = _VALUES_CHECKED.set(True)
    try:
        return config_cls(**values)
    finally:
        _VALUES_CHECKED.reset(token)


def config_from(config_cls, config=None, settings=None):
    """A recipe's config: `config` as given (already checked), or with `settings` applied, or built
    from `settings` alone. The one way a recipe function turns its arguments into its config."""
    if config is not None and not isinstance(config, config_cls):
        raise TypeError(f"The config must be a {config_cls.__name__}. Received: config={config!r}")
    if config is not None and not settings:
        return config
    base = as_dict(config) if config is not None else {}
    return resolve(config_cls, {**base, **(settings or {})})


@dataclasses.dataclass(kw_only=True)
class RecipeConfig:
    """Base of every recipe's config dataclass: each field is checked (and coerced) against its
    declared type on construction, so `TextClassifierConfig(epochs="two")` fails at once with the
    field's name, the same way a bad `--epochs=two` flag or TOML value does."""

    def __post_init__(self):
        if _VALUES_CHECKED.get():  # built by `resolve`, which checked every value it was given
            return
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
        backup_dir: str or None: when set, training writes crash-safe backups to
            `backup_dir/name/` and the same call resumes from them after a crash
            (`kerastune.training.fit_with_backups`); the causal LM always backs up, under
            `run_dir/name/backup/` when this is None.
        backup_every_steps: int or None: also back up every this many batches (None: at epoch ends).
        run_eagerly: bool, run Keras's train / evaluate / predict steps as plain Python instead of
            traced graphs (`Model.compile(run_eagerly=True)`): for stepping through a step in a
            debugger, or a run of a few steps, where tracing takes longer than the steps (XLA is off
            then). Same results; slower per step.
    """

    name: str = "run"
    seed: int = 0
    strategy: str = "auto"
    mixed_precision: typing.Optional[str] = None
    export_dir: str = "saved_models"
    logging_dir: typing.Optional[str] = None
    backup_dir: typing.Optional[str] = None
    backup_every_steps: typing.Optional[int] = None
    run_eagerly: bool = False


def compile_execution(config):
    """`Model.compile`'s execution arguments for a `RunConfig`: `run_eagerly`, and `jit_compile` where
    the config has it (never with `run_eagerly`, which Keras would refuse with a warning)."""
    arguments = {"run_eagerly": config.run_eagerly}
    if hasattr(config, "jit_compile"):
        arguments["jit_compile"] = config.jit_compile and not config.run_eagerly
    return arguments


# Where a run writes or how its steps execute, not what it trains: changing these does not stop a run
# resuming its backup (a run cut short in graph mode may be resumed eagerly to debug it).
OUTPUT_SETTINGS = ("export_dir", "logging_dir", "backup_dir", "backup_every_steps", "run_eagerly")


def training_fingerprint(config):
    """The settings that decide what a run trains (all but `OUTPUT_SETTINGS`), saved with its backups."""
    return {k: v for k, v in as_dict(config).items() if k not in OUTPUT_SETTINGS}


def as_dict(config):
    return dataclasses.asdict(config)
