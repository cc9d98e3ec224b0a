"""Text generation speed of kerastune's GPT: the key/value cache against recomputing the context.

    python benchmarks/generation.py [--model PATH.keras] [--prompt-length 16] [--new-tokens 200]
        [--batch-sizes 1 8] [--repeats 5] [--with-kerashub]

Times `GPT.generate` (greedy, one compiled decoding loop) on the same prompts two ways, in turns:
with the key/value cache (`use_cache=True`, the default: while the text fits in `sequence_length`,
each step runs one XLA-compiled token through the model, and past it the cropped window runs
XLA-compiled) and without it (`use_cache=False`: every step runs the whole context uncompiled, as
before the cache). Without `--model` it builds a random GPT-2-style model of
`--sequence-length` 256 (4 layers, 4 heads, 128 wide, 65 tokens; learned positions and biases, as
GPT-2); a random model decodes as much work per token as a trained one of the same size.
`--with-kerashub` also times KerasHub's `GPT2CausalLM` (its own cached, XLA-compiled decoding loop) of
the same size, random too, on the same prompt ids, as a peer in the same turns.

Prints progress, then as its last line one JSON object: per batch size B, `cached_tokens_per_s_bB`,
`recompute_tokens_per_s_bB`, `cache_speedup_bB` (new tokens per second, median of `--repeats`
turns), `kerashub_tokens_per_s_bB` and `speedup_vs_kerashub_bB` with `--with-kerashub`;
`same_tokens` (whether both kerastune paths produced identical ids), and the CPU (`cpu`, `cpu_cores`).
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from peers.side_by_side import cpu_cores, cpu_model  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a saved kerastune GPT (.keras); default: a random one of the size below")
    parser.add_argument("--sequence-length", type=int, default=256)
    parser.add_argument("--num-layers", type=int, default=4)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--vocabulary-size", type=int, default=65)
    parser.add_argument("--prompt-length", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=200)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--with-kerashub", action="store_true", help="also time KerasHub's GPT2CausalLM")
    args = parser.parse_args(argv)
    if args.prompt_length < 1 or args.new_tokens < 1 or args.repeats < 1 or min(args.batch_sizes) < 1:
        parser.error("--prompt-length, --new-tokens, --repeats and --batch-sizes must be positive")
    return args


def load_or_build_gpt(args):
    import keras

    from kerastune.models import GPT

    if args.model:
        return keras.saving.load_model(args.model)
    keras.utils.set_random_seed(args.seed)
    return GPT(vocabulary_size=args.vocabulary_size, sequence_length=args.sequence_length,
               num_layers=args.num_layers, num_heads=args.num_heads, hidden_dim=args.hidden_dim)


def kerashub_peer(model):
    """KerasHub's GPT2CausalLM with the same sizes as `model` (random weights, greedy), and a function
    that continues (batch, prompt_length) ids by `new_tokens` with KerasHub's own decoding loop."""
    import keras_hub

    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=model.vocabulary_size, num_layers=model.num_layers, num_heads=model.num_heads,
        hidden_dim=model.hidden_dim, intermediate_dim=model.intermediate_dim,
        max_sequence_length=model.sequence_length,
    )
    peer = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    peer.compile(sampler="greedy")

    def generate(prompts, new_tokens):
        batch, width = prompts.shape
        token_ids = np.zeros((batch, width + new_tokens), "int32")
        token_ids[:, :width] = prompts
        padding_mask = np.zeros(token_ids.shape, bool)
        padding_mask[:, :width] = True
        return peer.generate({"token_ids": token_ids, "padding_mask": padding_mask}, stop_token_ids=None)

    return generate


def main(argv=None):
    args = parse_args(argv)
    model = load_or_build_gpt(args)
    if args.prompt_length + args.new_tokens > model.sequence_length:
        print(f"note: {args.prompt_length} + {args.new_tokens} tokens exceed sequence_length="
              f"{model.sequence_length}; past it both paths recompute the cropped window (compiled with use_cache=True)",
              flush=True)
    peer = kerashub_peer(model) if args.with_kerashub else None
    rng = np.random.default_rng(args.seed)
    result, same = {}, True
    for batch in args.batch_sizes:
        prompts = rng.integers(0, model.vocabulary_size, (batch, args.prompt_length)).astype("int32")
        rows = prompts.tolist()
        runs = {
            "cached": lambda: model.generate(rows, max_new_tokens=args.new_tokens, use_cache=True),
            "recompute": lambda: model.generate(rows, max_new_tokens=args.new_tokens, use_cache=False),
        }
        if peer is not None:
            runs["kerashub"] = lambda: peer(prompts, args.new_tokens)
        outputs = {name: run() for name, run in runs.items()}  # the first call of each traces and compiles
        same = same and outputs["cached"] == outputs["recompute"]
        times = {name: [] for name in runs}
        for turn in range(args.repeats):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
            print(f"batch {batch}, turn {turn + 1}/{args.repeats}: "
                  + ", ".join(f"{name} {times[name][-1]:.3f} s" for name in runs), flush=True)
        seconds = {name: float(np.median(times[name])) for name in runs}
        for name in runs:
            result[f"{name}_tokens_per_s_b{batch}"] = round(batch * args.new_tokens / seconds[name], 1)
        result[f"cache_speedup_b{batch}"] = round(seconds["recompute"] / seconds["cached"], 2)
        if peer is not None:
            result[f"speedup_vs_kerashub_b{batch}"] = round(seconds["kerashub"] / seconds["cached"], 2)
    result.update({
        "same_tokens": bool(same),
        "sequence_length": model.sequence_length, "prompt_length": args.prompt_length, "new_tokens": args.new_tokens,
        "repeats": args.repeats, "cpu": cpu_model(), "cpu_cores": cpu_cores(),
    })
    print(json.dumps(result))


if __name__ == "__main__":
    main()
