"""Benchmark (not a test): how fast a string-in export answers, side by side with KerasHub's string endpoint.

    python benchmarks/serving.py --export /tmp/deploy/sst2/sst2/1 --data ../shared/data/sst2/dev.tsv \
        [--backbone ../shared/models/all-MiniLM-L6-v2] [--intra-op-threads 2 --inter-op-threads 1] \
        [--litert float32 dynamic_int8]

Both models are SavedModels loaded with `tf.saved_model.load` in this one process and timed in turns
(one request to each, again and again), so a busy machine slows both alike and the ratios stay fair:

- the kerastune export (`serving_default`: strings in);
- KerasHub's own string endpoint over the same encoder: `keras_hub.models.BertTextClassifier` with
  its `BertTextClassifierPreprocessor(sequence_length=64)`, an `ExportArchive` endpoint
  `softmax(classifier(preprocessor(text)))` written to a temporary directory. The encoder is the
  export's backbone (`config.json`'s `backbone`, or `--backbone`) with its pretrained weights:
  speed does not depend on the fine-tuned values.

With `--litert`, the export's `token_ids` signature converted to LiteRT (`convert_to_litert`, float32
and/or `dynamic_int8` weights) and answered by `LiteRTTextClassifier` (the export's `tokenize`
signature, then the interpreter on length-sorted chunks of 8) is timed in the same turns (keys
`litert_<quantization>_*`), with its largest probability difference from the export's and the share
of labels it answers alike over the batch texts.

Single-sentence latency: each TSV text sent alone (p50/p90/p99 over `--single-requests` texts).
Throughput: the TSV's texts in their file order, in batches of 64 and 256 (sentences/s over
`--batch-sentences` texts). A profile of one request splits it into tokenize+pack (the export's
`tokenize` signature) and encoder+softmax (its `token_ids` signature).

What the CPU allows: the encoder's floating-point work per sentence (`encoder_gflop`: its matrix
multiplies at each text's own length; KerasHub's side computes every text at its `sequence_length`)
and TensorFlow's own speed at the encoder's matrix multiplies, measured in this process: every layer's
projections and feed-forward matrices with weights of its own, layer after layer (one sentence's rows,
and a batch of 64's; the faster of its graph and XLA kernels), in float32 and bfloat16. At one
sentence that pass is bound by reading the weights (all-MiniLM-L6-v2's layers: 42 MB in float32), not
by arithmetic. Work / speed is the fastest a TensorFlow graph of this encoder could answer on this CPU
if nothing but its matrix multiplies took time: the `ceiling_*` keys, and the speedups over KerasHub's
endpoint they would give.
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
from matmul_speed import encoder_matmul_gflops  # noqa: E402
from peers.side_by_side import cpu_model  # noqa: E402


def read_texts(path):
    """The first column of a TSV with a header (SST-2's `sentence`)."""
    with open(path, encoding="utf-8") as f:
        rows = f.read().splitlines()[1:]
    return [row.split("\t")[0] for row in rows if row]


def kerashub_endpoint(backbone_dir, num_classes, sequence_length, directory):
    """Writes KerasHub's string-in endpoint (BertTextClassifier + its preprocessor); returns its signature and
    the encoder's `(num_layers, hidden_dim, intermediate_dim)`."""
    import keras
    import keras_hub

    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.tokenizers.BertTokenizer.from_preset(backbone_dir), sequence_length=sequence_length
    )
    backbone = keras_hub.models.BertBackbone.from_preset(backbone_dir)
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes, preprocessor=preprocessor)

    def serve(text):
        return {"probabilities": keras.ops.softmax(classifier(preprocessor(text), training=False), axis=-1)}

    archive = keras.export.ExportArchive()
    archive.track(classifier)
    archive.add_endpoint("serving_default", serve, input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    archive.write_out(directory, verbose=False)
    shape = (backbone.num_layers, backbone.hidden_dim, backbone.intermediate_dim)
    return tf.saved_model.load(directory).signatures["serving_default"], shape


def litert_endpoint(export_path, quantization, directory):
    """The export's `token_ids` signature converted to LiteRT under `directory` (`quantization`: "float32" or
    "dynamic_int8"), as a `LiteRTTextClassifier` answering strings with the export's tokenizer."""
    from kerastune.compression import LiteRTTextClassifier, convert_to_litert

    litert = convert_to_litert(export_path, os.path.join(directory, f"litert_{quantization}"),
                               quantization=None if quantization == "float32" else quantization)
    print(f"  {os.path.getsize(litert):,} bytes", flush=True)
    return LiteRTTextClassifier(litert, export_path)


def speedups_over_kerashub(result, prefix=""):
    """`{prefix}speedup_single` (KerasHub's p50 over the endpoint's) and `{prefix}speedup_batch64` / `_batch256`
    (the endpoint's sentences/s over KerasHub's), from `result`'s timed `{prefix}*` and `kerashub_*` figures."""
    single = result["kerashub_single_p50_ms"] / result[f"{prefix}single_p50_ms"]
    speedups = {f"{prefix}speedup_single": round(single, 2)}
    for batch_size in (64, 256):
        key = f"batch{batch_size}_sentences_per_s"
        speedups[f"{prefix}speedup_batch{batch_size}"] = round(result[f"{prefix}{key}"] / result[f"kerashub_{key}"], 2)
    return speedups


def agreement(reference, endpoint, texts, name, batch_size=64):
    """`{name}_max_abs_probability_diff` and `{name}_label_agreement`: `endpoint`'s answers against `reference`'s."""
    diff, same = 0.0, 0
    for i in range(0, len(texts), batch_size):
        batch = tf.constant(texts[i:i + batch_size])
        want, got = (np.asarray(fn(text=batch)["probabilities"]) for fn in (reference, endpoint))
        diff = max(diff, float(np.abs(want - got).max()))
        same += int((want.argmax(-1) == got.argmax(-1)).sum())
    return {f"{name}_max_abs_probability_diff": diff, f"{name}_label_agreement": round(same / len(texts), 4)}


def encoder_gflop(num_layers, hidden_dim, intermediate_dim, length):
    """GFLOP of one BERT encoder pass over one text of `length` tokens: each layer's query, key, value and
    output projections (4 x hidden^2), its two feed-forward matrices (2 x hidden x intermediate) per
    token, and the attention scores and their weighted sum (2 x length x hidden per token); a
    multiply-add counts 2. Embeddings, norms, softmax and the classifier head (< 1%) are not counted."""
    per_token = 4 * hidden_dim * hidden_dim + 2 * hidden_dim * intermediate_dim + 2 * length * hidden_dim
    return 2 * num_layers * length * per_token / 1e9


def token_lengths(loaded, texts, batch_size=256):
    """Each text's packed length ([CLS] and [SEP] included), from the export's own `tokenize` signature."""
    tokenize = loaded.signatures["tokenize"]
    lengths = []
    for i in range(0, len(texts), batch_size):
        mask = tokenize(text=tf.constant(texts[i:i + batch_size]))["padding_mask"]
        lengths.extend(int(n) for n in tf.reduce_sum(mask, axis=1).numpy())
    return np.array(lengths)


def what_the_cpu_allows(shape, single_lengths, batch_lengths, kerashub_length, result):
    """`ceiling_*` keys: the encoder's work per sentence over TensorFlow's speed at its own matmuls (every
    layer's weights read, `encoder_matmul_gflops`), and the speedups over KerasHub's endpoint they would give.

    shape: `(num_layers, hidden_dim, intermediate_dim)`; result: the timed figures of both endpoints."""
    single = float(np.mean([encoder_gflop(*shape, n) for n in single_lengths]))
    batch = float(np.mean([encoder_gflop(*shape, n) for n in batch_lengths]))
    kerashub = encoder_gflop(*shape, kerashub_length)
    rows = int(round(np.median(single_lengths)))
    speeds = {  # GFLOP/s at the encoder's matmuls over one sentence's rows and a batch of 64 sentences' rows
        f"{size}{suffix}": encoder_matmul_gflops(rows * (64 if size == "batch64" else 1), *shape, dtype)
        for size in ("single", "batch64") for suffix, dtype in (("", "float32"), ("_bfloat16", "bfloat16"))
    }
    figures = {
        "encoder_gflop_per_sentence": round(single, 3),
        "encoder_gflop_per_sentence_batches": round(batch, 3),
        **{f"matmul_gflops_{key}": round(speed, 1) for key, speed in speeds.items()},
        "ceiling_single_ms": round(1000 * single / speeds["single"], 2),
        "ceiling_single_bfloat16_ms": round(1000 * single / speeds["single_bfloat16"], 2),
        "ceiling_batch64_sentences_per_s": round(speeds["batch64"] / batch, 1),
        "ceiling_batch64_bfloat16_sentences_per_s": round(speeds["batch64_bfloat16"] / batch, 1),
        "achieved_batch64_gflops": round(result["batch64_sentences_per_s"] * batch, 1),
        "kerashub_encoder_gflop_per_sentence": round(kerashub, 3),
        "kerashub_achieved_batch64_gflops": round(result["kerashub_batch64_sentences_per_s"] * kerashub, 1),
    }
    for precision in ("", "_bfloat16"):
        figures[f"ceiling_speedup_single{precision}"] = round(
            result["kerashub_single_p50_ms"] / figures[f"ceiling_single{precision}_ms"], 2)
        figures[f"ceiling_speedup_batch64{precision}"] = round(
            figures[f"ceiling_batch64{precision}_sentences_per_s"] / result["kerashub_batch64_sentences_per_s"], 2)
    return figures


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
            np.asarray(fn(text=request)["probabilities"])
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
            np.asarray(fn(text=batch)["probabilities"])
            seconds[name] += time.perf_counter() - start
    return {name: len(texts) / s for name, s in seconds.items()}


def profile_one_request(loaded, texts, repeats=3):
    """Median ms of one request's stages: tokenize+pack, encoder+softmax on those inputs, the whole signature."""
    from kerastune.models.bert_encoder import INPUT_NAMES  # the `token_ids` signature's, among `tokenize`'s

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
            encode(**{k: tf.constant(features[k]) for k in INPUT_NAMES})["probabilities"].numpy()
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
    parser.add_argument("--litert", nargs="*", default=[], choices=("float32", "dynamic_int8"),
                        help="also time the export converted to LiteRT with these weights")
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
    result = {"export": path, "data": args.data, "cpu": cpu_model() or platform.processor(), "cores": os.cpu_count(),
              "intra_op_threads": args.intra_op_threads, "inter_op_threads": args.inter_op_threads}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_kerashub:
            print(f"writing KerasHub's string endpoint over {backbone} (sequence_length "
                  f"{args.kerashub_sequence_length})", flush=True)
            endpoints["kerashub"], shape = kerashub_endpoint(backbone, num_classes, args.kerashub_sequence_length, tmp)
        for quantization in args.litert:
            print(f"converting the export to LiteRT ({quantization})", flush=True)
            endpoints[f"litert_{quantization}"] = litert_endpoint(path, quantization, tmp)
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
        litert = [name for name in endpoints if name.startswith("litert_")]
        if "kerashub" in endpoints:
            result["kerashub_sequence_length"] = args.kerashub_sequence_length
            for prefix in ["", *(f"{name}_" for name in litert)]:
                result.update(speedups_over_kerashub(result, prefix))
        for name in litert:
            result.update(agreement(endpoints["kerastune"], endpoints[name], texts[:args.batch_sentences], name))
        if args.baseline:
            result["baseline"] = find_saved_model(args.baseline)
        if "kerashub" in endpoints and "tokenize" in loaded.signatures:
            print("what the CPU allows: the encoder's work over TensorFlow's speed at its own matmuls", flush=True)
            result.update(what_the_cpu_allows(
                shape, token_lengths(loaded, singles), token_lengths(loaded, texts[:args.batch_sentences]),
                args.kerashub_sequence_length, result,
            ))
    if "tokenize" in loaded.signatures and "token_ids" in loaded.signatures:
        print("profile of one request (median of the first 50 texts)", flush=True)
        result["profile"] = profile_one_request(loaded, texts[:50])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
