"""Images from scratch: the Vision Transformer against the classic Keras MLP, same data, same seeds.

    python benchmarks/image_classifier.py [--models mlp,vit] [--seeds 0,1,2] [--dataset digits]
    # MNIST from a local TFDS copy (nothing downloads here):
    python benchmarks/image_classifier.py --dataset mnist --data-dir DIR --set patch_size=7 --set epochs=10

Each model trains with its recipe file's settings (`recipes/digits_mlp.toml`, `recipes/digits_vit.toml`)
through `kerastune.recipes.image_classifier`, once per seed (the seed picks the stratified train/test
split of the digits, the initialisation and the batch order), and is scored on the held-out test set
(360 digits, or MNIST's 10,000). `--set key=value` overrides a setting for every model
(`--set epochs=10` for a quick look); a setting only the ViT has (`patch_size`, `num_layers`, ...)
goes to the ViT alone.

Progress on stdout; the last line is one JSON object: per model `<model>_test_accuracy` (mean over
the seeds, 0-1), `<model>_test_accuracies` (per seed), `<model>_parameters`, `<model>_train_seconds`
(mean wall time of `fit`), and `cpu`, `dataset`, `seeds`, `settings`.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peers.side_by_side import cpu_model  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
RECIPE_FILES = {"mlp": "digits_mlp.toml", "vit": "digits_vit.toml"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,vit", help="comma-separated, from " + ", ".join(RECIPE_FILES))
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated ints")
    parser.add_argument("--dataset", default="digits", choices=("digits", "mnist"))
    parser.add_argument("--data-dir", default=None, help="TFDS data folder for --dataset mnist")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a recipe setting for every model, e.g. epochs=10 (repeatable)")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in RECIPE_FILES]
    if unknown or not args.models:
        parser.error(f"--models takes names from {sorted(RECIPE_FILES)}. Received: --models={','.join(args.models)}")
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds takes comma-separated ints. Received: --seeds={args.seeds}")
    bad = [item for item in args.set if "=" not in item]
    if bad:
        parser.error(f"--set takes key=value. Received: --set {bad[0]}")
    args.overrides = dict(item.split("=", 1) for item in args.set)
    return args


def train_and_test(model, seed, args):
    """One recipe run: `(test accuracy, parameters, seconds in fit)`."""
    from kerastune.recipe_files import load_recipe_file
    from kerastune.recipes.image_classifier import image_classifier

    from kerastune.recipes.image_classifier import VIT_FIELDS

    shared = {key: value for key, value in args.overrides.items() if model == "vit" or key not in VIT_FIELDS}
    overrides = {**shared, "seed": str(seed), "dataset": args.dataset}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    _, config = load_recipe_file(os.path.join(ROOT, "recipes", RECIPE_FILES[model]), overrides)
    run = image_classifier(config)
    start = time.perf_counter()
    run.fit(verbose=0)
    seconds = time.perf_counter() - start
    return run.evaluate()["accuracy"], run.model.count_params(), seconds


def main(argv=None):
    args = parse_args(argv)
    results = {"cpu": cpu_model(), "dataset": args.dataset, "seeds": args.seeds, "settings": args.overrides}
    for model in args.models:
        accuracies, seconds = [], []
        for seed in args.seeds:
            accuracy, parameters, took = train_and_test(model, seed, args)
            print(f"{model} seed {seed}: test accuracy {accuracy:.4f}, {parameters:,} parameters, fit {took:.0f} s",
                  flush=True)
            accuracies.append(accuracy)
            seconds.append(took)
        results.update({
            f"{model}_test_accuracy": round(sum(accuracies) / len(accuracies), 4),
            f"{model}_test_accuracies": [round(a, 4) for a in accuracies],
            f"{model}_parameters": parameters,
            f"{model}_train_seconds": round(sum(seconds) / len(seconds), 1),
        })
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
