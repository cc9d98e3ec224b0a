"""Benchmark (not a test): do the weights a default fine-tuning run ends with hold up?

    python benchmarks/final_weights.py --train ../shared/data/agnews/train_subset.tsv \
        --validation ../shared/data/agnews/test.tsv --max-train-examples 5000 --epochs 3

Runs `kerastune.recipes.text_classifier(backbone, train, validation)` with no tuning argument (the
recipe's defaults, weight average included), validating after every epoch as Keras prints it, then
scores the weights the run ends with (the average, written into the model when `fit` ends) on the
same validation set. Reports the best per-epoch validation accuracy Keras printed, the final
weights' accuracy and the gap in points. The last line printed is one JSON object.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kerastune.recipes.text_classifier import text_classifier  # noqa: E402


def _header(path):
    with open(path, encoding="utf-8") as f:
        return f.readline().rstrip("\n").split("\t")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--validation", required=True)
    parser.add_argument("--backbone", default="../shared/models/all-MiniLM-L6-v2")
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--max-train-examples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    options = {"seed": args.seed, "max_train_examples": args.max_train_examples, "steps_per_execution": 8}
    if args.epochs:
        options["epochs"] = args.epochs
    if "label_name" in _header(args.train):
        options["label_name_column"] = "label_name"
    run = text_classifier(args.backbone, args.train, args.validation, **options)
    optimizer = run.model.optimizer
    print(f"train: {run.train_data.num_examples} examples, {run.train_data.steps_per_epoch} steps/epoch x "
          f"{run.config.epochs}; weight average momentum {optimizer.ema_momentum if optimizer.use_ema else None} "
          f"(configured {run.config.ema_momentum})", flush=True)
    start = time.perf_counter()
    history = run.fit(verbose=2)
    fit_seconds = time.perf_counter() - start
    printed = [round(v, 4) for v in history.history["val_accuracy"]]  # raw weights after each epoch
    final = run.evaluate()["accuracy"]  # the weights the run ends with
    result = {
        "train": args.train,
        "validation": args.validation,
        "train_examples": run.train_data.num_examples,
        "epochs": run.config.epochs,
        "optimizer_updates": int(optimizer.iterations.numpy()),
        "ema_momentum_configured": run.config.ema_momentum,
        "ema_momentum_used": round(float(optimizer.ema_momentum), 6) if optimizer.use_ema else None,
        "printed_val_accuracy": printed,
        "best_printed_val_accuracy": max(printed),
        "final_weights_val_accuracy": round(final, 4),
        "gap_points": round(100 * (max(printed) - final), 2),
        "fit_seconds": round(fit_seconds, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
