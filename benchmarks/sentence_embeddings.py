"""Contrastive fine-tuning of all-MiniLM-L6-v2 into a news-search encoder, scored by same-topic search on AG News.

    python benchmarks/sentence_embeddings.py [--data-dir ../shared/data/agnews]
        [--backbone ../shared/models/all-MiniLM-L6-v2] [--train-examples 3200] [--test-examples 7600]
        [--epochs 1] [--batch-size 32] [--learning-rate None] [--max-sequence-length 128] [--seed 0]

The search: every test article queries all the other test articles, and the articles of its own
topic (World, Sports, Business, Sci/Tech) are the relevant ones (`kerastune.evaluation.retrieval_report`,
leave-one-out). Three encoders are scored on it:

- `tfidf`: TF-IDF vectors of the 4,096 commonest training words (scikit-learn, fitted on the training
  articles, sublinear term frequencies), a lexical baseline (test articles with none of those words are
  left out of its search);
- `pretrained`: all-MiniLM-L6-v2 as shipped (mean pooling, unit length: sentence-transformers' way),
  through `SentenceEncoderRun.encode` before training;
- `tuned`: the same after `kerastune.recipes.sentence_encoder` on the first `--train-examples`
  training articles (texts of a topic drawn as pairs each epoch, in-batch negatives).

Checks beside the scores: the exported SavedModel's embeddings against `run.encode`
(`export_max_abs_difference`), and, when Hugging Face `transformers` is installed (`.[peers]`), the
pretrained embeddings of 64 test articles against `transformers`' own BERT run on the same files,
mean-pooled (`max_abs_difference_vs_transformers`, an independent implementation).

Prints progress, then as its last line one JSON object: `precision_at_1_<arm>`, `precision_at_10_<arm>`,
`mrr_<arm>`, `mean_average_precision_<arm>` for each arm, `train_examples`, `test_examples`, `steps`,
`train_seconds`, `seconds_per_step`, `export_max_abs_difference`, `max_abs_difference_vs_transformers`
(null without transformers), `cpu`, `cpu_cores`.
"""

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from peers.side_by_side import cpu_cores, cpu_model  # noqa: E402

TFIDF_FEATURES = 4096  # dense vectors for the search: 7,600 x 4,096 float64 is 250 MB
KEYS = ("precision_at_1", "precision_at_10", "mrr", "mean_average_precision")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.path.join("..", "shared", "data", "agnews"))
    parser.add_argument("--backbone", default=os.path.join("..", "shared", "models", "all-MiniLM-L6-v2"))
    parser.add_argument("--train-examples", type=int, default=3200)
    parser.add_argument("--test-examples", type=int, default=7600)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=None, help="None: the recipe's default")
    parser.add_argument("--max-sequence-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def scores(report, arm):
    return {f"{key}_{arm}": round(report[key], 4) for key in KEYS}


def tfidf_report(train_texts, test):
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    from kerastune.evaluation.retrieval_report import retrieval_report

    vectorizer = TfidfVectorizer(sublinear_tf=True, max_features=TFIDF_FEATURES).fit(train_texts)
    vectors = vectorizer.transform(test.texts).toarray()
    keep = np.linalg.norm(vectors, axis=1) > 0  # an article of unseen words only has no TF-IDF vector
    labels = np.asarray(test.labels)[keep]
    return retrieval_report(vectors[keep], vectors[keep], labels, labels, k=(1, 10), exclude_self=True)


def transformers_difference(backbone, texts, embeddings, max_length):
    """Max |difference| of `embeddings` from transformers' BERT on the same files, mean-pooled and normalised
    (None without transformers, or for a backbone that is not in Hugging Face format)."""
    if not os.path.isfile(os.path.join(backbone, "config.json")):
        return None
    try:
        import torch
        import transformers
    except ImportError:
        return None
    import numpy as np

    tokenizer = transformers.AutoTokenizer.from_pretrained(backbone)
    model = transformers.AutoModel.from_pretrained(backbone).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"][..., None].float()
    pooled = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    return float(np.abs(pooled - embeddings).max())


def main(argv=None):
    args = parse_args(argv)
    import numpy as np
    import tensorflow as tf

    from kerastune.data import read_labelled_text
    from kerastune.recipes import sentence_encoder

    train_path = os.path.join(args.data_dir, "train_subset.tsv")
    test = read_labelled_text(os.path.join(args.data_dir, "test.tsv")).head(args.test_examples)
    train = read_labelled_text(train_path).head(args.train_examples)
    results = {"train_examples": len(train), "test_examples": len(test)}

    lexical = scores(tfidf_report(train.texts, test), "tfidf")
    print(f"tfidf: {lexical}", flush=True)
    results.update(lexical)

    run = sentence_encoder(args.backbone, train_path, max_train_examples=args.train_examples, epochs=args.epochs,
                           batch_size=args.batch_size, learning_rate=args.learning_rate,
                           max_sequence_length=args.max_sequence_length, seed=args.seed)
    start = time.time()
    pretrained = run.evaluate(test)
    print(f"pretrained: {scores(pretrained, 'pretrained')} ({time.time() - start:.0f} s to embed and search)",
          flush=True)
    results.update(scores(pretrained, "pretrained"))
    sample = test.texts[:64]
    results["max_abs_difference_vs_transformers"] = transformers_difference(
        args.backbone, sample, run.encode(sample), args.max_sequence_length)

    start = time.time()
    run.fit(verbose=2)
    results["train_seconds"] = round(time.time() - start, 1)
    results["steps"] = run.train_data.steps_per_epoch * args.epochs
    results["seconds_per_step"] = round(results["train_seconds"] / results["steps"], 3)
    tuned = run.evaluate(test)
    print(f"tuned: {scores(tuned, 'tuned')}", flush=True)
    results.update(scores(tuned, "tuned"))

    with tempfile.TemporaryDirectory() as directory:
        path = run.export(export_dir=directory, report=tuned)
        served = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(sample))["embeddings"]
        results["export_max_abs_difference"] = float(np.abs(served.numpy() - run.encode(sample)).max())
    results.update(cpu=cpu_model(), cpu_cores=cpu_cores())
    print(json.dumps(results))


if __name__ == "__main__":
    main()
