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


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, or None where it cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


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
