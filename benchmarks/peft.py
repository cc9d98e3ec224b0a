"""Benchmark (not a test): full fine-tuning vs LoRA vs DoRA vs adapters vs prefix tuning vs full + FGM, one budget
(and prompt tuning, `--methods prompt`).

    python benchmarks/peft.py --data ../shared/data/sst2 --backbone ../shared/models/all-MiniLM-L6-v2 \
        --epochs 2 [--max-train-examples 20000] [--methods full,lora,dora,adapter]

Each method is `kerastune.recipes.text_classifier` with one switch (`peft=...`) and everything else,
its learning rate included, at the recipe's default (`--learning-rates lora=3e-3,...` overrides rates).
Reported per method: dev accuracy, accuracy on a seeded character-typo copy of dev
(`kerastune.evaluation.character_typos`, `--typo-rate` of the words), the share of weights trained,
the saved file's size (the adapter file for PEFT, the whole model's weights for full fine-tuning),
and training examples/s over the whole `fit` (XLA compilation included). The last line printed is
one JSON object: `{"full": {...}, "lora": {...}, ...}`.
"""

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

from kerastune.data.classification_dataset import ClassificationDataset  # noqa: E402
from kerastune.data.labelled_text import read_labelled_text  # noqa: E402
from kerastune.evaluation.character_typos import character_typos  # noqa: E402
from kerastune.recipes.text_classifier import text_classifier  # noqa: E402
from kerastune.recipes.training_setup import peak_learning_rate  # noqa: E402

# method -> recipe switches; each trains at the recipe's default learning rate for it (1e-4 for full fine-tuning and
# FGM, `kerastune.recipes.training_setup.PEFT_LEARNING_RATES` for the PEFT methods: the best measured here)
METHODS = {
    "full": {},
    "lora": {"peft": "lora"},
    "dora": {"peft": "dora"},
    "adapter": {"peft": "adapter"},
    "prefix": {"peft": "prefix"},
    "prompt": {"peft": "prompt"},
    "fgm": {"adversarial": "fgm"},
}
TRAIN_FILES = ("train.tsv", "train_subset.tsv")
EVAL_FILES = ("dev.tsv", "validation.tsv", "test.tsv")


def _first(directory, names):
    for name in names:
        if os.path.exists(os.path.join(directory, name)):
            return os.path.join(directory, name)
    raise FileNotFoundError(f"{directory}: none of {names}")


def _learning_rates(text):
    rates = {}
    for item in filter(None, (text or "").split(",")):
        method, _, value = item.partition("=")
        if method not in METHODS:
            raise SystemExit(f"--learning-rates: unknown method {method!r}; known: {sorted(METHODS)}")
        rates[method] = float(value)
    return rates


def typo_accuracy(run, eval_path, rate, seed):
    """Accuracy of `run` on a character-typo copy of its validation file (same labels, same order)."""
    clean = read_labelled_text(eval_path)
    noisy = dataclasses.replace(clean, texts=character_typos(clean.texts, rate=rate, seed=seed),
                                labels=list(run.validation_labels))
    data = ClassificationDataset.from_labelled_text(
        noisy, run.tokenizer, batch_size=run.config.batch_size, sequence_length=run.sequence_length,
        pad_to_multiple_of=run.config.pad_to_multiple_of,
    )
    return run.evaluate(data, run.validation_labels)["accuracy"]


def saved_bytes(run, method):
    with tempfile.TemporaryDirectory() as directory:
        if method in ("full", "fgm"):  # every weight, in the adapter files' format (safetensors, float32)
            path = os.path.join(directory, "model.safetensors")
            save_file({v.path: np.ascontiguousarray(keras.ops.convert_to_numpy(v)) for v in run.model.weights}, path)
            return os.path.getsize(path)
        return run.save_adapter(os.path.join(directory, "adapter.safetensors"))


def benchmark(method, switches, args, train_path, eval_path):
    run = text_classifier(
        args.backbone, train_path, eval_path, epochs=args.epochs, batch_size=args.batch_size,
        max_train_examples=args.max_train_examples, seed=args.seed, steps_per_execution=8,
        name=f"peft_{method}", **switches,
    )
    summary = run.trainable_summary()
    print(f"{method}: {switches}; training {summary['trainable']:,} of {summary['total']:,} weights "
          f"({summary['trainable_percent']:.2f}%), {run.train_data.steps_per_epoch} steps/epoch", flush=True)
    start = time.perf_counter()
    run.fit(validate=False, verbose=2)
    seconds = time.perf_counter() - start
    report = run.evaluate()
    result = {
        "learning_rate": peak_learning_rate(run.config),
        "dev_accuracy": round(report["accuracy"], 4),
        "typo_dev_accuracy": round(typo_accuracy(run, eval_path, args.typo_rate, args.seed), 4),
        "trainable_percent": round(summary["trainable_percent"], 3),
        "trainable_weights": summary["trainable"],
        "saved_bytes": saved_bytes(run, method),
        "examples_per_second": round(run.train_data.steps_per_epoch * args.batch_size * args.epochs / seconds, 1),
    }
    print(f"{method}: {json.dumps(result)}", flush=True)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="directory with train.tsv and dev.tsv")
    parser.add_argument("--backbone", required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-train-examples", type=int, default=None)
    parser.add_argument("--methods", default=",".join(m for m in METHODS if m != "prompt"),
                        help=f"of {', '.join(METHODS)} (default: all but prompt, whose rate is unmeasured)")
    parser.add_argument("--learning-rates", default=None, help="e.g. lora=5e-4,adapter=1e-3")
    parser.add_argument("--fgm-epsilon", type=float, default=None, help="unset: the recipe's adversarial_epsilon")
    parser.add_argument("--lora-rank", type=int, default=None, help="LoRA / DoRA rank (unset: the recipe's 8)")
    parser.add_argument("--lora-alpha", type=float, default=None,
                        help="LoRA / DoRA scale numerator, the update scaled by alpha / rank (unset: the recipe's 16)")
    parser.add_argument("--peft-targets", default=None,
                        help="LoRA / DoRA / adapter projection patterns (unset: the recipe's defaults)")
    parser.add_argument("--peft-train-norms", choices=("yes", "no"), default=None,
                        help="train the backbone's layer norms too (unset: the recipe's default, adapters and LoRA)")
    parser.add_argument("--dropout", type=float, default=None,
                        help="the backbone's and the head's dropout rate (unset: the recipe's: 0 under LoRA, else 0.1)")
    parser.add_argument("--typo-rate", type=float, default=0.1, help="share of dev words given one typo")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    train_path, eval_path = _first(args.data, TRAIN_FILES), _first(args.data, EVAL_FILES)
    rates = _learning_rates(args.learning_rates)
    results = {}
    for method in args.methods.split(","):
        if method not in METHODS:
            raise SystemExit(f"--methods: unknown method {method!r}; known: {sorted(METHODS)}")
        switches = {**METHODS[method], **({"learning_rate": rates[method]} if method in rates else {})}
        if method == "fgm" and args.fgm_epsilon is not None:
            switches["adversarial_epsilon"] = args.fgm_epsilon
        if method in ("lora", "dora") and args.lora_rank is not None:
            switches["lora_rank"] = args.lora_rank
        if method in ("lora", "dora") and args.lora_alpha is not None:
            switches["lora_alpha"] = args.lora_alpha
        if args.dropout is not None:
            switches["dropout"] = args.dropout
        if method not in ("full", "fgm") and args.peft_train_norms:
            switches["peft_train_norms"] = args.peft_train_norms == "yes"
        if method in ("lora", "dora", "adapter") and args.peft_targets:
            switches["peft_targets"] = args.peft_targets
        results[method] = benchmark(method, switches, args, train_path, eval_path)
        keras.backend.clear_session()
    if "full" in results:
        for method, result in results.items():
            result["dev_points_vs_full"] = round(100 * (result["dev_accuracy"] - results["full"]["dev_accuracy"]), 2)
            result["saved_fraction_of_full"] = round(result["saved_bytes"] / results["full"]["saved_bytes"], 4)
    print(json.dumps({"data": args.data, "epochs": args.epochs, "max_train_examples": args.max_train_examples,
                      "typo_rate": args.typo_rate, "seed": args.seed, "lora_rank": args.lora_rank,
                      "lora_alpha": args.lora_alpha, "peft_targets": args.peft_targets,
                      "peft_train_norms": args.peft_train_norms, "dropout": args.dropout, **results}))


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
