"""Peer (not kerastune): nanoGPT's CPU Shakespeare-char run in plain PyTorch, timed like nanoGPT times it.

Written from nanoGPT's published description (karpathy/nanoGPT `model.py`, `train.py`,
`config/train_shakespeare_char.py` and the README's CPU command), not copied from it:

- model: token table + learned position table, pre-LayerNorm blocks (fused QKV `c_attn`, causal
  `scaled_dot_product_attention`, output `c_proj`; MLP 4x with exact GELU), final LayerNorm, head tied
  to the token table, no biases (`bias=False`), weights N(0, 0.02), residual projections
  N(0, 0.02 / sqrt(2 * n_layer));
- optimizer: AdamW, betas (0.9, 0.99), weight decay 0.1 on 2-D weights only, lr 1e-3 with 100 linear
  warm-up steps ((it + 1) / (warmup + 1)) and cosine decay to 1e-4 at `lr_decay_iters`, gradient
  clipping 1.0, `zero_grad(set_to_none=True)`;
- data: characters of input.txt (sorted unique characters as the vocabulary), first 90% train, last
  10% validation, random windows drawn each step (nanoGPT's `get_batch`);
- loop: float32 on the CPU (nanoGPT's `nullcontext` there), `--compile=False`, a validation estimate
  (`--eval-iters` random batches) every `--eval-interval` steps and at the end, `dt` per iteration
  measured as nanoGPT does (wall time between consecutive iterations, the `loss.item()` sync included,
  evaluation steps left out of the median).

    python benchmarks/peers/nanogpt_cpu.py --data ../shared/data/tinyshakespeare/input.txt
    python benchmarks/peers/nanogpt_cpu.py --nanogpt-dir ~/nanoGPT   # a real nanoGPT checkout instead

The last line printed is one JSON object: ms_per_iter (median), val_loss (mean of `--eval-iters`
random validation batches after the last step), train_loss, iters, torch version, cpu, source.
"""

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np

from side_by_side import cpu_model

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "..", "shared", "data", "tinyshakespeare", "input.txt")



def build_model(vocab_size, block_size, n_layer, n_head, n_embd):
    import torch
    from torch import nn
    from torch.nn import functional as F

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
            self.c_proj = nn.Linear(n_embd, n_embd, bias=False)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(x).split(n_embd, dim=2)
            # (B, heads, T, head_dim)
            q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(n_embd, bias=False)
            self.attn = SelfAttention()
            self.ln_2 = nn.LayerNorm(n_embd, bias=False)
            self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=False)
            self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=False)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab_size, n_embd)
            self.wpe = nn.Embedding(block_size, n_embd)
            self.blocks = nn.ModuleList([Block() for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(n_embd, bias=False)
            self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
            self.lm_head.weight = self.wte.weight  # tied
            for module in self.modules():
                if isinstance(module, (nn.Linear, nn.Embedding)):
                    nn.init.normal_(module.weight, 0.0, 0.02)
            for name, p in self.named_parameters():
                if name.endswith("c_proj.weight"):
                    nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))

        def forward(self, idx, targets):
            T = idx.shape[1]
            x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
            for block in self.blocks:
                x = block(x)
            logits = self.lm_head(self.ln_f(x))
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    return GPT()


def learning_rate(it, lr, min_lr, warmup, decay_iters):
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it > decay_iters:
        return min_lr
    ratio = (it - warmup) / (decay_iters - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def run_plain(args):
    import torch

    torch.manual_seed(args.seed)
    text = open(args.data, encoding="utf-8").read()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text], dtype=np.int64)
    n = int(0.9 * len(ids))
    splits = {"train": torch.from_numpy(ids[:n]), "val": torch.from_numpy(ids[n:])}
    T, B = args.block_size, args.batch_size

    def get_batch(split):
        data = splits[split]
        starts = torch.randint(len(data) - T, (B,))
        x = torch.stack([data[i : i + T] for i in starts])
        y = torch.stack([data[i + 1 : i + 1 + T] for i in starts])
        return x, y

    model = build_model(len(chars), T, args.n_layer, args.n_head, args.n_embd)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.99))

    @torch.no_grad()
    def estimate_loss():
        model.eval()
        out = {}
        for split in ("train", "val"):
            out[split] = float(np.mean([model(*get_batch(split)).item() for _ in range(args.eval_iters)]))
        model.train()
        return out

    step_ms, skip = [], set()
    x, y = get_batch("train")
    t0 = time.perf_counter()
    for it in range(args.max_iters + 1):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(it, 1e-3, 1e-4, 100, args.max_iters)
        if it % args.eval_interval == 0 or it == args.max_iters:
            losses = estimate_loss()
            print(f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}", flush=True)
            skip.add(it)
        if it == args.max_iters:
            break
        loss = model(x, y)
        x, y = get_batch("train")  # prefetch the next batch, as nanoGPT does
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        lossf = loss.item()
        t1 = time.perf_counter()
        if it not in skip and it >= args.warmup_iters:
            step_ms.append((t1 - t0) * 1000.0)
        t0 = t1
        if args.print_every and it % args.print_every == 0:
            print(f"iter {it}: loss {lossf:.4f}, time {(step_ms[-1] if step_ms else 0):.2f}ms", flush=True)
    return {
        "ms_per_iter": round(float(np.median(step_ms)), 2),
        "val_loss": round(losses["val"], 4),
        "train_loss": round(losses["train"], 4),
        "source": "benchmarks/peers/nanogpt_cpu.py (nanoGPT re-written in plain PyTorch)",
    }


ITER_LINE = re.compile(r"^iter (\d+): loss [\d.]+, time ([\d.]+)ms")
EVAL_LINE = re.compile(r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)")


def run_checkout(args):
    """Runs a user's nanoGPT checkout on the same input.txt and reads its own printed figures."""
    data_dir = os.path.join(args.nanogpt_dir, "data", "shakespeare_char")
    if not os.path.isfile(os.path.join(args.nanogpt_dir, "train.py")) or not os.path.isdir(data_dir):
        sys.exit(f"--nanogpt-dir {args.nanogpt_dir!r} is not a nanoGPT checkout (no train.py or data/shakespeare_char/)")
    shutil.copyfile(args.data, os.path.join(data_dir, "input.txt"))  # prepare.py then reads it, no download
    subprocess.run([sys.executable, "prepare.py"], cwd=data_dir, check=True)
    command = [
        sys.executable, "train.py", "config/train_shakespeare_char.py", "--device=cpu", "--compile=False",
        f"--eval_iters={args.eval_iters}", "--log_interval=1", f"--block_size={args.block_size}",
        f"--batch_size={args.batch_size}", f"--n_layer={args.n_layer}", f"--n_head={args.n_head}",
        f"--n_embd={args.n_embd}", f"--max_iters={args.max_iters}", f"--lr_decay_iters={args.max_iters}",
        "--dropout=0.0", f"--eval_interval={args.eval_interval}", "--always_save_checkpoint=False",
        "--out_dir=" + os.path.join(args.nanogpt_dir, "out-kerastune-peer"),
    ]
    process = subprocess.run(command, cwd=args.nanogpt_dir, capture_output=True, text=True)
    if process.returncode != 0:
        sys.exit(f"nanoGPT failed ({process.returncode}):\n{process.stderr[-3000:]}")
    step_ms, evals = [], {}
    for line in process.stdout.splitlines():
        if (m := EVAL_LINE.match(line)):
            evals[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
        elif (m := ITER_LINE.match(line)):
            it = int(m.group(1))
            if it >= args.warmup_iters and it % args.eval_interval != 0:
                step_ms.append(float(m.group(2)))
    last = evals[max(evals)]
    return {
        "ms_per_iter": round(float(np.median(step_ms)), 2),
        "val_loss": round(last[1], 4),
        "train_loss": round(last[0], 4),
        "source": f"nanoGPT checkout {os.path.abspath(args.nanogpt_dir)}",
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--nanogpt-dir", default=None, help="run this nanoGPT checkout's train.py instead")
    parser.add_argument("--max-iters", type=int, default=2000)
    parser.add_argument("--eval-iters", type=int, default=200)
    parser.add_argument("--eval-interval", type=int, default=250)
    parser.add_argument("--warmup-iters", type=int, default=50, help="steps left out of the median")
    parser.add_argument("--block-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=12)
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--print-every", type=int, default=200)
    args = parser.parse_args(argv)
    if not os.path.isfile(args.data):
        sys.exit(f"Tiny Shakespeare not found at {args.data!r}; pass --data PATH to input.txt")
    try:
        import torch
    except ImportError:
        sys.exit("the nanoGPT peer needs PyTorch: pip install -e '.[peers]'")
    started = time.perf_counter()
    result = run_checkout(args) if args.nanogpt_dir else run_plain(args)
    result.update({
        "iters": args.max_iters,
        "eval_iters": args.eval_iters,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu": cpu_model(),
    })
    print(json.dumps(result))


if __name__ == "__main__":
    main()
