"""`kerastune run | predict | list`: every shipped recipe file runs at a tiny size, bad input exits 2."""

import json
import os
import subprocess
import sys

import pytest

from kerastune.cli import main
from kerastune.recipe_files import RECIPE_KINDS, load_recipe_file, read_recipe_file
from tests.conftest import SHARED
from tests.plots.png import assert_picture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE_FILES = sorted(n for n in os.listdir(os.path.join(ROOT, "recipes")) if n.endswith(".toml"))
TINY_ENCODER = ["--num_layers=1", "--num_heads=2", "--hidden_dim=16", "--intermediate_dim=32"]
# A few steps each: run eagerly, where tracing Keras's steps takes longer than running them (the traced
# steps of every recipe kind are tested in tests/recipes/, and eager and traced agree there).
EAGER = ["--run_eagerly=true"]
FINE_TUNING = ["--epochs=1", "--batch_size=16", "--steps_per_execution=1", "--max_sequence_length=16",
               "--pad_to_multiple_of=16"] + EAGER


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    """A 1-layer, 16-wide kerastune backbone directory: it stands in for a recipe file's pretrained
    backbone so the file runs in seconds (loading the real MiniLM is tested in tests/models)."""
    from kerastune.models.backbone_directory import save_backbone_directory
    from kerastune.models.backbones import load_backbone

    directory = tmp_path_factory.mktemp("cli_backbone")
    words = "the a film was good bad it is of and eu rejects german call to boycott british lamb".split()
    (directory / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","] + words))
    encoder, tokenizer = load_backbone("kerastune_bert", vocabulary=str(directory / "vocab.txt"), num_layers=1,
                                       num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=32)
    return save_backbone_directory(encoder, tokenizer, str(directory / "backbone"))


def tiny_settings(kind, directory, backbone=None):
    """`--key=value` flags that shrink a recipe file of `kind` to seconds (small data written to `directory`)."""
    if kind == "causal_lm":
        return TINY_ENCODER + EAGER + ["--sequence_length=16", "--batch_size=4", "--epochs=1", "--steps_per_epoch=2",
                                       "--validation_batches=1", "--sample_tokens=8", "--max_new_tokens=4",
                                       f"--run_dir={directory / 'runs'}"]
    if kind == "text_classifier":
        lines = open(SHARED / "data" / "sst2" / "dev.tsv", encoding="utf-8").read().splitlines()[:25]
        (directory / "dev.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return FINE_TUNING + [f"--backbone={backbone}", "--max_train_examples=48", f"--validation={directory / 'dev.tsv'}"]
    if kind == "token_classifier":
        blocks = open(SHARED / "data" / "conll2003" / "valid.txt", encoding="utf-8").read().split("\n\n")[:20]
        (directory / "valid.txt").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
        return FINE_TUNING + [f"--backbone={backbone}", "--max_train_sentences=48",
                              f"--validation={directory / 'valid.txt'}"]
    if kind == "sentence_encoder":  # AG News topics: texts of a topic drawn as pairs
        for split, rows in (("train_subset", 49), ("test", 25)):
            lines = open(SHARED / "data" / "agnews" / f"{split}.tsv", encoding="utf-8").read().splitlines()[:rows]
            (directory / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return FINE_TUNING + [f"--backbone={backbone}", f"--train={directory / 'train_subset.tsv'}",
                              f"--validation={directory / 'test.tsv'}"]
    if kind == "question_answering":  # CoNLL sentences read as reading comprehension (format="conll")
        blocks = open(SHARED / "data" / "conll2003" / "valid.txt", encoding="utf-8").read().split("\n\n")[:12]
        (directory / "valid.txt").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
        return FINE_TUNING + [f"--backbone={backbone}", f"--train={directory / 'valid.txt'}",
                              f"--validation={directory / 'valid.txt'}", "--max_sequence_length=32", "--stride=8",
                              "--max_question_length=12"]
    if kind == "image_classifier":
        return EAGER + ["--epochs=1", "--hidden_dim=16", "--max_train_examples=256"]
    if kind == "sequence_to_sequence":  # texts whose typos the model learns to correct (noise="typos")
        lines = open(SHARED / "data" / "sst2" / "dev.tsv", encoding="utf-8").read().splitlines()[:25]
        (directory / "dev.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return EAGER + ["--epochs=1", "--batch_size=8", "--num_layers=1", "--num_heads=2", "--hidden_dim=16",
                        f"--train={directory / 'dev.tsv'}", f"--validation={directory / 'dev.tsv'}"]
    if kind == "preset_causal_lm":  # a tiny GPT-2 preset stands in for the download, colour questions for Alpaca
        from tests.tiny_causal_lm import tiny_gpt2, write_tiny_preset

        rows = [{"instruction": f"colour of {thing}?", "input": "", "output": colour}
                for thing, colour in (("sky", "blue"), ("grass", "green"))] * 4
        (directory / "pairs.json").write_text(json.dumps(rows), encoding="utf-8")  # Alpaca's layout: one JSON array
        preset = write_tiny_preset(directory / "gpt2", lambda: tiny_gpt2(max_sequence_length=256))  # Alpaca's prompt
        return EAGER + [f"--preset={preset}", f"--data={directory / 'pairs.json'}", "--validation_fraction=0.25",
                        "--sequence_length=192", "--batch_size=2", "--lora_rank=2", "--max_new_tokens=4"]
    if kind == "preset_seq2seq":  # a tiny BART preset stands in for the download, two dialogues for SAMSum
        from tests.tiny_causal_lm import write_tiny_preset
        from tests.tiny_seq2seq_lm import tiny_bart

        rows = [{"dialogue": f"Ann: what colour is the {thing}?\nBob: {colour}.",
                 "summary": f"The {thing} is {colour}."} for thing, colour in (("sky", "blue"), ("grass", "green"))] * 4
        (directory / "dialogues.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        preset = write_tiny_preset(directory / "bart", tiny_bart)
        return EAGER + [f"--preset={preset}", f"--data={directory / 'dialogues.jsonl'}",
                        f"--validation={directory / 'dialogues.jsonl'}", "--max_source_length=64",
                        "--max_target_length=32", "--batch_size=2", "--lora_rank=2", "--epochs=1",
                        "--pad_to_multiple_of=8"]
    assert kind == "masked_lm", kind
    (directory / "text.txt").write_text("\n\n".join(f"the film number {i} was good. it was long." for i in range(60)))
    return TINY_ENCODER + EAGER + [f"--data={directory / 'text.txt'}", "--vocabulary_size=60", "--sequence_length=32",
                                   "--batch_size=8", "--epochs=1", "--steps_per_epoch=2"]


def tiny_token_directory(directory):
    """What `kerastune prepare` writes for a recipe file's token directory, from a few hundred bytes of text."""
    (directory / "corpus.txt").write_text("the film was good. it was long. The end.\n" * 40, encoding="utf-8")
    assert main(["prepare", str(directory / "corpus.txt"), str(directory / "tokens"), "--tokenizer=character"]) == 0
    return directory / "tokens"


def needs_shared(settings):
    for value in settings.values():
        if isinstance(value, str) and value.startswith("../shared/"):
            for part in value.split(","):
                if not os.path.exists(os.path.join(ROOT, part)):
                    pytest.skip(f"{part} is absent (shared data/models are not in this checkout)")


@pytest.mark.parametrize("name", RECIPE_FILES)
def test_every_recipe_file_runs_through_the_cli_at_a_tiny_size(name, tmp_path, monkeypatch, capsys, tiny_backbone):
    path = os.path.join(ROOT, "recipes", name)
    kind, settings = read_recipe_file(path)
    needs_shared(settings)
    monkeypatch.chdir(ROOT)  # recipe files name their data relative to the repository root
    flags = tiny_settings(kind, tmp_path, tiny_backbone) + [f"--export_dir={tmp_path / 'exports'}"]
    if kind == "causal_lm" and settings["data"].startswith("tokens/"):  # a token directory the user prepares first
        flags += [f"--data={tiny_token_directory(tmp_path)}", f"--backup_dir={tmp_path / 'backups'}"]
    if kind == "image_classifier":  # reads no file: run where logging_dir's default, logs/, lands in tmp_path
        monkeypatch.chdir(tmp_path)
    else:
        flags.append(f"--logging_dir={tmp_path / 'logs'}")
    _, config = load_recipe_file(path, dict(f[2:].split("=", 1) for f in flags))  # keys checked, not just parsed
    assert config.name == settings["name"]
    assert main(["run", path, *flags]) == 0, capsys.readouterr().err
    version = tmp_path / "exports" / settings["name"] / "1"
    marker = "kerastune_backbone.json" if kind == "masked_lm" else "saved_model.pb"
    assert (version / marker).is_file(), os.listdir(tmp_path / "exports" / settings["name"])
    if kind == "sentence_encoder":
        capsys.readouterr()
        texts = ["stocks fell on wall street", "shares dropped in new york", "the team won the cup"]
        assert main(["predict", str(tmp_path / "exports" / settings["name"]), *texts]) == 0
        lines = capsys.readouterr().out.strip().split("\n")
        assert [line.split("\t")[0] for line in lines] == texts
        assert all("\tnearest: " in line and "(cosine " in line for line in lines)
        assert json.load(open(version / "embedding.json"))["dim"] == 16
    if kind == "question_answering":
        capsys.readouterr()
        question, context = "Which person is named in the text?", "EU rejects German call to boycott British lamb ."
        assert main(["predict", str(tmp_path / "exports" / settings["name"]), f"{question}\t{context}"]) == 0
        answer, score, echoed = capsys.readouterr().out.strip().split("\t")
        assert (answer in context or answer == "(no answer)") and float(score) and echoed == question
        assert json.load(open(version / "question_answering.json"))["stride"] == 8
        assert main(["predict", str(tmp_path / "exports" / settings["name"]), "a question without its context"]) == 2
        assert "pass each as 'question<TAB>context'" in capsys.readouterr().err
    if kind == "sequence_to_sequence":
        capsys.readouterr()
        assert main(["predict", str(tmp_path / "exports" / settings["name"]), "the flim was good", "a secnd one"]) == 0
        assert len(capsys.readouterr().out.rstrip("\n").split("\n")) == 2  # one written text per source
        assert set(json.load(open(version / "evaluation.json"))) >= {"exact_match", "character_error_rate", "bleu"}
    if kind in ("text_classifier", "token_classifier", "causal_lm"):
        capsys.readouterr()
        text = "the film was good" if kind != "token_classifier" else "EU rejects German call"
        assert main(["predict", str(tmp_path / "exports" / settings["name"]), text]) == 0
        answer = capsys.readouterr().out.strip()
        if kind == "text_classifier":
            label, probability, echoed = answer.split("\t")
            names = json.load(open(version / "label_names.json"))
            assert label in names and 1 / len(names) <= float(probability) <= 1 and echoed == text
        elif kind == "token_classifier":
            assert [pair.split("/")[0] for pair in answer.split()] == text.split()
        else:
            assert answer.startswith(text) and len(answer) > len(text)
            pretrained = tmp_path / "runs" / settings["name"] / "gpt.keras"  # what --init_from fine-tunes
            assert main(["run", path, *flags, f"--init_from={pretrained}", "--peft=lora", "--name=lora"]) == 0
            assert (tmp_path / "exports" / "lora" / "1" / "saved_model.pb").is_file()
    run_folder = tmp_path / "logs" / settings["name"]  # where logging_dir says: TensorBoard logs and pictures
    assert list(run_folder.rglob("events.out.tfevents.*")), sorted(map(str, run_folder.rglob("*")))
    pictures = {"text_classifier": ["confusion_matrix.png"], "token_classifier": ["entity_f1.png"],
                "image_classifier": ["confusion_matrix.png"]}.get(kind, []) + ["training_curves.png"]
    for picture in pictures:
        assert_picture(run_folder / picture)
        if kind != "masked_lm":  # copied beside the SavedModel too
            assert (version / picture).read_bytes() == (run_folder / picture).read_bytes()


def test_prepare_writes_a_token_directory_once(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog.\n" * 100, encoding="utf-8")
    directory = str(tmp_path / "tokens")
    assert main(["prepare", str(corpus), directory, "--tokenizer=character", "--validation_fraction=0.2"]) == 0
    out = capsys.readouterr().out
    assert "3,600 training and 900 validation tokens (uint16, CharacterTokenizer of 29 tokens)" in out
    assert main(["prepare", str(corpus), directory, "--tokenizer=character"]) == 2
    assert "already exists; a token directory is never overwritten" in capsys.readouterr().err
    assert main(["prepare", str(tmp_path / "none.txt"), str(tmp_path / "other")]) == 2
    assert "none.txt' does not exist" in capsys.readouterr().err and not os.path.exists(tmp_path / "other")


def test_list_names_every_recipe_file_with_its_kind(capsys):
    assert main(["list", os.path.join(ROOT, "recipes")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == RECIPE_FILES
    assert all(line.split()[1] in RECIPE_KINDS for line in lines)
    assert {line.split()[1] for line in lines} == set(RECIPE_KINDS)  # every kind has a recipe file


@pytest.mark.parametrize(
    "argv,message",
    [
        (["run", "recipes/pydoc_gpt.toml", "--epoch=3"], "Unknown argument 'epoch' for CausalLMConfig"),
        (["run", "recipes/pydoc_gpt.toml", "--epochs=lots"], "'epochs' must be an int. Received: epochs='lots'"),
        (["run", "recipes/pydoc_gpt.toml", "epochs=3"], "Settings are given as --key=value. Received: 'epochs=3'"),
        (["run", "recipes/missing.toml"], "The recipe file does not exist"),
        (["predict", "recipes", "a text"], "is not a SavedModel (no saved_model.pb)"),
        (["predict", "no/such/export", "a text"], "There is no such directory"),
        (["list", "no_such_folder"], "There is no recipe folder here"),
    ],
)
def test_bad_input_is_a_clear_message_and_exit_status_2(argv, message, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_recipe_files(tmp_path, capsys):
    cases = {
        "kind.toml": ('recipe = "nonsense"\n', "must set recipe = one of"),
        "toml.toml": ("recipe = \n", "is not valid TOML"),
        "type.toml": ('recipe = "causal_lm"\nepochs = "two"\n', "key in " + str(tmp_path / "type.toml")),
        "missing.toml": ('recipe = "text_classifier"\ntrain = "x.tsv"\n', "misses a required key"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_text(content)
        assert main(["run", str(tmp_path / name)]) == 2
        assert message in capsys.readouterr().err, name


def test_console_entry_point_exits_with_the_status(tmp_path):
    """As a user runs it: a fresh `python -m kerastune` process, exit status and stderr."""
    result = subprocess.run([sys.executable, "-m", "kerastune", "run", str(tmp_path / "none.toml")],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "The recipe file does not exist" in result.stderr


def test_listing_and_bad_files_answer_without_starting_tensorflow(tmp_path):
    code = ("import sys; from kerastune.cli import main; "
            f"codes = [main(['list']), main(['run', {str(tmp_path / 'none.toml')!r}]), "
            f"main(['predict', {str(tmp_path)!r}, 'a text'])]; "
            "print(codes, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip().splitlines()[-1] == "[0, 2, 2] False False", result.stderr[-2000:]


def test_tune_searches_four_trials_then_exports_the_best_trials_model(tmp_path, monkeypatch, capsys, tiny_backbone):
    import csv

    from kerastune.recipes.hyperparameter_search import parse_search_space

    path = os.path.join(ROOT, "recipes", "sst2_minilm.toml")
    needs_shared({"data": "../shared/data/sst2/dev.tsv"})
    monkeypatch.chdir(ROOT)
    flags = tiny_settings("text_classifier", tmp_path, tiny_backbone) + [
        f"--export_dir={tmp_path / 'exports'}", f"--logging_dir={tmp_path / 'logs'}"]
    search = ["--search", "learning_rate=1e-3,3e-2", "--search", "pooling=mean,cls"]
    assert main(["tune", path, *search, "--max_trials=4", *flags]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    name = read_recipe_file(path)[1]["name"]
    rows = list(csv.DictReader(open(tmp_path / "logs" / name / "search" / "trials.csv")))
    assert len(rows) == 4 and {(r["learning_rate"], r["pooling"]) for r in rows} == {
        (lr, p) for lr in ("0.001", "0.03") for p in ("mean", "cls")}  # 4 trials: the 4 combinations
    best = max(rows, key=lambda r: float(r["val_accuracy"]))
    # the best trial's own model is exported (not trained again), under the recipe's name: it scores its trial's score
    evaluation = json.load(open(tmp_path / "exports" / name / "1" / "evaluation.json"))
    assert abs(evaluation["accuracy"] - float(best["val_accuracy"])) < 1e-6, (evaluation, rows)
    exported = json.load(open(tmp_path / "exports" / name / "1" / "config.json"))
    assert (exported["pooling"], exported["name"]) == (best["pooling"], name)
    assert_picture(tmp_path / "logs" / name / "training_curves.png")  # the best trial's curves, as `run` draws them
    assert "val_accuracy" in out.splitlines()[next(i for i, l in enumerate(out.splitlines()) if "trial_id" in l)]
    for items, message in ((["learning_rate"], "key=choice1,choice2"), (["epoch=1,2"], "Unknown search key 'epoch'"),
                           (["epochs=1,x"], "'epochs' must be an int"), (["epochs=2"], "at least two choices"),
                           (["epochs=2,2"], "choices must differ")):
        with pytest.raises(ValueError, match=message):
            parse_search_space("text_classifier", items)
    assert main(["tune", os.path.join(ROOT, "recipes", "pydoc_gpt.toml"), "--search", "epochs=1,2"]) == 2
    assert "takes the recipe kinds text_classifier, token_classifier" in capsys.readouterr().err
