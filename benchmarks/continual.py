"""Continual fine-tuning: SST-2 (task A) then AG News (task B), and how much of A each method forgets.

    python benchmarks/continual.py [--backbone ../shared/models/all-MiniLM-L6-v2] [--train-a 1000]
        [--train-b 1000] [--epochs 3] [--eval-limit 500] [--methods naive,rehearsal,ewc,lora]

For each method (`kerastune.recipes.continual`): train A, measure A; train B, measure A and B. And
once, B trained alone from the pretrained backbone (the reference for B). Training examples: the
first `--train-a` of SST-2 train shuffled (seed 0) and the first `--train-b` of the AG News train
subset; evaluation: a seeded random `--eval-limit` of SST-2 dev and of AG News test (all of them
without the flag). Methods share `--epochs` per task (3), batch 32, sequence length 64; LoRA trains at
`--lora-learning-rate` (3e-3), the others at `--learning-rate` (1e-4).

Last line, one JSON object: `accuracies[method]` = `{"a_after_a", "a_after_b", "b_after_b"}`,
`b_alone`, `forgetting_points[method]` = 100 * (a_after_a - a_after_b), `task_b_gap_points[method]`
= 100 * (b_alone - b_after_b), and the settings.
"""

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from peers.side_by_side import cpu_model  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")


def subset(data, n, seed):
    if n is None or n >= len(data):
        return data
    pick = np.sort(np.random.default_rng(seed).choice(len(data), n, replace=False))
    return dataclasses.replace(data, texts=[data.texts[i] for i in pick], labels=[data.labels[i] for i in pick],
                               text_pairs=None, lines=None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default=os.path.join(SHARED, "models", "all-MiniLM-L6-v2"))
    parser.add_argument("--train-a", type=int, default=1000)
    parser.add_argument("--train-b", type=int, default=1000)
    parser.add_argument("--eval-limit", type=int, default=None)
    parser.add_argument("--methods", default="naive,rehearsal,ewc,lora")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--lora-learning-rate", type=float, default=3e-3)
    parser.add_argument("--replay-size", type=int, default=200)
    parser.add_argument("--replay-every", type=int, default=4)
    parser.add_argument("--ewc-strength", type=float, default=1e4)
    parser.add_argument("--fisher-examples", type=int, default=200)
    args = parser.parse_args()

    import keras

    from kerastune.data.labelled_text import read_labelled_text
    from kerastune.recipes.continual import ContinualTask, continual

    start = time.time()
    sst_train = read_labelled_text(os.path.join(SHARED, "data", "sst2", "train.tsv"))
    sst_dev = read_labelled_text(os.path.join(SHARED, "data", "sst2", "dev.tsv"), label_names=sst_train.label_names,
                                 label_values=sst_train.label_values)
    ag_train = read_labelled_text(os.path.join(SHARED, "data", "agnews", "train_subset.tsv"))
    ag_test = read_labelled_text(os.path.join(SHARED, "data", "agnews", "test.tsv"), label_names=ag_train.label_names,
                                 label_values=ag_train.label_values)
    tasks = [ContinualTask("sst2", subset(sst_train, args.train_a, 0), subset(sst_dev, args.eval_limit, 1)),
             ContinualTask("agnews", subset(ag_train, args.train_b, 0), subset(ag_test, args.eval_limit, 1))]
    common = dict(batch_size=32, epochs=args.epochs, learning_rate=args.learning_rate,
                  lora_learning_rate=args.lora_learning_rate, replay_size=args.replay_size,
                  replay_every=args.replay_every, ewc_strength=args.ewc_strength,
                  fisher_examples=args.fisher_examples, max_sequence_length=64, ema_momentum=0.0,
                  jit_compile=False)
    results = {"backbone": args.backbone, "cpu": cpu_model(), "settings": {**common, "train_a": len(tasks[0].train),
               "train_b": len(tasks[1].train), "eval_a": len(tasks[0].evaluation), "eval_b": len(tasks[1].evaluation)},
               "accuracies": {}, "forgetting_points": {}, "task_b_gap_points": {}}
    print(f"tasks: sst2 train {len(tasks[0].train)} eval {len(tasks[0].evaluation)}; agnews train "
          f"{len(tasks[1].train)} eval {len(tasks[1].evaluation)}", flush=True)
    keras.utils.clear_session()
    alone = continual(args.backbone, [tasks[1], tasks[0]], method="naive", **common)  # B first: B alone
    t0 = time.time()
    alone.fit_task(0, verbose=2)
    results["b_alone"] = alone.evaluate(0)
    print(f"B alone: {results['b_alone']:.4f} ({time.time() - t0:.0f} s)", flush=True)
    del alone
    for method in args.methods.split(","):
        keras.utils.clear_session()
        t0 = time.time()
        run = continual(args.backbone, tasks, method=method, **common)
        run.fit_task(0, verbose=2)
        a_after_a = run.evaluate(0)
        run.fit_task(1, verbose=2)
        a_after_b, b_after_b = run.evaluate(0), run.evaluate(1)
        results["accuracies"][method] = {"a_after_a": a_after_a, "a_after_b": a_after_b, "b_after_b": b_after_b}
        results["forgetting_points"][method] = round(100 * (a_after_a - a_after_b), 2)
        results["task_b_gap_points"][method] = round(100 * (results["b_alone"] - b_after_b), 2)
        print(f"{method}: A after A {a_after_a:.4f}, A after B {a_after_b:.4f}, B after B {b_after_b:.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
        del run
    results["wall_seconds"] = round(time.time() - start, 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
