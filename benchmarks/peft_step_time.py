"""Benchmark (not a test): the training step's time under each fine-tuning method, at one batch shape.

    python benchmarks/peft_step_time.py --data ../shared/data/sst2 --backbone ../shared/models/all-MiniLM-L6-v2 \
        [--methods full,lora,dora,adapter,prefix] [--batch-size 32] [--length 32] [--steps 25]

Each method is `kerastune.recipes.text_classifier` with one switch (`peft.py`'s `METHODS`) and the
recipe's other defaults (XLA-compiled train step). One batch of the training file, every row cut or
padded to `--length` word pieces, is trained on `--steps` times with `train_on_batch`; the median of
the steps after the first `--warmup` (compilation) is reported per method, with its ratio to full
fine-tuning's. `peft.py` times whole runs (data, compilation per padded width, evaluation); this
isolates the step, so a slow layer shows. The last line printed is one JSON object:
`{"cpu": ..., "full": {"step_ms": ...}, "lora": {"step_ms": ..., "vs_full": ...}, ...}`.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
BENCHMARKS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [BENCHMARKS, os.path.join(BENCHMARKS, "..")]

import keras  # noqa: E402
import numpy as np  # noqa: E402

from peers.side_by_side import cpu_model  # noqa: E402
from peft import EVAL_FILES, METHODS, TRAIN_FILES, _first  # noqa: E402
from kerastune.recipes.text_classifier import text_classifier  # noqa: E402


def fixed_width(inputs, length):
    """Every 2-D input cut or padded (with its last column repeated) to `length` columns."""
    def resize(array):
        array = np.asarray(array)
        if array.ndim != 2:
            return array
        if array.shape[1] >= length:
            return array[:, :length]
        return np.concatenate([array, np.repeat(array[:, -1:], length - array.shape[1], axis=1)], axis=1)
    return {name: resize(value) for name, value in inputs.items()}


def step_time(method, args, train_path, eval_path):
    run = text_classifier(args.backbone, train_path, eval_path, epochs=1, batch_size=args.batch_size,
                          max_train_examples=10 * args.batch_size, steps_per_execution=1, seed=0,
                          name=f"step_{method}", **METHODS[method])
    inputs, labels = next(iter(run.train_data.dataset))[:2]
    inputs = fixed_width({k: keras.ops.convert_to_numpy(v) for k, v in inputs.items()}, args.length)
    labels = keras.ops.convert_to_numpy(labels)
    times = []
    for step in range(args.steps):
        start = time.perf_counter()
        run.model.train_on_batch(inputs, labels)
        times.append(time.perf_counter() - start)
        print(f"{method}: step {step + 1}/{args.steps} {1000 * times[-1]:.1f} ms", flush=True)
    keras.backend.clear_session()
    return round(1000 * float(np.median(times[args.warmup:])), 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="directory with train.tsv and dev.tsv")
    parser.add_argument("--backbone", required=True)
    parser.add_argument("--methods", default="full,lora,dora,adapter,prefix", help=f"of {', '.join(METHODS)}")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=32, help="word pieces per row")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of the median")
    args = parser.parse_args(argv)
    if args.steps <= args.warmup:
        raise SystemExit(f"--steps ({args.steps}) must exceed --warmup ({args.warmup}) to leave steps to time")
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"--methods: unknown {unknown}; known: {sorted(METHODS)}")
    train_path, eval_path = _first(args.data, TRAIN_FILES), _first(args.data, EVAL_FILES)
    results = {method: {"step_ms": step_time(method, args, train_path, eval_path)} for method in methods}
    if "full" in results:
        for result in results.values():
            result["vs_full"] = round(result["step_ms"] / results["full"]["step_ms"], 3)
    print(json.dumps({"cpu": cpu_model(), "batch_size": args.batch_size, "length": args.length, **results}))


if __name__ == "__main__":
    main()
