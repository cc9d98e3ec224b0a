"""GPT-2 small (124M) for a TPU v4-8 or 8 GPUs: the plan's figures, measured where they can be, and a
scaled-down run here through the same code path (`recipes/gpt2_small.toml`; the plan: docs/gpt2_small.md).

    python benchmarks/gpt2_small.py [--scaled-updates 300] [--skip-full-steps]

1. The model of `recipes/gpt2_small.toml`, built: its parameters (checked against GPT-2's count) and
   training FLOPs per token (`GPT.training_flops_per_token`, nanoGPT's count).
2. Train steps of that full 124M model here (`--skip-full-steps` leaves them out), 1 and 2 sequences of
   1,024 tokens per step, in float32 and in the recipe file's mixed_bfloat16, each in a fresh process:
   seconds per step and peak resident memory, whose difference is one sequence's activation memory on
   this backend (XLA on the CPU). The data is a synthetic token directory of 50,304 tokens (GPT-2's
   padded vocabulary): speed and memory do not depend on the text. Also timed: the input pipeline's
   batches of the recipe file's shape, read from the memory-mapped files.
3. The plan, computed: tokens, memory per device (from the measured activations), hours on a TPU v4-8,
   8 A100s and 8 H100s from their published peaks at an assumed MFU (`HARDWARE`, `ASSUMED_MFU`).
4. The scaled-down run: WikiText-2's test split (train) and validation split tokenized into a token
   directory by `prepare_token_directory` (SentencePiece, 4,096 pieces), then `causal_lm` from the recipe
   file scaled down (4 layers, 256 wide, context 256, 16 sequences per micro-batch, 2 micro-batches per
   update, float32, one device), the rest as in the file: learned positions, biases, gradient
   accumulation, clipping, AdamW, warmup and cosine decay, backups. Its validation loss is compared with
   the unigram baseline (the validation tokens' cross-entropy under the training tokens' frequencies,
   add-one smoothed).

Prints progress, then one JSON line.
"""

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from peers.side_by_side import cpu_model  # benchmarks/ is on the path when this script runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "gpt2_small.toml")
WIKITEXT = os.path.join(ROOT, "..", "shared", "data", "wikitext2")
GPT2_VOCABULARY = 50257  # GPT-2's byte-level BPE; nanoGPT pads it to 50304 (a multiple of 64)
GPT2_PARAMETERS = 124_439_808  # Hugging Face's GPT2Model ("gpt2"): 50257 tokens, 1024 positions, biases
# The plan's hardware: published dense bfloat16 peak FLOP/s per chip, chips, and memory per chip (GiB).
HARDWARE = {
    "tpu_v4_8": (275e12, 4, 32),  # Cloud TPU v4: 4 chips (8 TensorCores) in a v4-8, 32 GiB HBM each
    "8x_a100_40gb": (312e12, 8, 40),
    "8x_h100_sxm": (989e12, 8, 80),
}
ASSUMED_MFU = (0.3, 0.5)  # 0.3: what nanoGPT's own "about 4 days on 8 A100s for 600,000 updates" implies
NANOGPT_TOKENS = 600_000 * 491_520  # nanoGPT's GPT-2 124M run: updates x tokens per update
STATE_BYTES_PER_PARAMETER = 4 + 8 + 4 + 4  # float32 weights, AdamW's two moments, gradient, accumulated gradient
PRECISIONS = ("float32", "mixed_bfloat16")
SCALED = dict(num_layers=4, num_heads=4, hidden_dim=256, intermediate_dim=1024, sequence_length=256, batch_size=16,
              gradient_accumulation_steps=2, validation_batches=40, steps_per_epoch=100, sample_tokens=40,
              mixed_precision=None, strategy="default")


def recipe_config(**overrides):
    """The recipe file's config with `overrides` (None values too, which `--key=value` strings cannot say)."""
    from kerastune.recipe_files import load_recipe_file

    _, config = load_recipe_file(RECIPE, {key: str(value) for key, value in overrides.items() if value is not None})
    return dataclasses.replace(config, **{key: None for key, value in overrides.items() if value is None})


def model_figures():
    """Parameters and FLOPs per token of the recipe file's GPT, built from its settings (not trained)."""
    import keras

    from kerastune.models import GPT

    config = recipe_config()
    figures = {}
    for vocabulary in (GPT2_VOCABULARY, 50304):
        model = GPT(vocabulary_size=vocabulary, sequence_length=config.sequence_length, num_layers=config.num_layers,
                    num_heads=config.num_heads, hidden_dim=config.hidden_dim, intermediate_dim=config.intermediate_dim,
                    use_bias=config.use_bias, position_encoding=config.position_encoding,
                    tie_embeddings=config.tie_embeddings)
        model(keras.ops.zeros((1, 8), "int32"))
        figures[vocabulary] = (model.count_params(), model.training_flops_per_token())
    return figures


def synthetic_token_directory(directory, vocabulary_size=50304, characters=400_000):
    """A token directory of random ids over `vocabulary_size` tokens (one character each, printable ASCII too)."""
    import numpy as np

    from kerastune.data import CharacterTokenizer, prepare_token_directory

    ascii_letters = [chr(c) for c in range(32, 127)]  # so the recipe file's sample prompt encodes
    alphabet = ascii_letters + [chr(0x100 + i) for i in range(vocabulary_size - len(ascii_letters))]  # < 0xD800
    rng = np.random.default_rng(0)
    text = "".join(np.array(alphabet)[rng.integers(0, vocabulary_size, characters)])
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "synthetic.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "".join(alphabet))
    return prepare_token_directory(os.path.join(directory, "tokens"), path, tokenizer=CharacterTokenizer(alphabet),
                                   validation_fraction=0.05).path


def full_step(tokens, batch_size, steps, precision):
    """In a fresh process: the full model's seconds per train step and peak memory (GiB) at `batch_size`, with
    `precision` `"float32"` or `"mixed_bfloat16"` (the recipe file's)."""
    import keras

    from kerastune.recipes import causal_lm

    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # noqa: E731 (KiB -> GiB)
    config = recipe_config(data=tokens, batch_size=batch_size, gradient_accumulation_steps=1,
                           mixed_precision=None if precision == "float32" else precision, strategy="default",
                           backup_dir=None, backup_every_steps=None)
    run = causal_lm(config)
    built = rss()
    times = []
    stamp = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: times.append(time.perf_counter()))
    started = time.perf_counter()
    run.model.fit(run.train_ds, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[stamp])
    step_s = sorted(b - a for a, b in zip(times, times[1:]))[(steps - 1) // 2]  # median, the compiling step left out
    return {"precision": precision, "batch_size": batch_size, "step_s": round(step_s, 2),
            "first_step_s": round(times[0] - started, 1),
            "rss_built_gib": round(built, 2), "peak_rss_gib": round(rss(), 2)}


def measure_full_steps(steps):
    """`full_step` of 1 and 2 sequences in each precision, each in a fresh process (its own peak memory)."""
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        tokens = synthetic_token_directory(directory)
        results["pipeline_ms_per_batch"] = pipeline_ms_per_batch(tokens)
        config = recipe_config()
        print(f"the input pipeline: {results['pipeline_ms_per_batch']:.2f} ms per batch of {config.batch_size} x "
              f"{config.sequence_length} tokens from the memory-mapped files", flush=True)
        for precision in PRECISIONS:
            for batch_size in (1, 2):
                print(f"full 124M model, {precision}, {batch_size} x 1024 tokens per step, {steps} steps in a fresh "
                      "process ...", flush=True)
                output = subprocess.run([sys.executable, __file__, "--child-full-step", tokens, str(batch_size),
                                         str(steps), precision], capture_output=True, text=True, cwd=ROOT)
                if output.returncode:
                    raise RuntimeError(f"the full-model step failed:\n{output.stderr[-3000:]}")
                results[precision, batch_size] = json.loads(output.stdout.strip().splitlines()[-1])
                print(f"  {results[precision, batch_size]}", flush=True)
    return results


def pipeline_ms_per_batch(tokens, batches=300):
    """Milliseconds per batch of the recipe file's windows (batch_size x sequence_length) read from the
    memory-mapped token files."""
    from kerastune.data import load_token_directory, split_causal_lm_datasets

    config = recipe_config()
    directory = load_token_directory(tokens)
    train_ds, _ = split_causal_lm_datasets(directory.train, None, config.sequence_length, config.batch_size)
    iterator = iter(train_ds)
    for _ in range(20):  # warm-up: the pipeline's threads start and fill the prefetch buffer
        next(iterator)
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return (time.perf_counter() - started) / batches * 1000


def unigram_loss(train, validation, vocabulary_size):
    """Cross-entropy (nats) of the validation tokens under the training tokens' add-one-smoothed frequencies."""
    import numpy as np

    counts = np.bincount(np.asarray(train), minlength=vocabulary_size) + 1.0
    log_p = np.log(counts / counts.sum())
    return float(-log_p[np.asarray(validation)].mean())


def scaled_run(updates, work):
    from kerastune.data import prepare_token_directory
    from kerastune.recipes import causal_lm

    if updates * SCALED["gradient_accumulation_steps"] % SCALED["steps_per_epoch"] or updates < 1:
        per_epoch = SCALED["steps_per_epoch"] // SCALED["gradient_accumulation_steps"]
        raise ValueError(f"--scaled-updates must be a positive multiple of {per_epoch} (the updates between "
                         f"validations); received {updates}")
    started = time.perf_counter()
    tokens = prepare_token_directory(os.path.join(work, "wikitext2"), os.path.join(WIKITEXT, "test.txt"),
                                     validation=os.path.join(WIKITEXT, "valid.txt"), vocabulary_size=4096)
    prepare_s = time.perf_counter() - started
    text_bytes = sum(os.path.getsize(os.path.join(WIKITEXT, name)) for name in ("test.txt", "valid.txt"))
    print(f"prepared WikiText-2: {len(tokens.train):,} training and {len(tokens.validation):,} validation tokens "
          f"in {prepare_s:.1f} s", flush=True)
    micro_steps = updates * SCALED["gradient_accumulation_steps"]
    config = recipe_config(data=tokens.path, name="gpt2_small_scaled", run_dir=os.path.join(work, "runs"),
                           export_dir=os.path.join(work, "exports"), backup_dir=os.path.join(work, "backups"),
                           backup_every_steps=50, total_steps=updates, warmup_steps=max(1, updates // 20),
                           epochs=micro_steps // SCALED["steps_per_epoch"], **SCALED)
    run = causal_lm(config)
    started = time.perf_counter()
    history = run.train(verbose=2)
    fit_s = time.perf_counter() - started
    val_loss = float(history.history["val_loss"][-1])
    baseline = unigram_loss(tokens.train, tokens.validation, tokens.vocabulary_size)
    tokens_seen = micro_steps * SCALED["batch_size"] * SCALED["sequence_length"]
    return {
        "scaled_parameters": int(run.model.count_params()),
        "scaled_updates": updates,
        "scaled_tokens_seen": tokens_seen,
        "scaled_val_loss": round(val_loss, 4),
        "scaled_unigram_loss": round(baseline, 4),
        "scaled_tokens_per_s": round(tokens_seen / fit_s),
        "scaled_fit_s": round(fit_s, 1),
        "prepare_s": round(prepare_s, 1),
        "prepare_mb_per_s": round(text_bytes / 1e6 / prepare_s, 2),  # SentencePiece's training included
    }


def plan(parameters, flops_per_token, activation_gib_per_sequence=None):
    """`activation_gib_per_sequence`: `{precision: GiB}` measured by `measure_full_steps`, or None."""
    """Tokens, steps, memory per device and expected hours of the recipe file's run on each `HARDWARE`."""
    config = recipe_config()
    tokens_per_update = config.batch_size * config.gradient_accumulation_steps * config.sequence_length
    budgets = {"recipe_file": config.total_steps * tokens_per_update, "nanogpt": NANOGPT_TOKENS}
    figures = {"tokens_per_update": tokens_per_update, "tokens_recipe_file": budgets["recipe_file"],
               "tokens_chinchilla": 20 * parameters, "state_gib_per_device":
               round(parameters * STATE_BYTES_PER_PARAMETER / 2**30, 2)}
    for name, (peak, chips, memory_gib) in HARDWARE.items():
        per_device = config.batch_size // chips
        figures[f"{name}_sequences_per_device"] = per_device
        for precision, gib in (activation_gib_per_sequence or {}).items():
            figures[f"{name}_memory_gib_per_device_{precision}"] = round(
                figures["state_gib_per_device"] + per_device * gib, 1)
        for budget, tokens in budgets.items():
            for mfu in ASSUMED_MFU:
                hours = tokens * flops_per_token / (chips * peak * mfu) / 3600
                figures[f"{name}_hours_{budget}_mfu_{mfu}"] = round(hours, 1)
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scaled-updates", type=int, default=300)
    parser.add_argument("--full-steps", type=int, default=4)
    parser.add_argument("--skip-full-steps", action="store_true")
    parser.add_argument("--child-full-step", nargs=4, metavar=("TOKENS", "BATCH", "STEPS", "PRECISION"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_full_step:
        tokens, batch_size, steps, precision = args.child_full_step
        print(json.dumps(full_step(tokens, int(batch_size), int(steps), precision)))
        return
    started = time.perf_counter()
    figures = model_figures()
    parameters, flops = figures[50304]
    print(f"GPT-2 small as recipes/gpt2_small.toml builds it: {parameters:,} parameters at 50,304 tokens "
          f"({figures[GPT2_VOCABULARY][0]:,} at GPT-2's 50,257, which has {GPT2_PARAMETERS:,}); "
          f"{flops / 1e6:.1f} MFLOP to train on one token", flush=True)
    result = {"cpu": cpu_model(), "parameters": parameters, "parameters_at_50257": figures[GPT2_VOCABULARY][0],
              "training_flops_per_token": flops}
    activations = None
    if not args.skip_full_steps:
        steps = measure_full_steps(args.full_steps)
        activations = {}
        result["pipeline_ms_per_batch"] = round(steps["pipeline_ms_per_batch"], 3)
        for precision in PRECISIONS:
            one, two = steps[precision, 1], steps[precision, 2]
            activations[precision] = round(two["peak_rss_gib"] - one["peak_rss_gib"], 2)
            result.update({
                f"full_step_s_{precision}_batch_1": one["step_s"], f"full_step_s_{precision}_batch_2": two["step_s"],
                f"full_first_step_s_{precision}": one["first_step_s"],
                f"full_rss_built_gib_{precision}": one["rss_built_gib"],
                f"full_peak_rss_gib_{precision}_batch_1": one["peak_rss_gib"],
                f"full_peak_rss_gib_{precision}_batch_2": two["peak_rss_gib"],
                f"activation_gib_per_sequence_{precision}": activations[precision],
                f"full_gflops_per_s_{precision}": round(flops * 1024 * 2 / two["step_s"] / 1e9, 1),
            })
    result.update(plan(parameters, flops, activations))
    with tempfile.TemporaryDirectory() as work:
        result.update(scaled_run(args.scaled_updates, work))
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
