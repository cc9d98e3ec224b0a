"""nanoGPT's CPU Shakespeare-char run, with kerastune's GPT and recipe, timed and scored.

Configuration (nanoGPT `config/train_shakespeare_char.py` + its README's CPU flags): 4 layers,
4 heads, 128 dims, context 64, batch 12, 2000 iterations, dropout 0, lr 1e-3 with 100 warmup
steps and cosine decay to 1e-4 at 2000, AdamW betas (0.9, 0.99), weight decay 0.1 (2-D weights
only), gradient clip 1.0. Data: first 90% of input.txt for training, last 10% for validation.
No biases, as nanoGPT's configuration (`bias=False`), and 8 train steps per call into the compiled
function (`steps_per_execution`; the step timer divides each call's time by its steps). What that
configuration leaves open follows the `causal_lm` recipe's defaults: rotary positions (RoPE) in every
attention layer instead of nanoGPT's learned position table, tied head. nanoGPT's exact architecture is
`--set position_encoding=learned` (val loss 1.91 here, against 1.78 with rotary positions).

    python benchmarks/shakespeare_char.py [--iters 2000] [--data PATH] [--profile] [--set key=value]
        [--with-peer [--nanogpt-dir DIR]]

Prints a progress line every `--print-every` iterations while fitting, then as its last line one
JSON object holding only what this run measured: val_loss (nanoGPT's estimate: mean over
`--eval-iters` random validation batches), val_loss_full (every non-overlapping validation
window), train_loss, ms_per_iter (median train step in `fit`, after warm-up), tokens_per_s, mfu
(against a float32 matmul peak measured here, FLOPs per token as nanoGPT counts them:
6N + 12*L*H*Q*T), wall_s, and the CPU it ran on (`cpu`: the model name /proc/cpuinfo gives with its
family, model and kernel-deciding extensions, or null; `cpu_cores`; `kernel_environment`: the variables
set that hold the libraries to other kernels or threads, e.g. `XLA_FLAGS`). `--with-peer` then runs
nanoGPT's configuration in PyTorch on the same data, iterations and machine
(`benchmarks/peers/nanogpt_cpu.py`, or a nanoGPT checkout with `--nanogpt-dir`) and adds
`nanogpt_ms_per_iter`, `nanogpt_val_loss` and `speedup_vs_nanogpt` (nanoGPT's ms over ours: > 1 means
kerastune is faster). No peer figure is ever typed in.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from matmul_speed import matmul_gflops  # noqa: E402
from peers.side_by_side import cpu_cores, cpu_model, kernel_environment, run_peer  # noqa: E402

# nanoGPT's configuration has no biases (`bias=False`); 8 steps per call into the compiled step. Together, side by
# side with the peer on a Zen 4 EPYC (2026-12-06), they took 34.4-35.0 ms per step against the recipe defaults'
# 41.9-42.6 (benchmarks/README.md). `--set use_bias=true --set steps_per_execution=1` runs the defaults.
NANOGPT_SETTINGS = {"use_bias": False, "steps_per_execution": 8}
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data", "tinyshakespeare", "input.txt")


class StepTimer:
    """Wall time per train step, from consecutive `on_train_batch_end` calls.

    With `steps_per_execution` N (`--set steps_per_execution=N`) Keras calls back once per N steps and
    the batch index jumps by N, so each interval is divided by the steps it covered.
    """

    def __init__(self):
        import keras

        class _Timer(keras.callbacks.Callback):
            def on_train_batch_end(inner, batch, logs=None):
                self.marks.append((batch, time.perf_counter()))

        self.marks = []
        self.callback = _Timer()

    def median_ms(self, skip):
        """Median ms per step over the intervals after step `skip` (the last interval if none is)."""
        later = [mark for mark in self.marks if mark[0] >= skip]
        kept = np.asarray(later if len(later) >= 2 else self.marks[-2:], dtype=np.float64)
        if len(kept) < 2:
            raise ValueError(f"Timing needs at least two calls back from fit; got {len(self.marks)}")
        steps, seconds = np.diff(kept[:, 0]), np.diff(kept[:, 1])
        return float(np.median(seconds / steps) * 1000.0)


def progress_callback(total, every):
    """Prints `iter N/total: loss L, S s` every `every` train steps (fit itself runs silent).

    The step timer's callback already makes Keras hand each batch's logs over as Python numbers, so
    reading the loss here adds no device sync; the print lands between two steps once per `every`.
    """
    import keras

    class _Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if every and ((batch + 1) % every == 0 or batch + 1 == total):
                loss = (logs or {}).get("loss")
                loss = f"{float(loss):.4f}" if loss is not None else "?"
                print(f"iter {batch + 1}/{total}: loss {loss}, {time.perf_counter() - self.started:.1f} s", flush=True)

    return _Progress()



def matmul_peak_gflops(seconds=3.0, n=1024):
    """float32 XLA `tf.matmul` throughput on this machine (GFLOP/s) at n x n, the denominator of MFU."""
    return matmul_gflops(n, n, n, depth=10, seconds=seconds, jit_compile=(True,))


def random_windows_loss(model, ids, sequence_length, batch_size, batches, seed):
    """nanoGPT's estimate_loss: mean loss over `batches` batches at uniform random offsets."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(ids) - sequence_length, batches * batch_size)
    window = np.arange(sequence_length + 1)
    chunks = ids[starts[:, None] + window[None, :]]
    return float(model.evaluate(chunks[:, :-1], chunks[:, 1:], batch_size=batch_size, verbose=0))


def profile_steps(run, steps, logdir):
    """Traces `steps` training steps with the TF profiler and prints where the time goes."""
    import collections
    import glob
    import re

    import tensorflow as tf

    iterator = iter(run.train_ds)
    batches = [next(iterator) for _ in range(steps)]
    for x, y in batches[:3]:
        run.model.train_on_batch(x, y)
    tf.profiler.experimental.start(logdir)
    for x, y in batches:
        run.model.train_on_batch(x, y)
    tf.profiler.experimental.stop()
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError:
        print(f"profile written to {logdir} (open with TensorBoard)")
        return None
    path = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))[-1]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    busy = collections.Counter()
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if "Eigen" not in line.name and "tf_Compute" not in line.name:
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "?")
                if name.startswith(("ThunkExecutor", "ExecutorState", "CpuExecutable", "BlockUntil")):
                    continue
                name = re.sub(r"[._]\d+$", "", re.sub(r"\.\d+", "", name))
                if name.lower().startswith(("matmul", "dot", "einsum", "batchmatmul")):
                    name = "matmul (dot)"
                busy[name] += event.duration_ps
    total = sum(busy.values())
    print(f"profile: {total / 1e9 / steps:.2f} ms of thread-busy time per step (both cores summed)")
    top = []
    for name, ps in busy.most_common(12):
        print(f"  {ps / 1e9 / steps:7.3f} ms/step  {100 * ps / total:5.1f}%  {name[:70]}")
        top.append({"op": name[:70], "ms_per_step": round(ps / 1e9 / steps, 3)})
    return top


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--eval-iters", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--warmup-iters", type=int, default=50, help="steps left out of the median")
    parser.add_argument("--print-every", type=int, default=200, help="a progress line every N iterations (0: none)")
    parser.add_argument("--profile", action="store_true", help="also trace 20 steps and print the top ops")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a causal_lm recipe setting not fixed by the nanoGPT configuration (e.g. position_encoding=learned)",
    )
    parser.add_argument(
        "--with-peer", action="store_true",
        help="then run nanoGPT's configuration in PyTorch (benchmarks/peers/nanogpt_cpu.py) and print both",
    )
    parser.add_argument("--nanogpt-dir", default=None, help="with --with-peer: run this nanoGPT checkout instead")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.data):
        sys.exit(f"Tiny Shakespeare not found at {args.data!r}; pass --data PATH to input.txt")

    from kerastune.data import split_tokens
    from kerastune.recipes import causal_lm

    started = time.perf_counter()
    run = causal_lm(
        data=args.data,
        name="shakespeare_char_bench",
        sequence_length=64,
        batch_size=12,
        num_layers=4,
        num_heads=4,
        hidden_dim=128,
        intermediate_dim=512,
        dropout=0.0,
        learning_rate=1e-3,
        min_learning_rate=1e-4,
        warmup_steps=100,
        total_steps=2000,
        weight_decay=0.1,
        beta_1=0.9,
        beta_2=0.99,
        global_clipnorm=1.0,
        epochs=1,
        steps_per_epoch=args.iters,
        seed=args.seed,
        jit_compile=True,
        **{**NANOGPT_SETTINGS, **dict(kv.split("=", 1) for kv in args.set)},
    )
    model, c = run.model, run.config
    timer = StepTimer()
    print(f"training {model.count_params():,} parameters for {args.iters} iterations", flush=True)
    fit_start = time.perf_counter()
    history = model.fit(
        run.train_ds, epochs=1, steps_per_epoch=args.iters, verbose=0, shuffle=False,
        callbacks=[timer.callback, progress_callback(args.iters, args.print_every)],
    )
    fit_s = time.perf_counter() - fit_start
    ms_per_iter = timer.median_ms(skip=args.warmup_iters)

    ids = run.tokenizer.encode_text(open(args.data, encoding="utf-8").read())
    train_ids, val_ids = split_tokens(ids, 0.1)
    val_loss = random_windows_loss(model, val_ids, 64, 12, args.eval_iters, args.seed + 1)
    train_loss = random_windows_loss(model, train_ids, 64, 12, args.eval_iters, args.seed + 2)
    val_loss_full = float(model.evaluate(_full_val(val_ids), verbose=0))
    print("sample:\n" + model.generate("\n", max_new_tokens=200, sampler="top_k", k=10, temperature=0.8, seed=args.seed))

    profile = profile_steps(run, 20, os.path.join("runs", "profile_shakespeare_char")) if args.profile else None
    peak = matmul_peak_gflops()
    T, B = c.sequence_length, c.batch_size
    flops_per_iter = model.training_flops_per_token() * T * B
    result = {
        "val_loss": round(val_loss, 4),
        "val_loss_full": round(val_loss_full, 4),
        "train_loss": round(train_loss, 4),
        "last_batch_loss": round(float(history.history["loss"][-1]), 4),
        "ms_per_iter": round(ms_per_iter, 2),
        "tokens_per_s": round(B * T / (ms_per_iter / 1000.0)),
        "mfu": round(flops_per_iter / (ms_per_iter / 1000.0) / (peak * 1e9), 4),
        "matmul_peak_gflops": round(peak, 1),
        "fit_s": round(fit_s, 1),
        "wall_s": round(time.perf_counter() - started, 1),
        "iters": args.iters,
        "eval_iters": args.eval_iters,
        "seed": args.seed,
        "position_encoding": c.position_encoding,
        "tie_embeddings": c.tie_embeddings,
        "use_bias": c.use_bias,
        "steps_per_execution": c.steps_per_execution,
        "overrides": args.set,
        "cpu": cpu_model(),
        "cpu_cores": cpu_cores(),
        "kernel_environment": kernel_environment(),
    }
    if profile is not None:
        result["profile_top_ops"] = profile
    if args.with_peer:
        result.update(nanogpt_side_by_side(args, ms_per_iter))
    print(json.dumps(result))


def nanogpt_side_by_side(args, ms_per_iter):
    """Runs the nanoGPT peer now, on the same data, iterations and machine; its figures and the ratio."""
    arguments = ["--data", args.data, "--max-iters", args.iters, "--eval-iters", args.eval_iters,
                 "--warmup-iters", args.warmup_iters, "--seed", args.seed, "--print-every", args.print_every]
    if args.nanogpt_dir:
        arguments += ["--nanogpt-dir", args.nanogpt_dir]
    peer = run_peer("nanogpt_cpu.py", arguments)
    return {
        "nanogpt_ms_per_iter": peer["ms_per_iter"],
        "nanogpt_val_loss": peer["val_loss"],
        "speedup_vs_nanogpt": round(peer["ms_per_iter"] / ms_per_iter, 3),
        "peer": peer,
    }


def _full_val(val_ids):
    """Every non-overlapping (64 + 1)-token window of the validation split."""
    import tensorflow as tf

    n = (len(val_ids) - 1) // 64
    starts = np.arange(n) * 64
    chunks = val_ids[starts[:, None] + np.arange(65)[None, :]]
    return tf.data.Dataset.from_tensor_slices((chunks[:, :-1], chunks[:, 1:])).batch(12)


if __name__ == "__main__":
    main()
