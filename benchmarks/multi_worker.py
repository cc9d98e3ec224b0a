"""Data-parallel scaling across processes: 2 workers on one core each vs 1 worker on one core.

Each worker is a process pinned to its own core (`os.sched_setaffinity`, one TensorFlow thread)
that builds the `causal_lm` recipe with `strategy="multi_worker"` (MultiWorkerMirroredStrategy
from TF_CONFIG, workers on 127.0.0.1) and trains it with `MultiWorkerTrainer`, the loop the recipe
uses there. Both runs use the same per-worker batch, so the 2-worker run trains on a global batch
twice as large; the figure is training throughput, global batch / median step time over the
timed steps (after `--warmup` steps of tracing and compiling), the best of `--repeats` alternated
runs of each (the median and the best-of keep out the steps other programs on the cores slowed):

    speedup_2_workers = examples/s of 2 workers / examples/s of 1 worker

`mean_speedup_2_workers` is the same from the mean step times of the last repeat instead.

The ideal is 2.0; what is lost is the gradient all-reduce between the processes (gRPC over
loopback) and waiting for the slower worker each step.

    python benchmarks/multi_worker.py [--batch-size 32] [--steps 40] [--warmup 5] [--repeats 2] [--set key=value]

Prints each worker's progress, then as its last line one JSON object: speedup_2_workers,
examples_per_s_1_worker, examples_per_s_2_workers, ms_per_step of each (median), the mean-based
speedup, the settings, the CPU and the load average before and after. Other programs on the same cores slow the 2-worker run most (its step waits for the slower
worker): run it on an otherwise idle machine.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from peers.side_by_side import cpu_model  # benchmarks/ is on the path when this script runs

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# GPT settings: the pydoc_gpt recipe's model (4 layers, 4 heads, 128 dims, context 64)
MODEL = dict(data="pydoc", num_layers=4, num_heads=4, hidden_dim=128, intermediate_dim=512, sequence_length=64)


def worker(args):
    """One worker: pin to `args.core`, build the recipe under MultiWorkerMirroredStrategy, time the steps."""
    os.sched_setaffinity(0, {args.core})
    os.environ.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
    import keras

    from kerastune.distribute import MultiWorkerTrainer
    from kerastune.recipes.causal_lm import causal_lm

    workers = len(json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"])
    overrides = dict(MODEL, **dict(item.split("=", 1) for item in args.set))
    run = causal_lm(strategy="multi_worker", batch_size=args.batch_size * workers, sample_tokens=0, **overrides)
    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter())
            if (batch + 1) % 10 == 0:
                print(f"worker {args.index}/{workers}: step {batch + 1}/{args.warmup + args.steps}, "
                      f"loss {logs['loss']:.4f}", flush=True)

    MultiWorkerTrainer(run.model, run.strategy).fit(run.train_ds, epochs=1, steps_per_epoch=args.warmup + args.steps,
                                                    callbacks=[Timer()], verbose=0)
    steps = [b - a for a, b in zip(times[args.warmup - 1:], times[args.warmup:])]  # the timed steps' seconds
    result = {"workers": workers, "global_batch": args.batch_size * workers, "step_s": steps,
              "parameters": run.model.count_params()}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f)
    print(f"worker {args.index}/{workers}: median step {1000 * statistics.median(steps):.1f} ms", flush=True)
    os._exit(0)  # both workers end together; a plain exit waits out the coordination service's heartbeat



def cluster_run(count, args, cores):
    """Starts `count` workers on 127.0.0.1, worker i on `cores[i]`; returns worker 0's result."""
    from kerastune.distribute import local_cluster

    cluster = local_cluster(count)
    processes, outs = [], []
    for index in range(count):
        out = os.path.join(args.tmp, f"{count}-{index}.json")
        outs.append(out)
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        command = [sys.executable, os.path.abspath(__file__), "--worker", "--index", str(index), "--core",
                   str(cores[index]), "--out", out, "--batch-size", str(args.batch_size), "--steps", str(args.steps),
                   "--warmup", str(args.warmup)] + [f"--set={item}" for item in args.set]
        processes.append(subprocess.Popen(command, env=env, cwd=ROOT))
    for process in processes:
        if process.wait(timeout=1800) != 0:
            raise SystemExit(f"a worker of the {count}-worker run failed (exit {process.returncode})")
    with open(outs[0], encoding="utf-8") as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=32, help="per worker")
    parser.add_argument("--steps", type=int, default=40, help="timed steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed first steps (tracing, XLA compile)")
    parser.add_argument("--repeats", type=int, default=2, help="alternated runs of each configuration")
    parser.add_argument("--set", action="append", default=[], help="causal_lm setting, e.g. --set num_layers=2")
    parser.add_argument("--cores", default=None, help="two core ids, e.g. 0,1 (default: the first two allowed)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--core", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.warmup < 1:
        parser.error(f"--warmup must be >= 1 (the first step traces). Received: --warmup={args.warmup}")
    cores = [int(c) for c in args.cores.split(",")] if args.cores else sorted(os.sched_getaffinity(0))[:2]
    if len(cores) < 2:
        raise SystemExit(f"the benchmark needs two cores; this process may use {cores}")
    load_before = os.getloadavg()
    runs = {1: [], 2: []}
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        args.tmp = tmp
        for repeat in range(args.repeats):
            for count in (1, 2):
                where = f"core {cores[0]}" if count == 1 else f"cores {cores[0]} and {cores[1]}"
                print(f"run {repeat + 1}/{args.repeats}: {count} worker(s) on {where}, batch {args.batch_size} each",
                      flush=True)
                runs[count].append(cluster_run(count, args, cores))

    def examples_per_s(run, average=statistics.median):
        return run["global_batch"] / average(run["step_s"])

    best = {count: max(results, key=examples_per_s) for count, results in runs.items()}
    last = {count: results[-1] for count, results in runs.items()}
    print(json.dumps({
        "speedup_2_workers": round(examples_per_s(best[2]) / examples_per_s(best[1]), 3),
        "examples_per_s_1_worker": round(examples_per_s(best[1]), 1),
        "examples_per_s_2_workers": round(examples_per_s(best[2]), 1),
        "ms_per_step_1_worker": round(1000 * statistics.median(best[1]["step_s"]), 1),
        "ms_per_step_2_workers": round(1000 * statistics.median(best[2]["step_s"]), 1),
        "mean_speedup_2_workers": round(examples_per_s(last[2], statistics.mean)
                                        / examples_per_s(last[1], statistics.mean), 3),
        "all_speedups": [round(examples_per_s(two) / examples_per_s(one), 3) for one, two in zip(runs[1], runs[2])],
        "batch_per_worker": args.batch_size, "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats,
        "parameters": best[1]["parameters"], "settings": dict(MODEL, **dict(item.split("=", 1) for item in args.set)),
        "wall_s": round(time.time() - started, 1), "cpu": cpu_model(), "cpu_cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }))


if __name__ == "__main__":
    main()
