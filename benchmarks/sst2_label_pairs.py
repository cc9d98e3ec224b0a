"""What the two preset benchmarks (`preset_instruction_tuning.py`, `preset_seq2seq.py`) share: SST-2 as pairs of a
phrase and its label word, and pretrained presets built once and reused from `--presets-dir`."""

import json
import os
import random
import time

LABEL_WORDS = ["negative", "positive"]


def sst2_pairs(args):
    """`(train, dev, sample, result)`: SST-2's labelled texts, a seeded sample of `args.train_examples` training
    indices, and the JSON keys every such benchmark reports (`dev_examples`, `train_examples`,
    `majority_baseline`)."""
    from kerastune.data import read_labelled_text

    train = read_labelled_text(os.path.join(args.data_dir, "train.tsv"))
    dev = read_labelled_text(os.path.join(args.data_dir, "dev.tsv"), label_names=train.label_names,
                             label_values=train.label_values).head(args.max_dev_examples)
    if train.label_names != LABEL_WORDS and list(map(str, train.label_names)) != ["0", "1"]:
        raise ValueError(f"expected SST-2's labels 0/1, found {train.label_names}")
    sample = random.Random(args.seed).sample(range(len(train.texts)), min(args.train_examples, len(train.texts)))
    majority = max(set(train.labels), key=train.labels.count)
    result = {"dev_examples": len(dev), "train_examples": len(sample),
              "majority_baseline": round(dev.labels.count(majority) / len(dev), 4)}
    print(f"{len(sample)} training pairs, {len(dev)} dev sentences; majority baseline {result['majority_baseline']}",
          flush=True)
    return train, dev, sample, result


def write_label_pairs(path, sentences, labels, columns=("prompt", "response")):
    """A JSONL file of `{columns[0]: sentence, columns[1]: label word}` rows; returns `path`."""
    with open(path, "w", encoding="utf-8") as f:
        for sentence, label in zip(sentences, labels):
            f.write(json.dumps({columns[0]: sentence, columns[1]: LABEL_WORDS[label]}) + "\n")
    return path


def write_train_and_dev(work, train, dev, sample, columns=("prompt", "response")):
    """`(train.jsonl, dev.jsonl)` under `work`: the sampled training phrases and every dev sentence as pairs."""
    data = write_label_pairs(os.path.join(work, "train.jsonl"), [train.texts[i] for i in sample],
                             [train.labels[i] for i in sample], columns)
    return data, write_label_pairs(os.path.join(work, "dev.jsonl"), dev.texts, dev.labels, columns)


def load_or_build_presets(args, keys, build, work, result):
    """`build(directory)` (-> paths, seconds, loss, parameters) into `--presets-dir` when it is given and empty (else
    a temporary `work`), or the presets a run of the same settings (`keys` of `args`) left there. Adds
    `pretrain_seconds` (None when reused), `pretrain_loss` and `parameters` to `result`; returns the paths."""
    paths, seconds, loss, parameters = _presets(args, keys, build, work)
    result.update(pretrain_seconds=seconds, pretrain_loss=loss, parameters=parameters)
    return paths


def _presets(args, keys, build, work):
    directory = args.presets_dir or work
    manifest = os.path.join(directory, "presets.json")
    settings = {key: getattr(args, key) for key in keys}
    if args.presets_dir and os.path.exists(manifest):
        with open(manifest, encoding="utf-8") as f:
            saved = json.load(f)
        if saved["settings"] != settings:
            raise ValueError(f"{directory} holds presets built with {saved['settings']}, not {settings}: "
                             "pass another --presets-dir")
        print(f"reusing the presets in {directory} (pretraining not timed in this run)", flush=True)
        return saved["paths"], None, saved["pretrain_loss"], saved["parameters"]
    os.makedirs(directory, exist_ok=True)
    paths, seconds, loss, parameters = build(directory)
    with open(manifest, "w", encoding="utf-8") as f:
        json.dump({"settings": settings, "paths": paths, "pretrain_loss": round(loss, 4), "parameters": parameters},
                  f)
    return paths, round(seconds, 1), round(loss, 4), parameters


def score_arm(run, arm, result, batch_size=None):
    """Fits one arm's recipe run (one epoch, no validation), scores it (`run.evaluate`) and adds its figures to
    `result`: `dev_accuracy_<arm>` (the written label's exact match), `dev_loss_<arm>`, `train_seconds_<arm>`,
    `ms_per_step_<arm>`, `trainable_parameters_<arm>`."""
    trainable = run.trainable_summary()["trainable"]
    start = time.perf_counter()
    run.fit(validate=False, verbose=0)
    train_seconds = time.perf_counter() - start
    report = run.evaluate(batch_size=batch_size)
    steps = run.train_data.steps_per_epoch
    print(f"{arm}: {steps} steps in {train_seconds:.0f} s, {trainable:,} trainable; dev accuracy of the written "
          f"label {report['exact_match']:.4f}, dev loss of the reference tokens {report['loss']:.4f}", flush=True)
    result.update({f"dev_accuracy_{arm}": round(report["exact_match"], 4),
                   f"dev_loss_{arm}": round(report["loss"], 4),
                   f"train_seconds_{arm}": round(train_seconds, 1),
                   f"ms_per_step_{arm}": round(1000 * train_seconds / steps, 1),
                   f"trainable_parameters_{arm}": trainable})


def pretraining_progress(epochs):
    """A Keras callback printing `pretraining: epoch E/epochs, loss L, S s` at each epoch's end."""
    import keras

    start = time.perf_counter()
    return keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: print(
        f"pretraining: epoch {e + 1}/{epochs}, loss {logs['loss']:.3f}, {time.perf_counter() - start:.0f} s",
        flush=True))
