"""Benchmark (not a test): does masked-LM + NSP pretraining help? Pretrain, then fine-tune on SST-2 vs random init.

    python benchmarks/pretrain_then_finetune.py --data-dir ../shared/data \
        --pretrain-epochs 4 --pretrain-steps 500 --finetune-examples 20000 --finetune-epochs 2 \
        [--no-next-sentence --pack-sentences] [--finetune-seeds 10 --finetune-first-seed 10] [--pretrained-dir DIR]
        [--continue-from DIR --pretrain-data sst2/train.tsv]

1. Pretrains a small `BertEncoder` with `kerastune.recipes.masked_lm` on unlabelled text: the SST-2
   train sentences (labels unused) plus WikiText-2 valid+test; reports the masked-LM loss after each
   pretraining epoch (the curve) and saves the backbone directory.
2. Fine-tunes it with `kerastune.recipes.text_classifier` on SST-2 train (a slice of
   `--finetune-examples`), and the same architecture from random initialisation with the same
   vocabulary, data, seed, steps and learning rate; reports SST-2 dev accuracy of both, for each of
   `--finetune-seeds` seeds from `--finetune-first-seed` (the gain is the mean over seeds; each run
   in a fresh process, its result printed as it lands). `--pretrained-dir` skips step 1 and
   fine-tunes a backbone directory saved by an earlier run. `--continue-from DIR` makes step 1
   continue pretraining that directory (`masked_lm(backbone=DIR)`: its vocabulary, architecture,
   weights and MLM head) on `--pretrain-data`, e.g. task-adaptive pretraining on the SST-2
   sentences alone; the architecture flags are then taken from DIR.

The last line printed is one JSON object.
"""

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402

from kerastune.models.backbone_directory import load_backbone_directory  # noqa: E402
from kerastune.recipes.masked_lm import masked_lm  # noqa: E402
from kerastune.recipes.text_classifier import text_classifier  # noqa: E402


def finetune(args, vocabulary, seed, pretrained_dir=None):
    """SST-2 dev accuracy of the same-architecture encoder, from `pretrained_dir`'s weights or random init."""
    run = text_classifier(
        "kerastune_bert", os.path.join(args.data_dir, "sst2", "train.tsv"),
        os.path.join(args.data_dir, "sst2", "dev.tsv"), vocabulary=vocabulary, num_layers=args.num_layers,
        num_heads=args.num_heads, hidden_dim=args.hidden_dim, intermediate_dim=args.intermediate_dim,
        max_sequence_length=args.sequence_length, max_train_examples=args.finetune_examples,
        epochs=args.finetune_epochs, learning_rate=args.finetune_learning_rate, batch_size=32, seed=seed,
        pooling=args.finetune_pooling, ema_momentum=0.0,  # the protocol every recorded row used: no weight average
    )
    if pretrained_dir is not None:  # the recipe built the same architecture; start it from the pretrained weights
        run.model.backbone.set_weights(load_backbone_directory(pretrained_dir)[0].get_weights())
    run.fit(validate=False, verbose=2)
    return run.evaluate()["accuracy"]


def finetune_in_child(args, vocabulary, seed, pretrained_dir=None):
    """`finetune` in a fresh process, then print its result at once.

    Each fine-tuning run compiles new XLA programs whose JIT code stays mapped for the life of the
    process (as far as we can tell): after 16 runs of 4 x 256 on SST-2 in one process, XLA failed
    with "LLVM compilation error: Cannot allocate memory" and the process died, losing every result.
    A fresh process per run frees them and keeps each seed independent of the runs before it.
    """
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        accuracy = pool.submit(finetune, args, vocabulary, seed, pretrained_dir).result()
    arm = "pretrained" if pretrained_dir else "random init"
    print(f"seed {seed}, {arm}: SST-2 dev accuracy {accuracy:.4f}", flush=True)
    return accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--pretrain-epochs", type=int, default=4)
    parser.add_argument("--pretrain-steps", type=int, default=500, help="steps per pretraining epoch")
    parser.add_argument("--pretrain-learning-rate", type=float, default=1e-3)
    parser.add_argument("--vocabulary-size", type=int, default=8000)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--num-heads", type=int, default=2)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--intermediate-dim", type=int, default=512)
    parser.add_argument("--finetune-examples", type=int, default=20000)
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--finetune-learning-rate", type=float, default=2e-4)
    parser.add_argument("--backbone-dir", default=None, help="where to save the pretrained backbone (default: temp)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-next-sentence", action="store_true", help="masked LM only (no NSP pairs)")
    parser.add_argument("--pack-sentences", action="store_true", help="fill examples with consecutive sentences")
    parser.add_argument("--finetune-pooling", default="mean", choices=("pooled", "mean", "cls"))
    parser.add_argument("--finetune-seeds", type=int, default=1,
                        help="fine-tune both arms with N seeds: FIRST..FIRST+N-1 (--finetune-first-seed)")
    parser.add_argument("--finetune-first-seed", type=int, default=0,
                        help="first fine-tuning seed (fresh seeds for a configuration chosen on others)")
    parser.add_argument("--pretrained-dir", default=None, help="skip pretraining: fine-tune this saved backbone")
    parser.add_argument("--pretrain-data", default="sst2/train.tsv,wikitext2/valid.txt,wikitext2/test.txt",
                        help="comma-separated unlabelled text files under --data-dir")
    parser.add_argument("--continue-from", default=None,
                        help="continue pretraining this saved backbone directory instead of starting from scratch")
    parser.add_argument("--snapshot-every-epoch", action="store_true",
                        help="also save the backbone after each pretraining epoch, as <backbone-dir>.epoch_K")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    result = {}
    if args.pretrained_dir:
        path = args.pretrained_dir
    else:
        data = ",".join(os.path.join(args.data_dir, p.strip()) for p in args.pretrain_data.split(","))
        if args.continue_from:  # vocabulary and architecture come from the directory
            architecture = dict(backbone=args.continue_from)
        else:
            architecture = dict(vocabulary_size=args.vocabulary_size, sequence_length=args.sequence_length,
                                num_layers=args.num_layers, num_heads=args.num_heads, hidden_dim=args.hidden_dim,
                                intermediate_dim=args.intermediate_dim)
        pre = masked_lm(
            data=data, **architecture, epochs=args.pretrain_epochs, steps_per_epoch=args.pretrain_steps,
            learning_rate=args.pretrain_learning_rate, batch_size=64, seed=args.seed,
            next_sentence=not args.no_next_sentence, pack_sentences=args.pack_sentences,
        )
        print(f"pretraining: {pre.train_data.num_examples} examples ({pre.train_data.num_pairs} sentence pairs)",
              flush=True)
        pre_start = time.perf_counter()
        final_path = args.backbone_dir or os.path.join(tempfile.mkdtemp(), "backbone")
        callbacks = []
        if args.snapshot_every_epoch:  # a long run stopped early still leaves its latest encoder
            callbacks.append(keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: pre.save_backbone(f"{final_path}.epoch_{epoch + 1}")))
        h = pre.fit(verbose=2, callbacks=callbacks).history
        result.update({
            "pretrain_data": args.pretrain_data,
            "continued_from": args.continue_from,
            "pretrain_examples": pre.train_data.num_examples,
            "pretrain_steps": args.pretrain_epochs * args.pretrain_steps,
            "pretrain_seconds": round(time.perf_counter() - pre_start, 1),
            "next_sentence": not args.no_next_sentence,
            "pack_sentences": args.pack_sentences,
            # masked LM only (--no-next-sentence): one head, so Keras logs its loss as `loss`
            "mlm_loss_curve": [round(v, 4) for v in h.get("mlm_loss", h["loss"])],
            "val_mlm_loss_curve": [round(v, 4) for v in h.get("val_mlm_loss", h.get("val_loss", []))],
            "mlm_accuracy_curve": [round(v, 4) for v in h.get("mlm_accuracy", [])],
            "val_mlm_accuracy_curve": [round(v, 4) for v in h.get("val_mlm_accuracy", [])],
            "nsp_accuracy_curve": [round(v, 4) for v in h.get("nsp_accuracy", [])],
        })
        path = pre.save_backbone(final_path)
    encoder, _ = load_backbone_directory(path)
    for key in ("num_layers", "num_heads", "hidden_dim", "intermediate_dim", "vocabulary_size"):
        setattr(args, key, encoder.get_config()[key])  # fine-tune the architecture that was pretrained
    args.sequence_length = encoder.get_config()["max_sequence_length"]
    vocabulary = os.path.join(path, "vocab.txt")

    seeds = range(args.finetune_first_seed, args.finetune_first_seed + args.finetune_seeds)
    pretrained = [finetune_in_child(args, vocabulary, seed, path) for seed in seeds]
    random_init = [finetune_in_child(args, vocabulary, seed) for seed in seeds]
    gains = [100 * (p - r) for p, r in zip(pretrained, random_init)]
    result.update({
        "encoder": {k: getattr(args, k) for k in ("num_layers", "num_heads", "hidden_dim", "intermediate_dim",
                                                  "sequence_length", "vocabulary_size")},
        "finetune_examples": args.finetune_examples,
        "finetune_epochs": args.finetune_epochs,
        "finetune_learning_rate": args.finetune_learning_rate,
        "finetune_pooling": args.finetune_pooling,
        "finetune_seeds": list(seeds),
        "sst2_dev_accuracy_pretrained": [round(a, 4) for a in pretrained],
        "sst2_dev_accuracy_random_init": [round(a, 4) for a in random_init],
        "gain_points_per_seed": [round(g, 2) for g in gains],
        "gain_points": round(sum(gains) / len(gains), 2),
        "gain_standard_error": round(statistics.stdev(gains) / len(gains) ** 0.5, 2) if len(gains) > 1 else None,
        "pretrained_wins": sum(g > 0 for g in gains),
        "backbone_dir": path,
        "wall_seconds": round(time.perf_counter() - start, 1),
    })
    print(json.dumps(result))


if __name__ == "__main__":
    main()
