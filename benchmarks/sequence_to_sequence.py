"""Spelling correction with the encoder-decoder Transformer: SST-2 text with seeded typos in, the clean text out.

    python benchmarks/sequence_to_sequence.py [--train-examples 40000] [--epochs 4] [--typo-rate 0.15]
        [--tokenizer sentencepiece --vocabulary-size 4000]

No translation or summarisation pairs are on disk, so the benchmark makes a real sequence-to-sequence
task from real text: each SST-2 training phrase of at least `--min-words` words and at most
`--max-characters` characters (deduplicated, seeded order) becomes a pair (the phrase with character
typos, the phrase), the typos drawn by `kerastune.evaluation.character_typos` (each word of 3+ letters
gets one deletion, insertion, substitution or swap with probability `--typo-rate`). The validation
pairs are the SST-2 dev sentences that fit `--max-characters`, with typos drawn by another seed:
sentences the model never saw, typos it never saw. `kerastune.recipes.sequence_to_sequence` trains a
character-level `Seq2SeqTransformer` from scratch (the recipe's defaults unless set here) and writes a
correction of every validation sentence through the export's own graph.

Scores (`kerastune.evaluation.text_to_text_report`): exact match, character and word error rates and
BLEU of the corrections; the same for copying the noisy input unchanged (`copy_*`, the bar to beat);
and `clean_exact_match`, the share of the clean dev sentences the model leaves exactly as they are
(a corrector must not damage correct text). The export's corrections of `--export-checked` sentences
are compared with `run.generate`'s.

Progress on stdout; the last line is one JSON object with those keys, `train_seconds`, `steps`,
`num_train_pairs`, `num_validation_pairs`, `cpu` and the settings.
"""

import argparse
import csv
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peers.side_by_side import cpu_model  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "sst2")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=SHARED)
    parser.add_argument("--train-examples", type=int, default=40000)
    parser.add_argument("--validation-examples", type=int, default=None, help="None: every dev sentence that fits")
    parser.add_argument("--min-words", type=int, default=4)
    parser.add_argument("--max-characters", type=int, default=128)
    parser.add_argument("--typo-rate", type=float, default=0.15)
    parser.add_argument("--tokenizer", default="character", choices=("character", "sentencepiece"))
    parser.add_argument("--vocabulary-size", type=int, default=4000, help="SentencePiece's pieces")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=3)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--export-checked", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def read_texts(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return [row["sentence"] for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]


def clean_texts(texts, args, seed=None):
    """Unique texts of at least `min_words` words and at most `max_characters` characters (seeded order)."""
    import numpy as np

    kept = [t for t in dict.fromkeys(texts) if len(t.split()) >= args.min_words and len(t) <= args.max_characters]
    if seed is not None:
        kept = [kept[i] for i in np.random.default_rng(seed).permutation(len(kept))]
    return kept


def write_pairs(path, sources, targets):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("source\ttarget\n")
        for source, target in zip(sources, targets):
            handle.write(f"{source}\t{target}\n")


def main(argv=None):
    args = parse_args(argv)
    import tensorflow as tf

    from kerastune.evaluation.character_typos import character_typos
    from kerastune.evaluation.text_to_text_report import text_to_text_report
    from kerastune.recipes.sequence_to_sequence import sequence_to_sequence

    train = clean_texts(read_texts(os.path.join(args.data_dir, "train.tsv")), args, seed=args.seed)
    train = train[: args.train_examples]
    validation = clean_texts(read_texts(os.path.join(args.data_dir, "dev.tsv")), args)[: args.validation_examples]
    noisy_train = character_typos(train, rate=args.typo_rate, seed=args.seed)
    noisy_validation = character_typos(validation, rate=args.typo_rate, seed=args.seed + 1)
    print(f"{len(train)} training pairs ({sum(n != c for n, c in zip(noisy_train, train))} with typos), "
          f"{len(validation)} validation sentences ({sum(n != c for n, c in zip(noisy_validation, validation))} "
          "with typos)", flush=True)
    with tempfile.TemporaryDirectory() as workdir:
        write_pairs(os.path.join(workdir, "train.tsv"), noisy_train, train)
        write_pairs(os.path.join(workdir, "validation.tsv"), noisy_validation, validation)
        run = sequence_to_sequence(
            train=os.path.join(workdir, "train.tsv"), validation=os.path.join(workdir, "validation.tsv"),
            max_source_length=args.max_characters + args.max_characters // 4,  # typos insert characters
            max_target_length=args.max_characters, tokenizer=args.tokenizer, vocabulary_size=args.vocabulary_size,
            epochs=args.epochs, batch_size=args.batch_size,
            num_layers=args.num_layers, hidden_dim=args.hidden_dim, learning_rate=args.learning_rate, seed=args.seed,
            export_dir=os.path.join(workdir, "export"),
        )
        steps = args.epochs * run.steps_per_epoch
        print(f"training {run.model.count_params():,} parameters for {steps} steps", flush=True)
        start = time.perf_counter()
        run.fit(verbose=2)
        train_seconds = time.perf_counter() - start
        corrected = run.generate(noisy_validation)
        report = text_to_text_report(corrected, validation)
        copy = text_to_text_report(noisy_validation, validation)
        untouched = run.generate(validation)
        print(json.dumps({"report": report, "copy": copy}), flush=True)  # kept should the export fail
        served = tf.saved_model.load(run.export(report=report)).signatures["serving_default"]
        checked = noisy_validation[: args.export_checked]
        exported = [t.decode("utf-8") for t in served(sources=tf.constant(checked))["targets"].numpy()]
    for source, written, target in list(zip(noisy_validation, corrected, validation))[:5]:
        print(f"  in:  {source}\n  out: {written}\n  ref: {target}")
    results = {
        **{key: round(value, 4) for key, value in report.items() if key != "num_examples"},
        **{f"copy_{key}": round(value, 4) for key, value in copy.items() if key != "num_examples"},
        "clean_exact_match": round(sum(u == c for u, c in zip(untouched, validation)) / len(validation), 4),
        "export_equals_generate": exported == corrected[: args.export_checked],
        "train_seconds": round(train_seconds, 1),
        "steps": steps,
        "num_train_pairs": len(train),
        "num_validation_pairs": len(validation),
        "parameters": run.model.count_params(),
        "cpu": cpu_model(),
        "settings": {k: v for k, v in vars(args).items() if k != "data_dir"},
    }
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
