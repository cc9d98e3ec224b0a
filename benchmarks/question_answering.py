"""Extractive question answering on CoNLL-2003 read as reading comprehension, scored with SQuAD 2.0's metrics.

    python benchmarks/question_answering.py [--data-dir ../shared/data/conll2003]
        [--backbone ../shared/models/all-MiniLM-L6-v2] [--train-examples 16000] [--validation-examples 13000]
        [--epochs 1] [--batch-size 32] [--learning-rate None] [--ema-momentum None] [--seed 0]

No SQuAD copy is on disk here, so the questions come from a real public data set another way: named-entity
recognition as machine reading comprehension (Li et al. 2020, "A Unified MRC Framework for Named Entity
Recognition"). Each CoNLL-2003 sentence is a context, asked four questions ("Which person is named in the
text?", and the same for locations, organizations and other names: `kerastune.data.entity_questions`); the
gold answers are every entity of that type in the sentence, and a sentence without one makes the question
unanswerable, as in SQuAD 2.0. The questions are written to SQuAD 2.0 JSON files and read back by the
recipe's own reader, then `kerastune.recipes.question_answering` fine-tunes all-MiniLM-L6-v2 on the first
`--train-examples` training questions and answers every validation question through the export's graph.

Arms: `no_answer` (always answering "": what the unanswerable share alone scores) and `tuned`. Scores are
SQuAD 2.0's exact match and F1 in percent (`squad_report`), overall, on answerable and on unanswerable
questions, and at the no-answer threshold that would have scored best (`best_f1`). The exported
SavedModel's answers on 256 validation questions are checked against `run.answer` (`export_answers_equal`).

Prints progress, then as its last line one JSON object: `exact_match`, `f1`, `has_answer_exact_match`,
`has_answer_f1`, `no_answer_f1`, `best_f1`, `best_f1_threshold`, `no_answer_baseline_exact_match`,
`no_answer_baseline_f1`, `train_examples`, `validation_examples`, `windows`, `steps`, `train_seconds`,
`seconds_per_step`, `answer_seconds`, `f1_by_type` (F1 of the questions about each entity type: PER, LOC, ORG,
MISC), `export_answers_equal`, `export_max_score_difference`, `cpu`, `cpu_cores`.
"""

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from peers.side_by_side import cpu_cores, cpu_model  # noqa: E402

EXPORT_CHECKED = 256


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.path.join("..", "shared", "data", "conll2003"))
    parser.add_argument("--backbone", default=os.path.join("..", "shared", "models", "all-MiniLM-L6-v2"))
    parser.add_argument("--train-examples", type=int, default=16000)
    parser.add_argument("--validation-examples", type=int, default=13000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=None, help="None: the recipe's default")
    parser.add_argument("--ema-momentum", type=float, default=None, help="None: the recipe's weight average")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def export_check(run, examples, workdir):
    """`(answers equal, largest score difference)` between the exported SavedModel and `run.answer`."""
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the tokenizer's ops, for loading the SavedModel)

    path = run.export(export_dir=os.path.join(workdir, "export"))
    serve = tf.saved_model.load(path).signatures["serving_default"]
    questions, contexts = examples.questions[:EXPORT_CHECKED], examples.contexts[:EXPORT_CHECKED]
    served = serve(question=tf.constant(questions), context=tf.constant(contexts))
    found = run.answer(questions, contexts)
    equal = [text.decode("utf-8") for text in served["answer"].numpy()] == list(found["answer"])
    return bool(equal), float(np.max(np.abs(served["score"].numpy() - found["score"])))


def main(argv=None):
    args = parse_args(argv)
    from kerastune.data.conll import read_conll
    from kerastune.data.entity_questions import entity_questions
    from kerastune.data.question_answers import write_squad_json
    from kerastune.evaluation.squad_metrics import squad_report
    from kerastune.recipes.question_answering import answers_report, question_answering

    train = entity_questions(read_conll(os.path.join(args.data_dir, "train.txt"))).take(args.train_examples)
    validation = entity_questions(read_conll(os.path.join(args.data_dir, "valid.txt"))).take(args.validation_examples)
    print(f"{len(train)} training questions ({sum(train.has_answer)} answerable), {len(validation)} validation "
          f"questions ({sum(validation.has_answer)} answerable)", flush=True)
    baseline = squad_report([""] * len(validation), validation.answers)
    with tempfile.TemporaryDirectory() as workdir:
        train_file, validation_file = (os.path.join(workdir, name) for name in ("train.json", "valid.json"))
        write_squad_json(train, train_file)
        write_squad_json(validation, validation_file)
        run = question_answering(args.backbone, train_file, validation_file, epochs=args.epochs,
                                 batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed,
                                 **({} if args.ema_momentum is None else {"ema_momentum": args.ema_momentum}),
                                 export_dir=os.path.join(workdir, "export"))
        steps = run.train_data.steps_per_epoch * args.epochs
        print(f"{run.train_data.num_windows} training windows, {steps} steps", flush=True)
        start = time.perf_counter()
        run.fit(validate=False)
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        found = run.answer(validation.questions, validation.contexts)  # what run.evaluate() scores
        answer_seconds = time.perf_counter() - start
        report = answers_report(found, validation)
        print(json.dumps(report), flush=True)
        by_type = {}
        for kind in ("PER", "LOC", "ORG", "MISC"):  # ids are "<sentence>-<type>"
            asked = [i for i, qid in enumerate(validation.ids) if qid.endswith(f"-{kind}")]
            if asked:
                part = {key: values[asked] for key, values in found.items()}
                by_type[kind] = round(answers_report(part, validation.subset(asked))["f1"], 2)
        print(f"F1 by entity type: {by_type}", flush=True)
        equal, difference = export_check(run, validation, workdir)
    results = {key: round(report[key], 2) for key in ("exact_match", "f1", "has_answer_exact_match",
                                                       "has_answer_f1", "no_answer_f1", "best_f1")}
    results.update(
        best_f1_threshold=round(report["best_f1_threshold"], 3),
        no_answer_baseline_exact_match=round(baseline["exact_match"], 2),
        no_answer_baseline_f1=round(baseline["f1"], 2),
        train_examples=len(train), validation_examples=len(validation), windows=run.train_data.num_windows,
        steps=steps, train_seconds=round(train_seconds, 1), seconds_per_step=round(train_seconds / steps, 3),
        answer_seconds=round(answer_seconds, 1), f1_by_type=by_type, export_answers_equal=equal,
        export_max_score_difference=difference, cpu=cpu_model(), cpu_cores=cpu_cores(),
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
