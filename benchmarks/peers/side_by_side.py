"""Running a peer benchmark (nanoGPT, the Hugging Face Trainer) in a subprocess, right after kerastune's run.

A peer figure is only ever measured: `run_peer` starts the peer's script with this Python, forwards
its progress lines, and returns the JSON object its last line prints. Both runs then sit side by
side in one JSON object, with the CPU they ran on. Imports nothing heavy (the peers run without
TensorFlow).
"""

import json
import os
import subprocess
import sys

PEERS = os.path.dirname(os.path.abspath(__file__))


# The instruction-set extensions that decide which matmul and elementwise kernels TensorFlow, XLA, oneDNN
# and PyTorch pick (Linux /proc/cpuinfo names). "AMD EPYC" alone has named an AVX2-only processor and two
# with AVX-512, whose GPT benchmark steps took 71 against 25-37 ms; these tell them apart.
KERNEL_ISA_FLAGS = (
    "avx2", "fma", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8",
)

# Environment variables that hold TensorFlow, XLA, oneDNN, MKL or PyTorch to other kernels or thread counts.
KERNEL_ENVIRONMENT = (
    "XLA_FLAGS", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS",
    "TF_ENABLE_ONEDNN_OPTS", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
)


def cpu_model(cpuinfo_path="/proc/cpuinfo"):
    """The CPU as `lscpu` names it, with its family, model and kernel-deciding extensions, or None.

    E.g. "AMD EPYC (family 26 model 2; avx2 fma avx512f avx512_vnni avx512_bf16)". Reads the first
    processor's block of /proc/cpuinfo (`KERNEL_ISA_FLAGS` says which flags are named); None where
    the file cannot be read (macOS, Windows) or names no model (Arm). Without a "flags" line only the
    name and numbers are given.
    """
    try:
        with open(cpuinfo_path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    fields = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name")
    if not name:
        return None
    details = []
    if fields.get("cpu family") and fields.get("model"):
        details.append(f"family {fields['cpu family']} model {fields['model']}")
    if "flags" in fields:
        present = set(fields["flags"].split())
        details.append(" ".join(flag for flag in KERNEL_ISA_FLAGS if flag in present) or "no AVX2")
    return f"{name} ({'; '.join(details)})" if details else name


def kernel_environment():
    """The `KERNEL_ENVIRONMENT` variables this process runs with ({} when none is set): a run held to
    AVX2 kernels (`XLA_FLAGS=--xla_cpu_max_isa=AVX2 ...`) records it beside its figures."""
    return {name: os.environ[name] for name in KERNEL_ENVIRONMENT if name in os.environ}


def cpu_cores():
    """The number of cores this process may run on (its affinity), or all the machine's where unknown."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def run_peer(script, arguments, timeout=None):
    """Runs `benchmarks/peers/<script>` with `arguments`; returns its last line's JSON object.

    Raises RuntimeError (with the peer's last output) when it fails or prints no JSON last line,
    so a missing peer never turns into a typed-in figure.
    """
    command = [sys.executable, os.path.join(PEERS, script), *map(str, arguments)]
    print("peer: " + " ".join(command), flush=True)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if not line.startswith("{"):
            print("  peer| " + line.rstrip("\n"), flush=True)
    code = process.wait(timeout=timeout)
    last = next((line for line in reversed(lines) if line.strip()), "")
    if code != 0 or not last.startswith("{"):
        tail = "\n".join(lines[-20:])
        raise RuntimeError(f"peer {script} failed (exit {code}); its last output:\n{tail}")
    return json.loads(last)
