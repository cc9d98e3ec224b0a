"""Recipe files: TOML files of flat settings, `recipe = "<kind>"` naming the recipe function.

`load_recipe_file(path)` reads one and checks every key against the kind's config class (types
and unknown keys) before anything is trained; `list_recipe_files(directory)` describes a folder
of them, one line each.
"""

import importlib
import os
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# kind -> (module, config class, recipe function); imported only when a file of that kind runs.
RECIPE_KINDS = {
    "causal_lm": ("kerastune.recipes.causal_lm", "CausalLMConfig", "causal_lm"),
    "text_classifier": ("kerastune.recipes.text_classifier", "TextClassifierConfig", "text_classifier"),
    "token_classifier": ("kerastune.recipes.token_classifier", "TokenClassifierConfig", "token_classifier"),
    "masked_lm": ("kerastune.recipes.masked_lm", "MaskedLMConfig", "masked_lm"),
    "image_classifier": ("kerastune.recipes.image_classifier", "ImageClassifierConfig", "image_classifier"),
    "sentence_encoder": ("kerastune.recipes.sentence_encoder", "SentenceEncoderConfig", "sentence_encoder"),
    "question_answering": ("kerastune.recipes.question_answering", "QuestionAnsweringConfig", "question_answering"),
    "sequence_to_sequence": ("kerastune.recipes.sequence_to_sequence", "SequenceToSequenceConfig",
                             "sequence_to_sequence"),
    "preset_causal_lm": ("kerastune.recipes.preset_causal_lm", "PresetCausalLMConfig", "preset_causal_lm"),
    "preset_seq2seq": ("kerastune.recipes.preset_seq2seq", "PresetSeq2SeqConfig", "preset_seq2seq"),
}


def recipe_parts(kind):
    """`(config_class, recipe_function)` of a recipe kind."""
    module_name, config_name, function_name = RECIPE_KINDS[kind]
    module = importlib.import_module(module_name)
    return getattr(module, config_name), getattr(module, function_name)


def read_recipe_file(path):
    """Reads a TOML recipe file without importing any recipe. Returns `(kind, settings)`."""
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"The recipe file does not exist; `kerastune list` shows the files in recipes/. Received: path={path!r}"
        )
    with open(path, "rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"The recipe file {path!r} is not valid TOML ({error}); fix the line it names.") from None
        except UnicodeDecodeError:
            raise ValueError(f"The recipe file {path!r} is not UTF-8 text; save it as UTF-8.") from None
    kind = data.pop("recipe", None)
    if kind not in RECIPE_KINDS:
        raise ValueError(
            f"The recipe file {path!r} must set recipe = one of {sorted(RECIPE_KINDS)}. Received: recipe={kind!r}"
        )
    return kind, data


def load_recipe_file(path, overrides=None):
    """Reads a recipe file, applies `overrides` and type-checks every key against the kind's config.

    Args:
        path: str, the TOML file.
        overrides: dict or None, e.g. from `--key=value` flags (strings, parsed by the field's type).

    Returns:
        `(kind, config)`: the kind's config dataclass, resolved (unknown keys and wrong types raise
        `ValueError` naming the key, the value and the file).
    """
    kind, settings = read_recipe_file(path)  # before any import of TensorFlow: bad files fail at once
    from kerastune.recipes.config import resolve

    config_class, _ = recipe_parts(kind)
    sources = {key: f"key in {path}:" for key in settings}  # the file's own values, named as such
    overrides = overrides or {}
    for key in overrides:
        sources.pop(key, None)
    try:
        return kind, resolve(config_class, {**settings, **overrides}, sources)
    except TypeError as error:  # a required field is missing
        raise ValueError(f"The recipe file {path!r} misses a required key ({error}); add it to the file "
                         "or pass it as --key=value.") from None


def describe(path):
    """One line about a recipe file: its kind and its first comment line."""
    kind, _ = read_recipe_file(path)
    with open(path, encoding="utf-8") as f:
        comments = [line.lstrip("# ").strip() for line in f if line.startswith("#")]
    return f"{os.path.basename(path):<28} {kind:<17} {comments[0] if comments else ''}"


def list_recipe_files(directory="recipes"):
    """Lines describing every `*.toml` recipe file in `directory`, sorted by name."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"There is no recipe folder here; run from a kerastune checkout or pass the folder. "
            f"Received: directory={directory!r}"
        )
    names = sorted(n for n in os.listdir(directory) if n.endswith(".toml"))
    return [describe(os.path.join(directory, name)) for name in names]
