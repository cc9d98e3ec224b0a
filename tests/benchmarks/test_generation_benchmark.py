"""`benchmarks/generation.py` end to end on a tiny GPT: its JSON line, and a saved model loaded by path."""

import json
import os
import sys

import pytest

from kerastune.models import GPT

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
sys.path.insert(0, os.path.abspath(BENCHMARKS))

import generation  # noqa: E402


def test_prints_both_paths_and_their_ratio_for_a_saved_gpt(tmp_path, capsys):
    model = GPT(vocabulary_size=7, sequence_length=12, num_layers=1, num_heads=2, hidden_dim=8)
    path = str(tmp_path / "tiny.keras")
    model.save(path)
    generation.main(["--model", path, "--prompt-length", "3", "--new-tokens", "5", "--batch-sizes", "1", "2",
                     "--repeats", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["same_tokens"] is True and result["sequence_length"] == 12
    for batch in (1, 2):
        cached, recompute = result[f"cached_tokens_per_s_b{batch}"], result[f"recompute_tokens_per_s_b{batch}"]
        assert cached > 0 and recompute > 0
        assert result[f"cache_speedup_b{batch}"] == pytest.approx(cached / recompute, rel=0.02)
    assert "kerashub_tokens_per_s_b1" not in result
    with pytest.raises(SystemExit):
        generation.main(["--new-tokens", "0"])
