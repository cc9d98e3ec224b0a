"""The side-by-side peer harness: figures come from the peer's own run, failures never pass silently."""

import json
import math
import os
import sys

import pytest

PEERS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "peers")
sys.path.insert(0, os.path.abspath(PEERS))

import side_by_side  # noqa: E402


def _script(tmp_path, body):
    path = tmp_path / "fake_peer.py"
    path.write_text(body)
    return str(path)


def test_run_peer_returns_the_json_its_last_line_prints(tmp_path, capsys):
    script = _script(tmp_path, "print('iter 1: loss 2.0')\nimport json\nprint(json.dumps({'ms_per_iter': 12.5}))\n")
    assert side_by_side.run_peer(script, ["--x", 1]) == {"ms_per_iter": 12.5}
    assert "peer| iter 1: loss 2.0" in capsys.readouterr().out


@pytest.mark.parametrize("body", ["import sys\nprint('{\"a\": 1}')\nsys.exit(3)\n", "print('no json here')\n"])
def test_run_peer_raises_with_the_peers_output_when_it_fails(tmp_path, body):
    with pytest.raises(RuntimeError, match="fake_peer.py failed"):
        side_by_side.run_peer(_script(tmp_path, body), [])


def test_nanogpt_schedule_warms_up_then_decays_by_cosine_to_min_lr():
    import nanogpt_cpu

    lr = lambda it: nanogpt_cpu.learning_rate(it, 1e-3, 1e-4, 100, 2000)  # noqa: E731
    assert lr(0) == pytest.approx(1e-3 / 101)
    assert lr(99) == pytest.approx(1e-3 * 100 / 101)
    assert lr(100) == pytest.approx(1e-3)
    assert lr(1050) == pytest.approx(1e-4 + 0.5 * (1e-3 - 1e-4))  # half way: cos(pi / 2) = 0
    assert lr(2000) == pytest.approx(1e-4) and lr(2500) == 1e-4


def test_nanogpt_model_has_nanogpts_parameter_count_and_tied_head():
    pytest.importorskip("torch", reason="the nanoGPT peer needs PyTorch (pip install -e '.[peers]')")
    import torch
    import nanogpt_cpu

    V, T, L, D = 65, 64, 4, 128
    model = nanogpt_cpu.build_model(V, T, L, 4, D)
    # wte + wpe + per block (2 bias-free LayerNorms, c_attn, attn c_proj, c_fc, mlp c_proj) + ln_f; head tied.
    expected = V * D + T * D + L * (2 * D + 3 * D * D + D * D + 4 * D * D + 4 * D * D) + D
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.lm_head.weight is model.wte.weight
    idx = torch.randint(0, V, (2, T))
    loss = model(idx, torch.randint(0, V, (2, T)))
    assert abs(loss.item() - math.log(V)) < 0.5  # N(0, 0.02) weights: about uniform at the start


def test_cpu_cores_counts_the_cores_this_process_may_use(monkeypatch):
    assert side_by_side.cpu_cores() == len(os.sched_getaffinity(0))
    monkeypatch.delattr(os, "sched_getaffinity")  # macOS and Windows have no affinity call
    assert side_by_side.cpu_cores() == os.cpu_count()


def _cpuinfo(tmp_path, blocks):
    path = tmp_path / "cpuinfo"
    path.write_text("\n\n".join("\n".join(f"{k}\t: {v}" for k, v in block.items()) for block in blocks) + "\n")
    return str(path)


def test_cpu_model_tells_apart_processors_that_share_a_model_name(tmp_path):
    """Three processors have reported "AMD EPYC"; family, model and ISA flags separate them."""
    avx2_only = {"processor": 0, "model name": "AMD EPYC", "cpu family": 23, "model": 49,
                 "flags": "fpu sse avx fma avx2 bmi2"}
    zen5 = {"processor": 0, "model name": "AMD EPYC", "cpu family": 26, "model": 2,
            "flags": "avx2 avx512bw avx512_bf16 fma avx512f avx512_vnni avx_vnni"}
    assert side_by_side.cpu_model(_cpuinfo(tmp_path, [avx2_only, {**zen5, "processor": 1}])) == (
        "AMD EPYC (family 23 model 49; avx2 fma)"  # the first processor's block only
    )
    assert side_by_side.cpu_model(_cpuinfo(tmp_path, [zen5])) == (
        "AMD EPYC (family 26 model 2; avx2 fma avx_vnni avx512f avx512_vnni avx512_bf16)"
    )
    xeon = {"model name": "Intel(R) Xeon(R) Processor", "cpu family": 6, "model": 143,
            "flags": "avx2 fma avx512f amx_bf16 amx_tile amx_int8"}
    assert side_by_side.cpu_model(_cpuinfo(tmp_path, [xeon])).endswith("avx2 fma avx512f amx_bf16 amx_int8)")
    old = {"model name": "Old CPU", "flags": "sse sse2"}
    assert side_by_side.cpu_model(_cpuinfo(tmp_path, [old])) == "Old CPU (no AVX2)"
    assert side_by_side.cpu_model(_cpuinfo(tmp_path, [{"processor": 0, "BogoMIPS": 50}])) is None  # no name (Arm)
    assert side_by_side.cpu_model(str(tmp_path / "missing")) is None


def test_kernel_environment_records_only_the_variables_that_are_set(monkeypatch):
    for name in side_by_side.KERNEL_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    assert side_by_side.kernel_environment() == {}
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX2")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    monkeypatch.setenv("UNRELATED", "1")
    assert side_by_side.kernel_environment() == {"XLA_FLAGS": "--xla_cpu_max_isa=AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
