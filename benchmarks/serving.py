"""Benchmark (not a test): how fast a string-in export answers, side by side with KerasHub's string endpoint.

    python benchmarks/serving.py --export /tmp/deploy/sst2/sst2/1 --data ../shared/data/sst2/dev.tsv \
        [--backbone ../shared/models/all-MiniLM-L6-v2] [--intra-op-threads 2 --inter-op-threads 1]

Both models are SavedModels loaded with `tf.saved_model.load` in this one process and timed in turns
(one request to each, again and again), so a busy machine slows both alike and the ratios stay fair:

- the kerastune export (`serving_default`: strings in);
- KerasHub's own string endpoint over the same encoder: `keras_hub.models.BertTextClassifier` with
  its `BertTextClassifierPreprocessor(sequence_length=64)`, an `ExportArchive` endpoint
  `softmax(classifier(preprocessor(text)))` written to a temporary directory. The encoder is the
  export's backbone (`config.json`'s `backbone`, or `--backbone`) with its pretrained weights:
  speed does not depend on the fine-tuned values.

Single-sentence latency: each TSV text sent alone (p50/p90/p99 over `--single-requests` texts).
Throughput: the TSV's texts in their file order, in batches of 64 and 256 (sentences/s over
`--batch-sentences` texts). A profile of one request splits it into tokenize+pack (the export's
`tokenize` signature) and encoder+softmax (its `token_ids` signature).
The last line printed is one JSON object.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def read_texts(path):
    """The first column of a TSV with a header (SST-2's `sentence`)."""
    with open(path, encoding="utf-8") as f:
        rows = f.read().splitlines()[1:]
    return [row.split("\t")[0] for row in rows if row]


def cpu_name():
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def kerashub_endpoint(backbone_dir, num_classes, sequence_length, directory):
    """Writes KerasHub's string-in endpoint (BertTextClassifier + its preprocessor) and returns its signature."""
    import keras
    import keras_hub

    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.tokenizers.BertTokenizer.from_preset(backbone_dir), sequence_length=sequence_length
    )
    classifier = keras_hub.models.BertTextClassifier(
        keras_hub.models.BertBackbone.from_preset(backbone_dir), num_classes, preprocessor=preprocessor
    )

    def serve(text):
        return {"probabilities": keras.ops.softmax(classifier(preprocessor(text), training=False), axis=-1)}

    archive = keras.export.ExportArchive()
    archive.track(classifier)
    archive.add_endpoint("serving_default", serve, input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    archive.write_out(directory, verbose=False)
    return tf.saved_model.load(directory).signatures["serving_default"]


def single_latencies(endpoints, texts, warmup=5):
    """Per endpoint, seconds to answer each text sent alone; the endpoints take turns on every text."""
    for fn in endpoints.values():
        for text in texts[:warmup]:
            fn(text=tf.constant([text]))
    seconds = {name: [] for name in endpoints}
    for text in texts:
        for name, fn in endpoints.items():
            request = tf.constant([text])
            start = time.perf_counter()
            fn(text=request)["probabilities"].numpy()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def batch_throughput(endpoints, texts, batch_size):
    """Per endpoint, sentences/s over `texts` in batches of `batch_size`, the endpoints taking turns per batch."""
    batches = [tf.constant(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)]
    for fn in endpoints.values():
        fn(text=batches[0])  # warm up
    seconds = {name: 0.0 for name in endpoints}
    for batch in batches:
        for name, fn in endpoints.items():
            start = time.perf_counter()
            fn(text=batch)["probabilities"].numpy()
            seconds[name] += time.perf_counter() - start
    return {name: len(texts) / s for name, s in seconds.items()}


def profile_one_request(loaded, texts, repeats=3):
    """Median ms of one request's stages: tokenize+pack, encoder+softmax on those inputs, the whole signature."""
    tokenize, encode = loaded.signatures["tokenize"], loaded.signatures["token_ids"]
    full = loaded.signatures["serving_default"]
    stages = {"tokenize_pack_ms": [], "encoder_softmax_ms": [], "whole_request_ms": []}
    for text in texts:
        request = tf.constant([text])
        for _ in range(repeats):
            start = time.perf_counter()
            features = {k: v.numpy() for k, v in tokenize(text=request).items()}
            stages["tokenize_pack_ms"].append(time.perf_counter() - start)
            start = time.perf_counter()
            encode(**{k: tf.constant(v) for k, v in features.items()})["probabilities"].numpy()
            stages["encoder_softmax_ms"].append(time.perf_counter() - start)
            start = time.perf_counter()
            full(text=request)["probabilities"].numpy()
            stages["whole_request_ms"].append(time.perf_counter() - start)
    return {k: round(1000 * float(np.median(v)), 2) for k, v in stages.items()}


def _ms(seconds, q):
    return round(1000 * float(np.percentile(seconds, q)), 2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--export", required=True, help="a text classifier export (version directory)")
    parser.add_argument("--data", required=True, help="TSV with a header, texts in the first column")
    parser.add_argument("--backbone", default=None, help="the encoder for KerasHub's side; default: config.json's")
    parser.add_argument("--kerashub-sequence-length", type=int, default=64)
    parser.add_argument("--no-kerashub", action="store_true", help="time the export alone")
    parser.add_argument("--baseline", default=None, help="another export timed in the same turns (keys baseline_*)")
    parser.add_argument("--single-requests", type=int, default=200)
    parser.add_argument("--batch-sentences", type=int, default=512, help="texts sent in batches of 64 and 256")
    parser.add_argument("--intra-op-threads", type=int, default=0, help="0: TensorFlow's default (all cores)")
    parser.add_argument("--inter-op-threads", type=int, default=0, help="0: TensorFlow's default")
    args = parser.parse_args(argv)

    tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    import tensorflow_text  # noqa: F401  (the WordPiece ops of both serving graphs)

    from kerastune.saved_model_predict import find_saved_model

    path = find_saved_model(args.export)
    texts = read_texts(args.data)
    with open(os.path.join(path, "label_names.json"), encoding="utf-8") as f:
        num_classes = len(json.load(f))
    backbone = args.backbone
    if backbone is None and not args.no_kerashub:
        with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
            backbone = json.load(f)["backbone"]
    loaded = tf.saved_model.load(path)
    endpoints = {"kerastune": loaded.signatures["serving_default"]}
    if args.baseline:
        endpoints["baseline"] = tf.saved_model.load(find_saved_model(args.baseline)).signatures["serving_default"]
    result = {"export": path, "data": args.data, "cpu": cpu_name(), "cores": os.cpu_count(),
              "intra_op_threads": args.intra_op_threads, "inter_op_threads": args.inter_op_threads}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_kerashub:
            print(f"writing KerasHub's string endpoint over {backbone} (sequence_length "
                  f"{args.kerashub_sequence_length})", flush=True)
            endpoints["kerashub"] = kerashub_endpoint(backbone, num_classes, args.kerashub_sequence_length, tmp)
        singles = texts[:args.single_requests]
        print(f"single-sentence latency over {len(singles)} texts: {', '.join(endpoints)} in turns", flush=True)
        seconds = single_latencies(endpoints, singles)
        throughput = {}
        for batch_size in (64, 256):
            print(f"throughput at batch {batch_size} over {args.batch_sentences} texts", flush=True)
            throughput[batch_size] = batch_throughput(endpoints, texts[:args.batch_sentences], batch_size)
        for name in endpoints:
            prefix = "" if name == "kerastune" else f"{name}_"
            for q in (50, 90, 99):
                result[f"{prefix}single_p{q}_ms"] = _ms(seconds[name], q)
            for batch_size in (64, 256):
                result[f"{prefix}batch{batch_size}_sentences_per_s"] = round(throughput[batch_size][name], 1)
        if "kerashub" in endpoints:
            result["kerashub_sequence_length"] = args.kerashub_sequence_length
            result["speedup_single"] = round(result["kerashub_single_p50_ms"] / result["single_p50_ms"], 2)
            for batch_size in (64, 256):
                key = f"batch{batch_size}_sentences_per_s"
                result[f"speedup_batch{batch_size}"] = round(result[key] / result[f"kerashub_{key}"], 2)
        if args.baseline:
            result["baseline"] = find_saved_model(args.baseline)
    if "tokenize" in loaded.signatures and "token_ids" in loaded.signatures:
        print("profile of one request (median of the first 50 texts)", flush=True)
        result["profile"] = profile_one_request(loaded, texts[:50])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
