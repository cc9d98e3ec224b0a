"""Few-shot text classification: PET (prompt + MLM head) vs head-only and full classifier fine-tuning.

    # once: MiniLM + a masked-LM head trained over its tied word-piece table (see mlm_head_directory.py)
    python benchmarks/few_shot.py --build-mlm-head /tmp/minilm_mlm [--head-steps 800] [--full-steps 0] \
        [--full-learning-rate 2e-5]
    # the issue's protocol: SST-2 and AG News, 16 / 32 / 100 labelled examples, 5 seeded draws each
    python benchmarks/few_shot.py --backbone /tmp/minilm_mlm [--sizes 16,32,100] [--draws 5] [--eval-limit N]

Per data set, size and draw (seed = draw), the same `size` training examples are drawn at random
(seeded) from the training file and given to three methods over the same backbone directory:
- `pet`: `kerastune.recipes.prompt_classifier`, one run per pattern, the whole model fine-tuned
  on the verbaliser cross-entropy, the patterns' probabilities averaged (PET's ensemble);
- `head_only`: `text_classifier` with the backbone frozen (only the pooled head trains);
- `finetune`: `text_classifier` with its defaults (the best SST-2 configuration), all weights.
All take the same number of epochs (`ceil(--example-passes / size)`, batch 8). Evaluation: SST-2
dev (872 sentences) and AG News test (7,600), or a seeded random subset of `--eval-limit` of each.
`pet_zero_shot` is the pattern ensemble before any training (first draw's models).

Progress on stdout; the last line is one JSON object: per data set `pet_<n>`, `head_only_<n>`,
`finetune_<n>` (mean accuracy over the draws, 0-1), the same with `_std`, and the settings.
"""

import argparse
import csv
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peers.side_by_side import cpu_model  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
TASKS = {
    "sst2": {"train": "sst2/train.tsv", "eval": "sst2/dev.tsv", "verbalizer": "terrible,great",
             "patterns": ["<text> It was [MASK].", "<text> All in all, it was [MASK]."]},
    "agnews": {"train": "agnews/train_subset.tsv", "eval": "agnews/test.tsv", "verbalizer": "world,sports,business,tech",
               "patterns": ["[MASK] news: <text>", "<text> ( [MASK] )"]},
}


def read_rows(path):
    with open(path, encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        return header, [row for row in reader]


def write_rows(path, header, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(header[:2]) + "\n" + "".join("\t".join(r[:2]) + "\n" for r in rows))
    return path


def accuracy(probabilities, labels):
    return float((np.asarray(probabilities).argmax(-1) == np.asarray(labels)).mean())


def run_pet(task, backbone, train, evaluation, epochs, args, zero_shot=False):
    from kerastune.recipes.prompt_classifier import prompt_classifier

    runs, before = [], []
    for pattern in task["patterns"]:
        run = prompt_classifier(backbone, train, evaluation, pattern=pattern, verbalizer=task["verbalizer"],
                                learning_rate=args.pet_learning_rate, epochs=epochs, batch_size=args.batch_size,
                                max_sequence_length=args.sequence_length, seed=args.seed_offset,
                                jit_compile=args.jit_compile)
        if zero_shot:
            before.append(run.predict())
        run.fit(verbose=0, validate=False)  # only the end is scored: no pass over the eval split per epoch
        runs.append(run)
    labels = runs[0].validation_labels
    probabilities = [r.predict() for r in runs]
    single = [accuracy(p, labels) for p in probabilities]
    result = {"pet": accuracy(np.mean(probabilities, axis=0), labels), "pet_patterns": single}
    if zero_shot:
        result["pet_zero_shot"] = accuracy(np.mean(before, axis=0), labels)
    return result


def run_classifier(backbone, train, evaluation, epochs, args, head_only):
    from kerastune.recipes.text_classifier import text_classifier
    from kerastune.recipes.training_setup import compile_for_training

    settings = dict(epochs=epochs, batch_size=args.batch_size, max_sequence_length=args.sequence_length,
                    seed=args.seed_offset, jit_compile=args.jit_compile)
    if head_only:
        settings.update(learning_rate=args.head_learning_rate, layerwise_lr_decay=1.0, ema_momentum=0.0)
    run = text_classifier(backbone, train, evaluation, **settings)
    if head_only:
        run.model.backbone.trainable = False
        compile_for_training(run.model, run.config, run.train_data.steps_per_epoch)
    run.fit(verbose=0, validate=False)
    return accuracy(run.predict(), run.validation_labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default="/tmp/minilm_mlm", help="a backbone directory with an MLM head")
    parser.add_argument("--build-mlm-head", metavar="DIR", help="build the MiniLM + MLM head directory DIR and stop")
    parser.add_argument("--head-steps", type=int, default=800)
    parser.add_argument("--full-steps", type=int, default=0)
    parser.add_argument("--full-learning-rate", type=float, default=2e-5, help="the peak rate of --full-steps")
    parser.add_argument("--datasets", default="sst2,agnews")
    parser.add_argument("--sizes", default="16,32,100")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--eval-limit", type=int, default=None, help="seeded random subset of the eval split")
    parser.add_argument("--example-passes", type=int, default=320, help="epochs = ceil(this / size)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--pet-learning-rate", type=float, default=1e-4)
    parser.add_argument("--head-learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed-offset", type=int, default=0)
    parser.add_argument("--methods", default="pet,head_only,finetune")
    parser.add_argument("--jit-compile", action="store_true", help="XLA (compiles once per batch width: slower here)")
    args = parser.parse_args()

    if args.build_mlm_head:
        from mlm_head_directory import build_mlm_head_directory

        result = build_mlm_head_directory(args.build_mlm_head, args.head_steps, args.full_steps,
                                          full_learning_rate=args.full_learning_rate)
        print(json.dumps({"backbone_directory": args.build_mlm_head, **result}))
        return
    import keras

    start = time.time()
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = args.methods.split(",")
    results = {"backbone": os.path.abspath(args.backbone), "cpu": cpu_model(), "draws": args.draws,
               "sizes": sizes, "batch_size": args.batch_size, "sequence_length": args.sequence_length,
               "example_passes": args.example_passes, "pet_learning_rate": args.pet_learning_rate,
               "head_learning_rate": args.head_learning_rate}
    workdir = tempfile.mkdtemp(prefix="few_shot_")
    for name in args.datasets.split(","):
        task = TASKS[name]
        header, train_rows = read_rows(os.path.join(SHARED, task["train"]))
        eval_header, eval_rows = read_rows(os.path.join(SHARED, task["eval"]))
        if args.eval_limit and args.eval_limit < len(eval_rows):
            pick = np.sort(np.random.default_rng(1234).choice(len(eval_rows), args.eval_limit, replace=False))
            eval_rows = [eval_rows[i] for i in pick]
        evaluation = write_rows(os.path.join(workdir, f"{name}_eval.tsv"), eval_header, eval_rows)
        out = {"eval_split": f"{task['eval']} ({len(eval_rows)} examples)", "patterns": task["patterns"],
               "verbalizer": task["verbalizer"]}
        print(f"== {name}: eval on {out['eval_split']}", flush=True)
        for size in sizes:
            scores = {m: [] for m in methods}
            epochs = math.ceil(args.example_passes / size)
            for draw in range(args.draws):
                rng = np.random.default_rng(draw)
                labels_seen = set()
                while len(labels_seen) < 2:  # a draw with one class only has nothing to learn
                    chosen = rng.choice(len(train_rows), size, replace=False)
                    labels_seen = {train_rows[i][1] for i in chosen}
                train = write_rows(os.path.join(workdir, f"{name}_{size}_{draw}.tsv"), header,
                                   [train_rows[i] for i in chosen])
                line = []
                for method in methods:
                    keras.utils.clear_session()
                    keras.utils.set_random_seed(draw)
                    t0 = time.time()
                    if method == "pet":
                        pet = run_pet(task, args.backbone, train, evaluation, epochs, args,
                                      zero_shot=draw == 0 and size == sizes[0])
                        scores["pet"].append(pet["pet"])
                        if "pet_zero_shot" in pet:
                            out["pet_zero_shot"] = pet["pet_zero_shot"]
                        out.setdefault(f"pet_patterns_{size}", []).append(pet["pet_patterns"])
                    else:
                        scores[method].append(run_classifier(args.backbone, train, evaluation, epochs, args,
                                                             head_only=method == "head_only"))
                    line.append(f"{method} {scores[method][-1]:.3f} ({time.time() - t0:.0f} s)")
                print(f"{name} n={size} draw {draw}: " + ", ".join(line), flush=True)
            for method in methods:
                out[f"{method}_{size}"] = float(np.mean(scores[method]))
                out[f"{method}_{size}_std"] = float(np.std(scores[method]))
            print(f"{name} n={size}: " + ", ".join(f"{m} {out[f'{m}_{size}']:.3f}+-{out[f'{m}_{size}_std']:.3f}"
                                                    for m in methods), flush=True)
        results[name] = out
    results["wall_seconds"] = round(time.time() - start, 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
