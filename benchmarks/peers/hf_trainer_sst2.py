"""Peer (not kerastune): fine-tune a Hugging Face encoder on a TSV data set with the Hugging Face Trainer.

The usual Trainer recipe, timed: `AutoModelForSequenceClassification` from a local directory (a new
classification head), `AutoTokenizer`, dynamic padding (`DataCollatorWithPadding`), AdamW with linear
decay, float32 on the CPU, one process. Reads the same TSV files as kerastune's
`benchmarks/text_classifier.py` (header `sentence<TAB>label`, train.tsv and dev.tsv).

    pip install -e '.[peers]'
    python benchmarks/peers/hf_trainer_sst2.py --data ../shared/data/sst2 \
        --backbone ../shared/models/all-MiniLM-L6-v2 --epochs 1 [--max-steps 100]

Throughput (`train_examples_per_second`) is examples trained over the whole `trainer.train()` wall
time, as kerastune's benchmark counts it. The last line printed is one JSON object.
"""

import argparse
import csv
import json
import os
import sys
import time

import numpy as np

from side_by_side import cpu_model


def read_tsv(path, text_column="sentence", label_column="label"):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or text_column not in rows[0] or label_column not in rows[0]:
        sys.exit(f"{path}: expected a header with {text_column!r} and {label_column!r} columns")
    return [r[text_column] for r in rows], [int(r[label_column]) for r in rows]



def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="directory with train.tsv and dev.tsv")
    parser.add_argument("--backbone", required=True, help="Hugging Face model directory")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=-1, help="> 0: stop after this many steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5, help="the Trainer's default")
    parser.add_argument("--max-length", type=int, default=128, help="truncation length (SST-2 never reaches it)")
    parser.add_argument("--max-train-examples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import torch
        import transformers
        from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                                  Trainer, TrainingArguments)
    except ImportError:
        sys.exit("the Hugging Face Trainer peer needs torch and transformers: pip install -e '.[peers]'")

    train_texts, train_labels = read_tsv(os.path.join(args.data, "train.tsv"))
    dev_texts, dev_labels = read_tsv(os.path.join(args.data, "dev.tsv"))
    if args.max_train_examples:
        train_texts, train_labels = train_texts[: args.max_train_examples], train_labels[: args.max_train_examples]
    tokenizer = AutoTokenizer.from_pretrained(args.backbone)
    num_labels = len(set(train_labels))
    model = AutoModelForSequenceClassification.from_pretrained(args.backbone, num_labels=num_labels)

    class Encoded(torch.utils.data.Dataset):
        def __init__(self, texts, labels):
            self.features = tokenizer(texts, truncation=True, max_length=args.max_length)
            self.labels = labels

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            item = {k: v[i] for k, v in self.features.items()}
            item["labels"] = self.labels[i]
            return item

    train_set, dev_set = Encoded(train_texts, train_labels), Encoded(dev_texts, dev_labels)

    class Progress(transformers.TrainerCallback):
        def on_log(self, training_args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                print(f"step {state.global_step}/{state.max_steps}: loss {logs['loss']:.4f}", flush=True)

    training_args = TrainingArguments(
        output_dir=os.path.join("runs", "hf_trainer_peer"),
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=128,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        logging_steps=100,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=args.seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=training_args, train_dataset=train_set,
                      data_collator=DataCollatorWithPadding(tokenizer), callbacks=[Progress()])
    start = time.perf_counter()
    output = trainer.train()
    fit_seconds = time.perf_counter() - start
    examples = output.global_step * args.batch_size
    predictions = trainer.predict(dev_set).predictions
    accuracy = float((np.argmax(predictions, -1) == np.asarray(dev_labels)).mean())
    print(json.dumps({
        "peer": "huggingface_trainer",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "steps": output.global_step,
        "examples_trained": examples,
        "train_examples_per_second": round(examples / fit_seconds, 1),
        "fit_seconds": round(fit_seconds, 1),
        "dev_examples": len(dev_labels),
        "dev_accuracy": round(accuracy, 4),
        "cpu": cpu_model(),
    }))


if __name__ == "__main__":
    main()
