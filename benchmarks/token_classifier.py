"""Benchmark (not a test): fine-tune a BERT encoder for CoNLL-2003 NER and report entity F1 on valid.

    python benchmarks/token_classifier.py --data ../shared/data/conll2003 \
        --backbone ../shared/models/all-MiniLM-L6-v2 [--epochs N] [--export-dir saved_models]

Trains with `kerastune.recipes.token_classifier` (first-sub-word labels, length-bucketed dynamic
padding, XLA), then scores valid.txt with seqeval (entity-level micro P/R/F1). With `--export-dir`
it also exports the string-in SavedModel and checks that the first `--check-sentences` validation
sentences get the same tags from it as from the Keras model. Throughput counts every training
sentence over the whole `fit` wall time (XLA compiles included). The last line printed is one JSON
object.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tensorflow as tf  # noqa: E402

from kerastune.recipes.token_classifier import token_classifier  # noqa: E402
from kerastune.recipes.training_setup import peak_learning_rate  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="directory with train.txt and valid.txt (token<TAB>tag)")
    parser.add_argument("--backbone", required=True, help="KerasHub preset, Hugging Face or kerastune backbone dir")
    parser.add_argument("--epochs", type=int, default=None, help="unset: the recipe's default (4)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="unset: the recipe's default (1e-4; under --peft the method's measured rate)")
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--max-train-sentences", type=int, default=None, help="a slice, for quick runs")
    parser.add_argument("--max-valid-sentences", type=int, default=None)
    parser.add_argument("--max-sequence-length", type=int, default=None)
    parser.add_argument("--export-dir", default=None)
    parser.add_argument("--check-sentences", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    # Unset: the token classifier's defaults (no weight average, no layer-wise decay, trainable
    # word-piece table: the text classifier's choices scored lower on CoNLL valid). Set them to
    # measure other choices.
    parser.add_argument("--ema-momentum", type=float, default=None, help="0 turns the weight average off")
    parser.add_argument("--layerwise-lr-decay", type=float, default=None, help="1 turns it off")
    parser.add_argument("--freeze-token-embedding", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--steps-per-execution", type=int, default=None, help="unset: the recipe's default (1)")
    parser.add_argument("--peft", default=None, choices=("lora", "dora", "adapter"), help="parameter-efficient")
    parser.add_argument("--lora-rank", type=int, default=None)
    parser.add_argument("--peft-targets", default=None, help="unset: the recipe's defaults for the method")
    args = parser.parse_args(argv)
    tuning = {key: getattr(args, key) for key in ("epochs", "ema_momentum", "layerwise_lr_decay", "freeze_token_embedding",
                                                  "steps_per_execution", "peft", "lora_rank", "peft_targets")
              if getattr(args, key) is not None}

    start = time.perf_counter()
    run = token_classifier(
        args.backbone,
        os.path.join(args.data, "train.txt"),
        os.path.join(args.data, "valid.txt"),
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,  # None: the recipe's default
        warmup_ratio=args.warmup_ratio,
        max_train_sentences=args.max_train_sentences,
        max_sequence_length=args.max_sequence_length,
        seed=args.seed,
        name="conll2003",
        **tuning,
    )
    valid_sentences, valid_data = run.validation_sentences, run.validation_data
    if args.max_valid_sentences:
        import dataclasses

        n = args.max_valid_sentences
        valid_sentences = dataclasses.replace(valid_sentences, words=valid_sentences.words[:n],
                                              tags=valid_sentences.tags[:n])
        valid_data = run.dataset(valid_sentences)
    steps = run.train_data.steps_per_epoch
    print(f"train: {run.train_data.num_sentences} sentences, {steps} steps/epoch", flush=True)
    fit_start = time.perf_counter()
    epochs = run.config.epochs
    history = run.fit(epochs=epochs, validate=False, verbose=2)
    fit_seconds = time.perf_counter() - fit_start
    trained = steps * args.batch_size * epochs
    report = run.evaluate(valid_sentences, valid_data)
    result = {
        "data": args.data,
        "backbone": args.backbone,
        "epochs": epochs,
        "batch_size": args.batch_size,
        "learning_rate": peak_learning_rate(run.config),
        "ema_momentum": run.config.ema_momentum,
        "layerwise_lr_decay": run.config.layerwise_lr_decay,
        "freeze_token_embedding": run.config.freeze_token_embedding,
        "peft": run.config.peft,
        "trainable_percent": round(run.trainable_summary()["trainable_percent"], 3),
        "train_sentences": run.train_data.num_sentences,
        "valid_sentences": report["num_sentences"],
        "train_loss_per_epoch": [round(v, 4) for v in history.history["loss"]],
        "valid_entity_precision": round(report["precision"], 4),
        "valid_entity_recall": round(report["recall"], 4),
        "valid_entity_f1": round(report["f1"], 4),
        "valid_word_accuracy": round(report["accuracy"], 4),
        "valid_f1_per_type": {k: round(v["f1"], 4) for k, v in report["per_type"].items()},
        "train_sentences_per_second": round(trained / fit_seconds, 1),
        "fit_seconds": round(fit_seconds, 1),
    }
    if args.export_dir:
        path = run.export(args.export_dir, report=report)
        import tensorflow_text  # noqa: F401  (the SavedModel's tokenizer ops)

        serve = tf.saved_model.load(path).signatures["serving_default"]
        n = min(args.check_sentences, len(valid_sentences))
        texts = [" ".join(w) for w in valid_sentences.words[:n]]
        keras_tags = [[run.tag_names[i] for i in s] for s in run.predict(valid_data)[:n]]
        out = serve(text=tf.constant(texts))
        served = [[t.decode() for t in row[:k]] for row, k in zip(out["tags"].numpy(), out["num_words"].numpy())]
        result["export_path"] = path
        result["export_sentences_checked"] = n
        result["export_matches_keras"] = served == keras_tags
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
