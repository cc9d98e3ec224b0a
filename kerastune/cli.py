"""`kerastune run RECIPE_FILE [--key=value ...]`: run a named recipe file from `recipes/`."""

import argparse
import os
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _run_causal_lm(args):
    from kerastune.recipes.causal_lm import causal_lm

    run = causal_lm(**args)
    c = run.config
    print(f"kerastune: training {c.name} ({run.model.count_params():,} parameters, "
          f"{c.epochs} x {c.steps_per_epoch} steps) on {c.data!r}", flush=True)
    run.train()
    val_loss = run.model.evaluate(run.val_ds, verbose=0, return_dict=True)["loss"]
    print(f"validation loss {val_loss:.4f}, perplexity {run.model.perplexity(run.val_ds):.2f}")
    sample = run.model.generate(run.sample_prompt, max_new_tokens=c.sample_tokens, **run.sampler_arguments())
    print(f"sample ({c.sampler}):\n{sample}")
    path = run.export()
    print(f"exported SavedModel for TF Serving to {path}")
    return path


def _run_text_classifier(args):
    import json

    from kerastune.recipes.text_classifier import TextClassifierConfig, text_classifier
    from kerastune.recipes.config import resolve

    args = dict(args)
    export_dir = args.pop("export_dir", "saved_models")
    config = resolve(TextClassifierConfig, args)  # type-checked like every recipe
    run = text_classifier(**{k: v for k, v in vars(config).items()})
    print(f"kerastune: fine-tuning {config.backbone!r} on {config.train!r} "
          f"({run.train_data.num_examples} examples, labels {run.label_names})", flush=True)
    run.fit()
    report = run.evaluate() if run.validation_data is not None else None
    if report is not None:
        print(json.dumps({k: report[k] for k in ("accuracy", "macro_f1")}))
    path = run.export(export_dir, report=report)
    print(f"exported SavedModel for TF Serving to {path}")
    return path


JOBS = {"causal_lm": _run_causal_lm, "text_classifier": _run_text_classifier}


def register_job(name, function):
    """Makes `recipe = "name"` in a recipe file call `function(args_dict)`."""
    JOBS[name] = function


def load_recipe_file(path):
    """Reads a TOML recipe file: `recipe = "causal_lm"` plus flat settings. Returns (name, args)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"recipe file {path!r} does not exist; see the recipes/ folder for examples")
    with open(path, "rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"recipe file {path!r} is not valid TOML: {error}") from None
    name = data.pop("recipe", None)
    if name not in JOBS:
        raise ValueError(f"recipe file {path!r} must set recipe = one of {sorted(JOBS)}; received {name!r}")
    return name, data


def main(argv=None):
    parser = argparse.ArgumentParser(prog="kerastune", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a recipe file, e.g. kerastune run recipes/pydoc_gpt.toml --epochs=2")
    run.add_argument("recipe_file")
    args, extra = parser.parse_known_args(argv)
    from kerastune.recipes.config import parse_overrides

    try:
        name, settings = load_recipe_file(args.recipe_file)
        settings.update(parse_overrides(extra))
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    JOBS[name](settings)
    return 0  # the console script passes this to sys.exit: a job's return value is not an exit status


if __name__ == "__main__":
    sys.exit(main())
