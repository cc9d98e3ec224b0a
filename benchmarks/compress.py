"""Benchmark (not a test): a fine-tuned classifier export against its compressed variants, on SST-2 dev.

    python benchmarks/compress.py --teacher /tmp/deploy/sst2/sst2/1 --data ../shared/data/sst2 \
        --out /tmp/deploy/compress [--prune-train-examples 3200] [--sparsities 0.5 0.8]

Variants, each written as a string-in export under `--out` (and the LiteRT file beside them):
- `teacher`: the fine-tuned model, re-exported with the current serving graph;
- `int8`: `quantized_copy(teacher, "int8")` (Keras `Model.quantize`);
- `pruned_50`, `pruned_80`: the teacher fine-tuned further for `--prune-train-examples` examples
  with `MagnitudePruning` to that sparsity (the recipe's own `fit`, weight averaging off; peak
  learning rate `--prune-learning-rate`, 1e-4, decaying linearly to 0; the target reached after
  `--prune-end-fraction`, 0.7, of the steps);
- `student_conv_256x3-5` (`--student conv`, the default): a `ConvEncoder` classifier (the teacher's
  word-piece table, or with `--conv-table contextual` each word piece's mean hidden state in the teacher
  (the last layer's, or `--contextual-layer`'s) over the training texts; kept frozen unless
  `--conv-train-embeddings`; 1-D convolutions of widths 3 and 5, `--conv-layers` - 1 residual width-3
  layers on top, max-over-time) distilled from the teacher
  (`kerastune.training.knowledge_distillation`: T^2 KL of the soft targets at T = `--temperature`
  and the hard labels, weighted 1 - `--label-weight` and `--label-weight` (half each by default);
  `--similarity-weight` adds the teacher's cosine similarities between a batch's texts) on
  `--distil-train-examples` training texts (default: all) for `--distil-epochs`, plus
  `--distil-augment-copies` augmented copies of each with `--distil-augment` (e.g. `delete,swap`, or Tang
  et al.'s `synonym,delete,ngram` with `--distil-synonyms teacher`: each word's `--neighbours` nearest
  words in the teacher's word-piece table; a larger transfer set for the teacher to label); `student_2`
  (`--student layers`): the teacher with 2 of its layers. The teacher labels the transfer set once
  (`kerastune.training.teacher_labels`; kept in `--transfer-set FILE` for later runs), and one student is
  distilled from it per `--student-seeds` seed (their mean, min and max dev accuracy are reported);
- `litert`: the teacher's `token_ids` signature as a `.tflite` (float32), run by `LiteRTTextClassifier`
  (the export's `tokenize` signature, then the LiteRT interpreter); its probabilities are compared with
  the teacher Keras model's (`max_abs_probability_diff_vs_keras`); `litert_int8`: the same with
  `quantization="dynamic_int8"` (int8 weights, activations quantized per call).

For each: `dev_accuracy` (the export serving the dev TSV), `saved_bytes` (the SavedModel or .tflite
files), `single_p50_ms` and `batch64_sentences_per_s`, timed with benchmarks/serving.py's functions,
all variants in turns in this one process. The last line printed is one JSON object.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from serving import batch_throughput, read_texts, single_latencies  # noqa: E402


VARIANTS = ("teacher", "int8", "pruned", "litert", "litert_int8", "student")
LITERT_QUANTIZATION = {"litert": None, "litert_int8": "dynamic_int8"}  # the LiteRT variants' `convert_to_litert`


def read_labels(path):
    with open(path, encoding="utf-8") as f:
        return np.array([int(row.split("\t")[1]) for row in f.read().splitlines()[1:] if row])


def saved_bytes(path):
    """Bytes of what a server loads: the whole SavedModel directory, or one file."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def served_probabilities(fn, texts, batch_size=64):
    return np.concatenate([np.asarray(fn(text=tf.constant(texts[i:i + batch_size]))["probabilities"])
                           for i in range(0, len(texts), batch_size)])


def litert_agreement(loaded_teacher, teacher, litert, texts, served, litert_endpoint):
    """Largest |LiteRT - Keras| probability over the texts (one at a time, the same token ids), and vs the served
    export."""
    from kerastune.models.bert_encoder import INPUT_NAMES

    tokenize = loaded_teacher.signatures["tokenize"]
    worst = 0.0
    for text in texts:
        answer = tokenize(text=tf.constant([text]))
        features = {k: answer[k].numpy() for k in INPUT_NAMES}
        want = tf.nn.softmax(teacher(features, training=False)).numpy()
        worst = max(worst, float(np.abs(litert(features) - want).max()))
    return {"max_abs_probability_diff_vs_keras": worst,
            "max_abs_probability_diff_vs_served_export": float(
                np.abs(served_probabilities(litert_endpoint, texts) - served).max())}


def teacher_recipe_run(config, **overrides):
    """The text-classifier recipe run of the teacher's config (its export's config.json) with `overrides`."""
    from kerastune.recipes.text_classifier import TextClassifierConfig, text_classifier

    fields = {k: v for k, v in config.items() if k in TextClassifierConfig.__dataclass_fields__}
    return text_classifier(TextClassifierConfig(**{**fields, **overrides}))


def pruned_export(teacher, config, sparsity, train_examples, out, learning_rate=1e-4, end_fraction=0.7):
    """The teacher fine-tuned `train_examples` more examples with magnitude pruning to `sparsity`, at peak
    `learning_rate`, the target reached after `end_fraction` of the steps; its export path."""
    from kerastune.compression import MagnitudePruning

    run = teacher_recipe_run(config, max_train_examples=train_examples, epochs=1, ema_momentum=0.0, export_dir=out,
                             name=f"pruned_{round(100 * sparsity)}", learning_rate=learning_rate, warmup_ratio=0.0)
    run.model.set_weights(teacher.get_weights())
    steps = run.train_data.steps_per_epoch
    pruning = MagnitudePruning(sparsity, end_step=max(1, int(end_fraction * steps)), frequency=max(1, steps // 20))
    print(f"pruning to {sparsity:.0%} over {steps} steps", flush=True)
    run.fit(validate=False, callbacks=[pruning], verbose=2)
    print(f"sparsity of the pruned kernels: {pruning.sparsity():.4f}", flush=True)
    return run.export(report=run.evaluate()), pruning.sparsity()


def neighbour_synonyms(teacher, tokenizer, out, k):
    """Writes each whole word's `k` nearest words in the teacher's word-piece table as a synonyms file under `out`
    (the recipe's `synonyms`, for the `synonym` augmentation); returns its path."""
    from kerastune.data.text_augmentation import embedding_neighbours, write_synonyms

    table = teacher.backbone.token_embedding.embeddings
    neighbours = embedding_neighbours(tokenizer.get_vocabulary(), np.asarray(table), k=k)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"teacher_neighbours_{k}.txt")
    write_synonyms(path, neighbours)
    print(f"{len(neighbours):,} words with their {k} nearest in the teacher's table: {path}", flush=True)
    return path


def transfer_batches(teacher, run, args, settings):
    """The distillation's batches (`run`'s training texts and their augmented copies) with the teacher's logits
    (`kerastune.training.teacher_labels`): read from `--transfer-set` when that file exists and was made with the
    same `settings`, otherwise labelled now (and written there, whole or not at all, when given)."""
    from kerastune.training.teacher_labels import load_teacher_labels, save_teacher_labels, teacher_labelled_batches

    path = args.transfer_set
    if path and os.path.exists(path):
        batches, kept_settings = load_teacher_labels(path)
        if kept_settings != settings:
            raise ValueError(f"--transfer-set {path} was labelled with other settings: {kept_settings}; this run "
                             f"asks for {settings}. Pass another file, or the flags that made it.")
        print(f"{len(batches):,} teacher-labelled batches read from {path}", flush=True)
        return batches
    steps = run.train_data.steps_per_epoch
    print(f"the teacher labels {steps:,} batches of {run.train_data.num_examples:,} texts once", flush=True)
    batches = teacher_labelled_batches(teacher, run.train_data.dataset, steps)
    if path:
        save_teacher_labels(path, batches, settings)
        print(f"teacher-labelled batches written to {path}", flush=True)
    return batches


def distilled_export(teacher, student, name, run, batches, steps, learning_rate, config, args):
    """`student` distilled from `teacher` on `batches` (`steps` a pass; with the teacher's logits, or the
    teacher run on each when `--similarity-weight` needs its features) for `--distil-epochs`, at `--temperature`,
    the labels' loss weighted `--label-weight` and the teacher's `1 - label_weight`, matching the teacher's
    similarities between a batch's texts at `--similarity-weight`, ending on the weights' moving average at
    `--student-ema-momentum` (0: the last weights); its export path."""
    import keras

    from kerastune.export.text_classifier_export import export_text_classifier
    from kerastune.training import ProgressLines, warmup_cosine_decay
    from kerastune.training.knowledge_distillation import enable_distillation

    epochs, ema_momentum = args.distil_epochs, args.student_ema_momentum
    schedule = warmup_cosine_decay(learning_rate, epochs * steps + max(1, epochs * steps // 20),
                                   warmup_steps=max(1, epochs * steps // 20))
    enable_distillation(student, teacher, temperature=args.temperature, student_loss_weight=args.label_weight,
                        similarity_weight=args.similarity_weight)
    student.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.01, use_ema=ema_momentum > 0,
                                                     ema_momentum=ema_momentum or 0.99))
    print(f"distilling into {name} ({student.count_params():,} weights) over {epochs} x {steps} steps of "
          f"{run.train_data.num_examples:,} texts (T={args.temperature}, label weight {args.label_weight}, "
          f"similarity weight {args.similarity_weight}, peak lr {learning_rate})", flush=True)
    student.fit(batches, steps_per_epoch=steps, epochs=epochs, verbose=2, callbacks=[ProgressLines()])
    return export_text_classifier(student, run.tokenizer, run.label_names, export_dir=args.out, name=name,
                                  config={**config, "student": name}, truncate=run.config.truncate)


def contextual_table(teacher, config, args):
    """Each word piece's mean hidden state in the teacher (the last layer's, or `--contextual-layer`'s) over the
    distillation's training texts."""
    from kerastune.compression.contextual_table import contextual_token_table

    run = teacher_recipe_run(config, max_train_examples=args.distil_train_examples, epochs=1, name="contextual_table")
    steps = run.train_data.steps_per_epoch
    print(f"averaging the teacher's hidden states per word piece over {steps} batches", flush=True)
    table, counts = contextual_token_table(teacher.backbone, run.train_data.dataset.take(steps), args.contextual_ridge,
                                           args.contextual_layer)
    print(f"{int((counts > 0).sum()):,} of {len(counts):,} word pieces seen", flush=True)
    return table


def augmentation(args, teacher, tokenizer):
    """The recipe settings of `--distil-augment` and its companions (None without it)."""
    if not args.distil_augment:
        return None
    settings = {"augment": args.distil_augment, "augment_copies": args.distil_augment_copies,
                "augment_probability": args.distil_augment_probability}
    if args.distil_synonyms == "teacher":
        settings["synonyms"] = neighbour_synonyms(teacher, tokenizer, args.out, args.neighbours)
    elif args.distil_synonyms:
        settings["synonyms"] = args.distil_synonyms
    return settings


def student_maker(teacher, config, args):
    """`(name, make_student, peak learning rate)` of the `--student` variant; `make_student()` draws a new one."""
    from kerastune.compression.distillation import conv_student_from_teacher, student_from_teacher

    if args.student == "layers":
        return (f"student_{args.student_layers}", lambda: student_from_teacher(teacher, args.student_layers),
                args.distil_learning_rate or 1e-4)
    name = f"student_conv_{args.conv_filters}x{'-'.join(map(str, args.conv_kernel_sizes))}"
    name += f"_{args.conv_layers}layers" if args.conv_layers > 1 else ""
    name += "_trained_table" if args.conv_train_embeddings else ""
    table = None
    if args.conv_table == "contextual":
        name += "_contextual" + ("" if args.contextual_layer is None else f"_layer{args.contextual_layer}")
        table = contextual_table(teacher, config, args)

    def make_student():
        return conv_student_from_teacher(teacher, args.conv_filters, args.conv_kernel_sizes, args.conv_dropout,
                                         freeze_embeddings=not args.conv_train_embeddings, table=table,
                                         num_layers=args.conv_layers)

    return name, make_student, args.distil_learning_rate or 2e-3


def student_exports(teacher, tokenizer, config, args):
    """The `--student` variants, one per `--student-seeds` (each seeds its student's first weights), all learning
    from one transfer set the teacher labels once: `{name: export path}`."""
    import keras

    from kerastune.training.teacher_labels import labelled_dataset

    seed = config.get("seed", 0)
    name, make_student, learning_rate = student_maker(teacher, config, args)
    settings = augmentation(args, teacher, tokenizer)
    run = teacher_recipe_run(config, max_train_examples=args.distil_train_examples, epochs=args.distil_epochs,
                             name=name, **(settings or {}))
    steps = run.train_data.steps_per_epoch
    if args.similarity_weight:  # the features are the teacher's on each batch: it runs in the loop
        batches = run.train_data.dataset
    else:
        made_with = {"teacher": os.path.abspath(args.teacher), "train_examples": args.distil_train_examples,
                     "seed": seed, "augment": args.distil_augment and {
                         **settings, "synonyms": args.distil_synonyms, "neighbours": args.neighbours}}
        batches = labelled_dataset(transfer_batches(teacher, run, args, made_with), seed)
    seeds = args.student_seeds or [seed]
    paths = {}
    for student_seed in seeds:
        keras.utils.set_random_seed(student_seed)
        student_name = name if len(seeds) == 1 else f"{name}_seed{student_seed}"
        paths[student_name] = distilled_export(teacher, make_student(), student_name, run, batches, steps,
                                               learning_rate, config, args)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", required=True, help="the fine-tuned text classifier export")
    parser.add_argument("--data", required=True, help="directory with train.tsv and dev.tsv")
    parser.add_argument("--out", required=True, help="where the variants are exported")
    parser.add_argument("--prune-train-examples", type=int, default=3200)
    parser.add_argument("--sparsities", type=float, nargs="*", default=[0.5, 0.8])
    parser.add_argument("--prune-learning-rate", type=float, default=1e-4,
                        help="peak learning rate of the pruning fine-tune (linear decay, no warmup)")
    parser.add_argument("--prune-end-fraction", type=float, default=0.7,
                        help="the fraction of the pruning fine-tune's steps by which the target sparsity is reached")
    parser.add_argument("--student", choices=("layers", "conv"), default="conv",
                        help="layers: the teacher with --student-layers of its layers; conv: a ConvEncoder "
                             "classifier over the teacher's word-piece table")
    parser.add_argument("--student-layers", type=int, default=2)
    parser.add_argument("--conv-filters", type=int, default=256)
    parser.add_argument("--conv-kernel-sizes", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--conv-layers", type=int, default=1,
                        help="the first layer of several widths plus this many minus one residual width-3 layers")
    parser.add_argument("--conv-dropout", type=float, default=0.1, help="dropout on the student's word-piece vectors")
    parser.add_argument("--conv-train-embeddings", action="store_true",
                        help="train the teacher's word-piece table too (default: the convolutions and head only)")
    parser.add_argument("--conv-table", choices=("input", "contextual"), default="input",
                        help="input: the teacher's word-piece table; contextual: each word piece's mean final "
                             "hidden state in the teacher over the training texts (Bommasani et al. 2020)")
    parser.add_argument("--contextual-ridge", type=float, default=1.0,
                        help="L2 weight of the map that places the word pieces the texts never show")
    parser.add_argument("--contextual-layer", type=int, default=None,
                        help="average this Transformer layer's outputs (counted from 0) instead of the final ones")
    parser.add_argument("--distil-train-examples", type=int, default=None, help="default: the whole train.tsv")
    parser.add_argument("--distil-epochs", type=int, default=3)
    parser.add_argument("--distil-learning-rate", type=float, default=None,
                        help="peak learning rate (5%% warm-up, cosine decay to 0); default 2e-3 for the "
                             "convolutional student (trained from its word pieces up), 1e-4 for the layers one")
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--label-weight", type=float, default=0.5,
                        help="weight of the labels' loss (the teacher's soft targets get 1 minus it); 0: the teacher "
                             "alone, as suits augmented copies whose label may no longer hold (an n-gram of a review)")
    parser.add_argument("--similarity-weight", type=float, default=0.0,
                        help="beta of the batch cosine-similarity term (kerastune.training.knowledge_distillation)")
    parser.add_argument("--distil-augment", default=None,
                        help="e.g. delete,swap: add augmented copies of the training texts to the transfer set "
                             "(the text classifier's augment operations; the teacher's soft targets label them)")
    parser.add_argument("--distil-augment-copies", type=int, default=1)
    parser.add_argument("--distil-augment-probability", type=float, default=0.1,
                        help="the share of words each augment operation touches (ngram: of texts)")
    parser.add_argument("--distil-synonyms", default=None,
                        help="for the synonym operation: a file of `word<TAB>syn1,syn2` lines, or `teacher` for each "
                             "word's --neighbours nearest words in the teacher's word-piece table")
    parser.add_argument("--neighbours", type=int, default=8)
    parser.add_argument("--student-ema-momentum", type=float, default=0.0,
                        help="end the student on its weights' moving average (Keras's use_ema), e.g. 0.999; 0: off")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the augmented copies, the batches and their order, and of the student's first "
                             "weights unless --student-seeds (default: the teacher's config.json seed)")
    parser.add_argument("--student-seeds", type=int, nargs="+", default=None,
                        help="distil one student per seed (its first weights) from the one transfer set, reporting "
                             "each and their mean; the students draw their batch orders in turn from one stream seeded "
                             "by --seed, so a student is reproduced by the same list, not by its seed alone")
    parser.add_argument("--transfer-set", default=None,
                        help="a .npz file keeping the teacher-labelled transfer set: read when it exists (made with "
                             "the same settings), written otherwise, so later runs skip the teacher's pass")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--single-requests", type=int, default=100)
    parser.add_argument("--batch-sentences", type=int, default=512)
    args = parser.parse_args(argv)
    if args.transfer_set and not args.transfer_set.endswith(".npz"):
        parser.error(f"--transfer-set names a .npz file (checked before the teacher's pass, not after it). "
                     f"Received: --transfer-set {args.transfer_set}")
    if args.transfer_set and args.similarity_weight:
        parser.error("--similarity-weight runs the teacher on every batch (its features are not kept), so there is "
                     "no transfer set to keep: drop --transfer-set or --similarity-weight")

    from kerastune.compression import LiteRTTextClassifier, convert_to_litert, quantized_copy
    from kerastune.export.text_classifier_export import export_text_classifier
    from kerastune.export.classifier_from_export import load_classifier

    start = time.perf_counter()
    dev = os.path.join(args.data, "dev.tsv")
    texts, labels = read_texts(dev), read_labels(dev)
    teacher, tokenizer, label_names, config = load_classifier(args.teacher)
    config = config if args.seed is None else {**config, "seed": args.seed}
    paths, extra = {}, {}
    print("exporting the teacher and its int8 copy", flush=True)
    cut = {"truncate": config.get("truncate", "end")}  # long texts are cut as the teacher was trained
    paths["teacher"] = export_text_classifier(teacher, tokenizer, label_names, export_dir=args.out, name="teacher",
                                              config=config, **cut)
    if "int8" in args.variants:
        paths["int8"] = export_text_classifier(quantized_copy(teacher, "int8"), tokenizer, label_names,
                                               export_dir=args.out, name="int8", config=config, **cut)
    if "student" in args.variants:
        students = student_exports(teacher, tokenizer, config, args)
        paths.update(students)
        extra.update(student_seeds=args.student_seeds, transfer_set=args.transfer_set,
                     distil_epochs=args.distil_epochs, temperature=args.temperature,
                     similarity_weight=args.similarity_weight,
                     label_weight=args.label_weight, student_ema_momentum=args.student_ema_momentum,
                     distil_augment=args.distil_augment,
                     distil_augment_copies=args.distil_augment_copies if args.distil_augment else 0)
        if args.distil_augment:
            extra.update(distil_augment_probability=args.distil_augment_probability,
                         distil_synonyms=args.distil_synonyms, neighbours=args.neighbours)
        if args.student == "conv":
            extra.update(conv_layers=args.conv_layers, conv_dropout=args.conv_dropout,
                         conv_train_embeddings=args.conv_train_embeddings,
                         conv_table=args.conv_table, contextual_layer=args.contextual_layer)
    for sparsity in args.sparsities if "pruned" in args.variants else ():
        name = f"pruned_{round(100 * sparsity)}"
        paths[name], extra[f"{name}_sparsity"] = pruned_export(teacher, config, sparsity,
                                                               args.prune_train_examples, args.out,
                                                               args.prune_learning_rate, args.prune_end_fraction)
    litert_paths = {}
    for name, quantization in LITERT_QUANTIZATION.items():
        if name in args.variants:
            print(f"converting the teacher to LiteRT ({quantization or 'float32'})", flush=True)
            litert_paths[name] = convert_to_litert(paths["teacher"], os.path.join(args.out, name),
                                                   quantization=quantization)

    import tensorflow_text  # noqa: F401

    loaded = {name: tf.saved_model.load(path) for name, path in paths.items()}
    endpoints = {name: model.signatures["serving_default"] for name, model in loaded.items()}
    endpoints.update({name: LiteRTTextClassifier(path, paths["teacher"]) for name, path in litert_paths.items()})
    result = {"teacher_export": args.teacher, "data": dev}
    keras_probabilities = None
    for name, fn in endpoints.items():
        probabilities = served_probabilities(fn, texts)
        result[name] = {"dev_accuracy": round(float((probabilities.argmax(-1) == labels).mean()), 4),
                        "saved_bytes": saved_bytes(litert_paths.get(name) or paths[name])}
        if name == "teacher":
            keras_probabilities = probabilities
        print(name, result[name], flush=True)
    if "student" in args.variants and len(students) > 1:
        accuracies = [result[name]["dev_accuracy"] for name in students]
        result["students_dev_accuracy"] = {"mean": round(float(np.mean(accuracies)), 4), "min": min(accuracies),
                                           "max": max(accuracies)}
        print("students", result["students_dev_accuracy"], flush=True)
    for name in litert_paths:
        result[name].update(litert_agreement(loaded["teacher"], teacher, endpoints[name].encoder, texts,
                                             keras_probabilities, endpoints[name]))
    print(f"timing {', '.join(endpoints)} in turns", flush=True)
    seconds = single_latencies(endpoints, texts[:args.single_requests])
    throughput = batch_throughput(endpoints, texts[:args.batch_sentences], 64)
    for name in endpoints:
        result[name]["single_p50_ms"] = round(1000 * float(np.percentile(seconds[name], 50)), 2)
        result[name]["batch64_sentences_per_s"] = round(throughput[name], 1)
    result.update(extra, seed=config.get("seed", 0))
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
