"""Benchmark (not a test): fine-tune a BERT encoder on a local TSV data set, side by side with KerasHub.

    python benchmarks/text_classifier.py --data ../shared/data/sst2 \
        --backbone ../shared/models/all-MiniLM-L6-v2 [--epochs 3] [--export-dir saved_models]

Unset options take the recipe's defaults (`text_classifier`), the best configuration measured
(benchmarks/README.md): lr 1e-4 with layer-wise decay 0.85, mean pooling, EMA 0.999 of the weights
(capped to the run's length), the word-piece table frozen, batch 32. The benchmark trains 3 epochs
unless told otherwise (the recipe's default is 2): on SST-2 a third epoch raised the mean dev accuracy
over seeds 0-2 to 90.21 (benchmarks/README.md); the Hugging Face Trainer peer trains the same epochs.

Trains with `kerastune.recipes.text_classifier` (length-bucketed dynamic padding, XLA), reports dev
accuracy and macro-F1, then measures stock KerasHub `BertTextClassifier.from_preset(dir,
num_classes=...)` with `sequence_length=64` at the same batch size, in the same process, for
`speedup_vs_kerashub`. Throughput counts every example trained over the whole `fit` wall time
(XLA compiles included) for kerastune; KerasHub's is its steady state (first step excluded).
`--with-peer` then fine-tunes the same backbone on the same files with the Hugging Face Trainer
(`benchmarks/peers/hf_trainer_sst2.py`, the `peers` extra) at the same batch size and adds
`hf_trainer_examples_per_second` (over its whole `train()`), `hf_trainer_dev_accuracy` and
`speedup_vs_hf_trainer`; `--peer-max-steps N` times only N of its steps (then its accuracy is not
comparable). The last line printed is one JSON object.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerastune.data.labelled_text import read_labelled_text  # noqa: E402
from kerastune.recipes.text_classifier import text_classifier  # noqa: E402
from kerastune.recipes.training_setup import layerwise_lr_decay, peak_learning_rate  # noqa: E402
from peers.side_by_side import cpu_model, kernel_environment, run_peer  # noqa: E402

TUNING = ("learning_rate", "warmup_ratio", "pooling", "ema_momentum", "freeze_token_embedding", "layerwise_lr_decay")
TRAIN_FILES = ("train.tsv", "train_subset.tsv", "train.csv", "train.jsonl")
EVAL_FILES = ("dev.tsv", "validation.tsv", "test.tsv", "dev.csv", "test.csv", "dev.jsonl", "test.jsonl")


def _first(directory, names):
    for name in names:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{directory}: none of {names}")


def _header(path):
    with open(path, encoding="utf-8") as f:
        return f.readline().rstrip("\n").split("\t")


class _Timer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.stamps = []

    def on_train_batch_end(self, batch, logs=None):
        self.stamps.append(time.perf_counter())


def kerashub_examples_per_second(backbone_dir, texts, labels, num_classes, batch_size, steps, sequence_length=64):
    """Stock KerasHub: `BertTextClassifier.from_preset` with its preprocessor at `sequence_length`."""
    import keras_hub

    classifier = keras_hub.models.BertTextClassifier.from_preset(backbone_dir, num_classes=num_classes)
    classifier.preprocessor.sequence_length = sequence_length
    n = batch_size * (steps + 1)
    ds = tf.data.Dataset.from_tensor_slices((texts[:n], labels[:n])).batch(batch_size)
    timer = _Timer()
    classifier.fit(ds, epochs=1, callbacks=[timer], verbose=0)
    seconds = timer.stamps[-1] - timer.stamps[0]  # steps after the first (tracing) one
    return batch_size * (len(timer.stamps) - 1) / seconds


_SERVE = """
import json, sys
import numpy as np, tensorflow as tf, tensorflow_text  # no kerastune, no KerasHub
fn = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
texts = json.load(open(sys.argv[2]))
out = [fn(text=tf.constant(texts[i:i + 64]))["probabilities"].numpy() for i in range(0, len(texts), 64)]
np.save(sys.argv[3], np.concatenate(out))
"""


def report_labels(run):
    import numpy as np

    return np.asarray(run.validation_labels)


def _serve_in_fresh_process(path, eval_path, label_name_column):
    """Probabilities from the SavedModel, loaded in a new Python process without kerastune."""
    import subprocess
    import tempfile

    import numpy as np

    texts = read_labelled_text(eval_path, label_name_column=label_name_column).texts
    with tempfile.TemporaryDirectory() as tmp:
        json.dump(texts, open(os.path.join(tmp, "texts.json"), "w"))
        out = os.path.join(tmp, "probabilities.npy")
        subprocess.run([sys.executable, "-c", _SERVE, path, os.path.join(tmp, "texts.json"), out], check=True)
        return np.load(out)


def _ema_momentum_used(optimizer):
    """The momentum the optimizer averaged with (the configured one capped to the run's length), or 0."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # under a loss-scale wrapper
    return round(float(optimizer.ema_momentum), 6) if optimizer.use_ema else 0.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="directory with train(.tsv|_subset.tsv) and dev/test.tsv")
    parser.add_argument("--backbone", required=True, help="KerasHub preset or Hugging Face directory")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--export-dir", default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--warmup-ratio", type=float, default=None)
    parser.add_argument("--pooling", default=None, choices=("pooled", "mean", "cls"))
    parser.add_argument("--max-train-examples", type=int, default=None, help="a slice, for quick runs")
    parser.add_argument("--kerashub-steps", type=int, default=30, help="0 skips the KerasHub side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ema-momentum", type=float, default=None, help="> 0: evaluate averaged weights; 0: off")
    parser.add_argument("--layerwise-lr-decay", type=float, default=None, help="< 1: lower layers train slower")
    parser.add_argument("--freeze-token-embedding", action=argparse.BooleanOptionalAction, default=None,
                        help="keep the word-piece table fixed (--no-freeze-token-embedding trains it)")
    parser.add_argument("--steps-per-execution", type=int, default=8)
    parser.add_argument("--pad-to-multiple-of", type=int, default=8)
    parser.add_argument("--with-peer", action="store_true",
                        help="then fine-tune with the Hugging Face Trainer (benchmarks/peers/hf_trainer_sst2.py)")
    parser.add_argument("--peer-max-steps", type=int, default=None,
                        help="with --with-peer: stop the Trainer after this many steps (its throughput only)")
    parser.add_argument("--peer-learning-rate", type=float, default=None, help="default: the Trainer's 5e-5")
    args = parser.parse_args(argv)

    train_path, eval_path = _first(args.data, TRAIN_FILES), _first(args.data, EVAL_FILES)
    label_name_column = "label_name" if "label_name" in _header(train_path) else None
    run = text_classifier(
        args.backbone,
        train_path,
        eval_path,
        label_name_column=label_name_column,
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_train_examples=args.max_train_examples,
        seed=args.seed,
        **{key: getattr(args, key) for key in TUNING if getattr(args, key) is not None},
        steps_per_execution=args.steps_per_execution,
        pad_to_multiple_of=args.pad_to_multiple_of,
        name=os.path.basename(os.path.normpath(args.data)),
    )
    steps = run.train_data.steps_per_epoch
    print(f"train: {run.train_data.num_examples} examples, {steps} steps/epoch; eval: {eval_path}", flush=True)
    timer = _Timer()
    start = time.perf_counter()
    run.fit(epochs=args.epochs, validate=False, callbacks=[timer], verbose=2)
    fit_seconds = time.perf_counter() - start
    trained = steps * args.batch_size * args.epochs
    report = run.evaluate()
    result = {
        "data": args.data,
        "backbone": args.backbone,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": peak_learning_rate(run.config),
        "pooling": run.config.pooling,
        "ema_momentum": run.config.ema_momentum,  # as configured; the run uses ema_momentum_used
        "ema_momentum_used": _ema_momentum_used(run.model.optimizer),
        "freeze_token_embedding": not run.model.backbone.token_embedding.trainable,
        "layerwise_lr_decay": layerwise_lr_decay(run.config),  # None in the config: decided by the backbone
        "steps_per_execution": args.steps_per_execution,
        "pad_to_multiple_of": args.pad_to_multiple_of,
        "train_examples": run.train_data.num_examples,
        "examples_trained": trained,
        "dev_examples": report["num_examples"],
        "dev_accuracy": round(report["accuracy"], 4),
        "dev_macro_f1": round(report["macro_f1"], 4),
        "train_examples_per_second": round(trained / fit_seconds, 1),
        "train_examples_per_second_last_epoch": None,
        "wall_seconds": None,
    }
    per_epoch = len(timer.stamps) // args.epochs
    if args.epochs > 1 and per_epoch > 1:
        last = timer.stamps[-per_epoch:]
        # With steps_per_execution=k, Keras calls batch callbacks once every k steps.
        examples = args.batch_size * args.steps_per_execution * (len(last) - 1)
        result["train_examples_per_second_last_epoch"] = round(examples / (last[-1] - last[0]), 1)
    if args.export_dir:
        result["export_path"] = run.export(args.export_dir, report=report)
        probabilities = run.predict()
        served = _serve_in_fresh_process(result["export_path"], eval_path, label_name_column)
        result["export_dev_accuracy"] = round(float((served.argmax(-1) == report_labels(run)).mean()), 4)
        result["export_max_abs_probability_diff"] = float(abs(served - probabilities).max())
    if args.kerashub_steps:
        texts = read_labelled_text(train_path, label_name_column=label_name_column)
        print(f"timing stock KerasHub BertTextClassifier for {args.kerashub_steps + 1} steps", flush=True)
        eps = kerashub_examples_per_second(
            args.backbone, texts.texts, texts.labels, len(texts.label_names), args.batch_size, args.kerashub_steps
        )
        result["kerashub_examples_per_second"] = round(eps, 1)
        result["kerashub_sequence_length"] = 64
        result["speedup_vs_kerashub"] = round(result["train_examples_per_second"] / eps, 2)
    if args.with_peer:
        result.update(hf_trainer_side_by_side(args, result))
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    result["fit_seconds"] = round(fit_seconds, 1)
    result["cpu"] = cpu_model()
    result["kernel_environment"] = kernel_environment()
    print(json.dumps(result))


def hf_trainer_side_by_side(args, result):
    """Runs the Hugging Face Trainer peer now, same files, batch size, epochs and machine; the ratio."""
    arguments = ["--data", args.data, "--backbone", args.backbone, "--batch-size", args.batch_size,
                 "--epochs", args.epochs, "--seed", args.seed]
    for flag, value in (("--max-train-examples", args.max_train_examples), ("--max-steps", args.peer_max_steps),
                        ("--learning-rate", args.peer_learning_rate)):
        if value is not None:
            arguments += [flag, value]
    peer = run_peer("hf_trainer_sst2.py", arguments)
    return {
        "hf_trainer_examples_per_second": peer["train_examples_per_second"],
        "hf_trainer_dev_accuracy": None if args.peer_max_steps else peer["dev_accuracy"],
        "speedup_vs_hf_trainer": round(result["train_examples_per_second"] / peer["train_examples_per_second"], 2),
        "peer": peer,
    }


if __name__ == "__main__":
    main()
