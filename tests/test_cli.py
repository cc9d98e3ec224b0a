import os
import subprocess
import sys

import pytest

from kerastune.cli import load_recipe_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_shipped_recipe_files_parse():
    for name in os.listdir(os.path.join(ROOT, "recipes")):
        if name.endswith(".toml"):
            recipe, args = load_recipe_file(os.path.join(ROOT, "recipes", name))
            assert recipe and args


def test_recipe_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_recipe_file(str(tmp_path / "nope.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text('recipe = "nonsense"\n')
    with pytest.raises(ValueError, match="must set recipe = one of"):
        load_recipe_file(str(bad))


def test_cli_runs_a_tiny_recipe_end_to_end(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world, hello keras. " * 80)
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'recipe = "causal_lm"\nname = "tiny"\nnum_layers = 1\nnum_heads = 2\nhidden_dim = 16\n'
        "intermediate_dim = 32\nsequence_length = 16\nbatch_size = 4\nepochs = 1\nsteps_per_epoch = 2\n"
        "validation_batches = 1\nsample_tokens = 20\nmax_new_tokens = 8\njit_compile = false\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "kerastune", "run", str(recipe), f"--data={corpus}",
         f"--export-dir={tmp_path / 'sm'}", f"--run-dir={tmp_path / 'runs'}"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    # `python -m kerastune` exits with main()'s value exactly as the `kerastune` console script does.
    assert result.returncode == 0, result.stderr[-2000:]
    assert "validation loss" in result.stdout and "exported SavedModel" in result.stdout
    assert (tmp_path / "sm" / "tiny" / "1" / "saved_model.pb").exists()
    bad = subprocess.run([sys.executable, "-m", "kerastune", "run", str(recipe), "--epochs=lots"], capture_output=True, text=True)
    assert bad.returncode != 0 and "argument 'epochs' must be a int; received 'lots'" in bad.stderr
