"""Benchmark (not a test): ChnSentiCorp Chinese sentiment, two offline paths, and the better one's string-in export.

    python benchmarks/chnsenticorp.py [--data ../shared/data/chnsenticorp] [--export-dir saved_models]

(a) `recipes/chnsenticorp_minilm.toml`: fine-tune all-MiniLM-L6-v2 (read from disk; `--backbone` takes
    any KerasHub preset or Hugging Face BERT directory instead, e.g. a Chinese BERT, same code path).
(b) `recipes/chnsenticorp_mlm.toml`: pretrain kerastune's own encoder with character-level masked LM on
    the *training* texts only (never dev), then `recipes/chnsenticorp_mlm_finetune.toml` fine-tunes it
    (`--pretrained-dir` reuses a backbone directory that recipe saved and skips the pretraining).

Each path reports dev accuracy and macro-F1, accuracy on the dev texts that are not also training texts
(ChnSentiCorp's dev repeats 338 training texts; the rest is the nearest thing to a held-out set here) and
fine-tuning throughput (examples trained / `fit` wall time, XLA compiles included). `--export-dir`
exports the better path's SavedModel, serves every dev text from it in a fresh process that imports
TensorFlow and TF Text only, and reports the largest probability difference from the Keras model.
Recipe settings can be changed with `--minilm-set key=value`, `--pretrain-set ...`, `--finetune-set ...`.
`--ensemble-seeds 0,1,2` fine-tunes path (b) once per seed (each member's figures reported) and scores
and exports `kerastune.recipes.ensemble` of them: one SavedModel serving the mean of their probabilities.
`--distil-seed N` with it fine-tunes one more model (seed N) on the labels and the ensemble's soft targets
(the members exported under `--work-dir`/members, `distill_from` all of them) and reports and exports that
single model, the ensemble's figures under `teacher_` keys.
The last line printed is one JSON object.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from benchmarks.text_classifier import _serve_in_fresh_process  # noqa: E402
from kerastune.data.labelled_text import read_labelled_text  # noqa: E402
from kerastune.recipe_files import load_recipe_file  # noqa: E402
from kerastune.recipes.ensemble import ensemble  # noqa: E402
from kerastune.recipes.masked_lm import masked_lm  # noqa: E402
from kerastune.recipes.text_classifier import text_classifier  # noqa: E402
from kerastune.recipes.training_setup import peak_learning_rate  # noqa: E402

RECIPES = {name: os.path.join(ROOT, "recipes", f"chnsenticorp_{name}.toml") for name in ("minilm", "mlm", "mlm_finetune")}


def _settings(pairs):
    """`["epochs=3", ...]` -> `{"epochs": "3"}` (typed and checked by the recipe file's config)."""
    settings = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"settings are key=value. Received: {pair!r}")
        key, value = pair.split("=", 1)
        settings[key] = value
    return settings


def fine_tune(recipe_file, overrides, unseen):
    """Fits the text classifier of `recipe_file`; returns `(run, report, figures)`: dev figures and throughput."""
    _, config = load_recipe_file(recipe_file, overrides)
    run = text_classifier(config)
    steps = run.train_data.steps_per_epoch
    print(f"fine-tuning {config.backbone!r}: {run.train_data.num_examples} examples, {config.epochs} x {steps} "
          f"steps, sequence_length {run.sequence_length}", flush=True)
    start = time.perf_counter()
    run.fit(validate=False, verbose=2)
    seconds = time.perf_counter() - start
    report, result = evaluate(run, unseen)
    result.update({
        "examples_per_second": round(config.epochs * steps * config.batch_size / seconds, 1),
        "fit_seconds": round(seconds, 1),
        "epochs": config.epochs,
        "learning_rate": peak_learning_rate(config),
        "seed": config.seed,
        "sequence_length": run.sequence_length,
        "truncate": config.truncate,
    })
    print(f"{config.name}: {json.dumps(result)}", flush=True)
    return run, report, result


def evaluate(run, unseen):
    """`(report, figures)`: the run's dev accuracy and macro-F1, and its accuracy on the `unseen` dev texts."""
    report = run.evaluate()
    predicted = run.predict().argmax(-1)
    labels = np.asarray(run.validation_labels)
    return report, {
        "dev_accuracy": round(report["accuracy"], 4),
        "dev_macro_f1": round(report["macro_f1"], 4),
        "unseen_dev_accuracy": round(float((predicted == labels)[unseen].mean()), 4),
    }


def fine_tune_ensemble(recipe_file, overrides, unseen, seeds, members_dir=None):
    """Fine-tunes `recipe_file` once per seed; returns `(ensemble run, report, figures)`, each member's
    figures under `seed<N>_` keys (and, with `members_dir`, each member's export path)."""
    members, figures = [], {}
    for seed in seeds:
        run, member_report, member = fine_tune(recipe_file, {**overrides, "seed": str(seed)}, unseen)
        members.append(run)
        if members_dir:
            member["export_path"] = run.export(os.path.join(members_dir, f"seed{seed}"), report=member_report)
        figures.update({f"seed{seed}_{key}": value for key, value in member.items()})
    run = ensemble(members)
    report, result = evaluate(run, unseen)
    print(f"ensemble of seeds {seeds}: {json.dumps(result)}", flush=True)
    result["fit_seconds"] = round(sum(figures[f"seed{seed}_fit_seconds"] for seed in seeds), 1)
    return run, report, {**result, "ensemble_seeds": list(seeds), **figures}


def distil_ensemble(recipe_file, overrides, unseen, seeds, student_seed, members_dir):
    """Fine-tunes the ensemble of `seeds`, then one more model (`student_seed`) that learns the ensemble's
    soft targets too (`distill_from`, all members' exports); returns the student's `(run, report, figures)`,
    the ensemble's figures under `teacher_` keys."""
    _, _, teacher = fine_tune_ensemble(recipe_file, overrides, unseen, seeds, members_dir)
    exports = ",".join(teacher[f"seed{seed}_export_path"] for seed in seeds)
    run, report, figures = fine_tune(recipe_file, {**overrides, "seed": str(student_seed), "distill_from": exports},
                                     unseen)
    return run, report, {**figures, **{f"teacher_{key}": value for key, value in teacher.items()}}


def pretrain(overrides, directory):
    """Masked-LM pretraining of `recipes/chnsenticorp_mlm.toml` on the training texts; returns the backbone dir."""
    _, config = load_recipe_file(RECIPES["mlm"], overrides)
    run = masked_lm(config)
    c = run.config
    print(f"pretraining ({run.model.count_params():,} parameters, vocabulary {run.tokenizer.vocabulary_size()}) "
          f"on {c.data!r}: {c.epochs} x {c.steps_per_epoch or run.train_data.steps_per_epoch} steps", flush=True)
    start = time.perf_counter()
    history = run.fit(verbose=2).history
    seconds = time.perf_counter() - start
    path = run.save_backbone(directory)
    return path, {"pretrain_seconds": round(seconds, 1),
                  "pretrain_final_loss": round(float(history["loss"][-1]), 4)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "chnsenticorp"))
    parser.add_argument("--backbone", default=None, help="path (a)'s backbone (default: the recipe file's MiniLM)")
    parser.add_argument("--pretrained-dir", default=None, help="a backbone directory from recipes/chnsenticorp_mlm.toml")
    parser.add_argument("--work-dir", default="runs/chnsenticorp", help="where the pretrained backbone is saved")
    parser.add_argument("--export-dir", default=None)
    parser.add_argument("--skip", choices=("minilm", "scratch"), default=None, help="run one path only")
    parser.add_argument("--minilm-set", nargs="*", help="recipes/chnsenticorp_minilm.toml overrides, key=value")
    parser.add_argument("--pretrain-set", nargs="*", help="recipes/chnsenticorp_mlm.toml overrides")
    parser.add_argument("--finetune-set", nargs="*", help="recipes/chnsenticorp_mlm_finetune.toml overrides")
    parser.add_argument("--ensemble-seeds", default=None,
                        help="comma-separated seeds: path (b) is an ensemble of one fine-tuning per seed")
    parser.add_argument("--distil-seed", type=int, default=None,
                        help="with --ensemble-seeds: path (b) is one more fine-tuning, this seed, distilled from "
                             "the ensemble (one model's serving cost)")
    args = parser.parse_args(argv)
    if args.distil_seed is not None and not args.ensemble_seeds:
        parser.error("--distil-seed distils the ensemble of --ensemble-seeds: pass both")

    train_path, dev_path = os.path.join(args.data, "train.tsv"), os.path.join(args.data, "dev.tsv")
    data = {"train": train_path, "validation": dev_path}
    train_texts = set(read_labelled_text(train_path).texts)
    dev_texts = read_labelled_text(dev_path).texts
    unseen = np.array([text not in train_texts for text in dev_texts])
    print(f"dev: {len(dev_texts)} texts, {int(unseen.sum())} of them not in train", flush=True)
    start = time.perf_counter()
    result, runs = {"num_dev": len(dev_texts), "num_unseen_dev": int(unseen.sum())}, {}

    if args.skip != "minilm":
        minilm = {**data, **({"backbone": args.backbone} if args.backbone else {}), **_settings(args.minilm_set)}
        runs["minilm"] = fine_tune(RECIPES["minilm"], minilm, unseen)
        result["minilm_backbone"] = runs["minilm"][0].config.backbone
    if args.skip != "scratch":
        backbone = args.pretrained_dir
        if backbone is None:
            pretrain_settings = {"data": train_path, **_settings(args.pretrain_set)}  # train texts only, never dev
            backbone, pretrained = pretrain(pretrain_settings, os.path.join(args.work_dir, "mlm_backbone"))
            result.update(pretrained)
        settings = {**data, "backbone": backbone, **_settings(args.finetune_set)}
        if args.ensemble_seeds:
            seeds = [int(seed) for seed in args.ensemble_seeds.split(",")]
            if args.distil_seed is None:
                runs["scratch"] = fine_tune_ensemble(RECIPES["mlm_finetune"], settings, unseen, seeds)
            else:
                runs["scratch"] = distil_ensemble(RECIPES["mlm_finetune"], settings, unseen, seeds, args.distil_seed,
                                                  os.path.join(args.work_dir, "members"))
        else:
            runs["scratch"] = fine_tune(RECIPES["mlm_finetune"], settings, unseen)
        result["scratch_backbone"] = backbone
    for path, (_, _, figures) in runs.items():
        result.update({f"{path}_{key}": value for key, value in figures.items()})

    better = max(runs, key=lambda path: runs[path][2]["dev_accuracy"])
    run, report, figures = runs[better]
    result["better_path"] = better
    result["dev_accuracy"] = figures["dev_accuracy"]
    if args.export_dir:
        path = run.export(args.export_dir, report=report)
        probabilities = run.predict()
        print(f"exported {better} to {path}; serving the dev texts in a fresh TensorFlow-only process", flush=True)
        served = _serve_in_fresh_process(path, dev_path, None)
        labels = np.asarray(run.validation_labels)
        result["export_path"] = path
        result["export_dev_accuracy"] = round(float((served.argmax(-1) == labels).mean()), 4)
        result["export_max_abs_probability_diff"] = float(np.abs(served - probabilities).max())
        result["export_matches_keras"] = bool(result["export_max_abs_probability_diff"] <= 1e-5)
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
