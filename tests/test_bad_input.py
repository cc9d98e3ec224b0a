"""Bad input everywhere a user touches it, in one table: each case says what was wrong, where, and
how to fix it, and raises before anything is trained or written.

Each row: (id, what is called, the exception type, fragments the message must hold). The callables
take `tmp_path`; files they need are written there.
"""

import json

import numpy as np
import pytest

from kerastune.cli import main, parse_overrides
from kerastune.data.conll import read_conll
from kerastune.data.labelled_text import read_labelled_text
from kerastune.recipes.causal_lm import CausalLMConfig, causal_lm
from kerastune.recipes.config import resolve
from kerastune.recipes.text_classifier import TextClassifierConfig, text_classifier
from kerastune.data.prompt_pattern import PromptPattern
from kerastune.recipes.continual import ContinualConfig
from kerastune.recipes.prompt_classifier import PromptClassifierConfig, prompt_classifier
from kerastune.training import WarmupLinearDecay, ema_momentum_for, layerwise_decay_multipliers


def write(tmp_path, name, content):
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return str(path)


def labelled(name, content, **kwargs):
    return lambda tmp: read_labelled_text(write(tmp, name, content), **kwargs)


def conll(content, **kwargs):
    return lambda tmp: read_conll(write(tmp, "ner.txt", content), **kwargs)


def corpus(content):
    return lambda tmp: causal_lm(data=write(tmp, "corpus.txt", content), num_layers=1, num_heads=1, hidden_dim=8,
                                 intermediate_dim=16, sequence_length=8, batch_size=2, steps_per_epoch=1)


def recipe_file(content, *flags):
    def run(tmp):
        status = main(["run", write(tmp, "r.toml", content), *flags])
        assert status == 2
        raise SystemExit(status)  # the message went to stderr; checked through capsys below
    return run


def write_hf_config(tmp):
    (tmp / "hf").mkdir()
    write(tmp, "hf/config.json", json.dumps({"model_type": "bert"}))
    return str(tmp / "hf")


def text_task(tmp, backbone="kerastune_bert", **settings):
    vocab = write(tmp, "vocab.txt", "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad"]))
    train = write(tmp, "train.tsv", "text\tlabel\ngood\tpos\nbad\tneg\n")
    return text_classifier(backbone, train, vocabulary=vocab, num_layers=1, num_heads=1, hidden_dim=8,
                           intermediate_dim=16, **settings)


CASES = [
    # data files
    ("missing data file", lambda tmp: read_labelled_text(str(tmp / "none.tsv")), FileNotFoundError, ["none.tsv"]),
    ("GBK bytes", labelled("gbk.tsv", "text\tlabel\n".encode() + "好\t1\n".encode("gbk")), ValueError,
     ["gbk.tsv", "line 2", "UTF-8"]),
    ("no label column", labelled("x.tsv", "text\ty\na\t1\n"), ValueError, ["x.tsv", "column 'label'", "missing column"]),
    ("empty text", labelled("x.tsv", "text\tlabel\na\t1\n \t0\n"), ValueError, ["line 3", "empty text"]),
    ("GBK Chinese line", labelled("reviews.tsv", "text\tlabel\n房间很干净\t1\n".encode() + "房间太小。\t0\n".encode("gbk")),
     ValueError, ["reviews.tsv", "line 3", "not valid UTF-8", "GBK / GB18030", "iconv -f gb18030 -t utf-8"]),
    ("ideographic-space text", labelled("reviews.tsv", "text\tlabel\n房间很干净\t1\n\u3000\t0\n"), ValueError,
     ["reviews.tsv", "line 3", "column 'text'", "empty text"]),
    ("GBK causal LM corpus", lambda tmp: causal_lm(
        data=write(tmp, "reviews.tsv", "text\tlabel\n很好\t1\n".encode() + "太吵\t0\n".encode("gbk")), num_layers=1,
        num_heads=1, hidden_dim=8, intermediate_dim=16, sequence_length=8, batch_size=2, steps_per_epoch=1),
     ValueError, ["reviews.tsv", "line 3", "GBK / GB18030"]),
    ("label outside the set", labelled("x.tsv", "text\tlabel\na\t1\nb\t7\n", label_names=["0", "1"]), ValueError,
     ["line 3", "outside the label set"]),
    ("header only", labelled("x.tsv", "text\tlabel\n"), ValueError, ["x.tsv", "no examples"]),
    ("extra field", labelled("x.tsv", "text\tlabel\na\tb\t1\n"), ValueError, ["line 2", "3 fields"]),
    ("JSONL without a label", labelled("x.jsonl", '{"text": "a", "label": 1}\n{"text": "b"}\n'), ValueError,
     ["line 2", "missing key"]),
    ("one class to train on", lambda tmp: read_labelled_text(write(tmp, "one.tsv", "text\tlabel\na\tpos\nb\tpos\n"))
     .check_classes(), ValueError, ["one.tsv", "column 'label'", "needs at least two"]),
    ("CoNLL word without a tag", conll("EU\tB-ORG\nrejects\n"), ValueError, ["ner.txt", "line 2", "has no tag"]),
    ("CoNLL unknown tag", conll("EU\tO\nParis\tB-LOC\n", tag_names=["O", "B-PER", "I-PER"]), ValueError,
     ["line 2", "unknown tag 'B-LOC'"]),
    ("CoNLL IOB1 tags", conll("EU\tO\nrejects\tI-ORG\n"), ValueError, ["line 2", "not valid BIO"]),
    ("CoNLL empty file", conll("\n\n"), ValueError, ["ner.txt", "no sentences"]),
    # text for a language model
    ("empty corpus", corpus("   \n"), ValueError, ["empty"]),
    ("Latin-1 corpus", corpus("caf\xe9 au lait\n".encode("latin-1") * 50), ValueError,
     ["not valid UTF-8", "line 1, column 4"]),
    # settings (keywords, flags, recipe files)
    ("unknown setting", lambda tmp: resolve(TextClassifierConfig, {"backbone": "b", "train": "t", "epoch": 2}),
     ValueError, ["Unknown argument 'epoch'", "known keys", "epochs"]),
    ("int setting given text", lambda tmp: resolve(CausalLMConfig, {"epochs": "two"}), ValueError,
     ["'epochs' must be an int", "Received: epochs='two'"]),
    ("bool setting given text", lambda tmp: resolve(CausalLMConfig, {"tie_embeddings": "maybe"}), ValueError,
     ["'tie_embeddings' must be a bool", "Received: tie_embeddings='maybe'"]),
    ("flag without =", lambda tmp: parse_overrides(["--epochs", "3"]), ValueError,
     ["--key=value", "Received: '--epochs'"]),
    ("sampler unknown", lambda tmp: CausalLMConfig(sampler="beam"), ValueError, ["sampler must be one of", "beam"]),
    ("top_p above 1", lambda tmp: CausalLMConfig(top_p=1.5), ValueError, ["top_p must be a float in (0, 1]"]),
    ("weight average momentum 1.5", lambda tmp: ema_momentum_for(1.5, 100), ValueError,
     ["ema_momentum must be in [0, 1)", "Received: ema_momentum=1.5"]),
    ("layer-wise decay 0", lambda tmp: layerwise_decay_multipliers(None, 0.0), ValueError, ["in (0, 1]"]),
    ("warmup longer than the run", lambda tmp: WarmupLinearDecay(1e-3, total_steps=10, warmup_steps=20),
     ValueError, ["warmup_steps must be in [0, total_steps=10]"]),
    ("gradient accumulation 0", lambda tmp: text_task(tmp, gradient_accumulation_steps=0), ValueError,
     ["gradient_accumulation_steps must be an int >= 1", "Received: gradient_accumulation_steps=0"]),
    ("unknown pooling", lambda tmp: text_task(tmp, pooling="max"), ValueError, ["pooling", "'max'"]),
    ("unknown peft method", lambda tmp: text_task(tmp, peft="prefixx"), ValueError,
     ["peft must be one of ('lora', 'dora', 'adapter', 'prefix', 'prompt') or None", "Received: peft='prefixx'"]),
    ("peft targets matching nothing", lambda tmp: text_task(tmp, peft="lora", peft_targets="qkv"), ValueError,
     ["No projection of", "matches targets='qkv'", "Its projections are:", "self_attention/query"]),
    ("LoRA rank 0", lambda tmp: text_task(tmp, peft="lora", lora_rank=0), ValueError,
     ["rank must be a positive int. Received: rank=0"]),
    ("unknown adversarial method", lambda tmp: text_task(tmp, adversarial="fgsm"), ValueError,
     ["adversarial must be one of ('fgm', 'pgd')", "Received: adversarial='fgsm'"]),
    ("adversarial epsilon 0", lambda tmp: text_task(tmp, adversarial="pgd", adversarial_epsilon=0.0), ValueError,
     ["adversarial_epsilon must be > 0"]),
    ("R-Drop and FGM together", lambda tmp: text_task(tmp, adversarial="fgm", r_drop_alpha=1.0), ValueError,
     ["adversarial, r_drop_alpha and distill_from each replace the train step; set one of them",
      "Received: adversarial='fgm', r_drop_alpha=1.0"]),
    ("distillation at temperature 0", lambda tmp: text_task(tmp, distill_from="teacher", distillation_temperature=0),
     ValueError, ["distillation_temperature must be > 0", "Received: distillation_temperature=0"]),
    ("distillation similarity below 0",
     lambda tmp: text_task(tmp, distill_from="teacher", distillation_similarity_weight=-0.5),
     ValueError, ["distillation_similarity_weight must be >= 0", "Received: distillation_similarity_weight=-0.5"]),
    ("distillation teacher missing", lambda tmp: text_task(tmp, distill_from=str(tmp / "no_teacher")),
     FileNotFoundError, ["no_teacher"]),
    ("label smoothing 1", lambda tmp: text_task(tmp, label_smoothing=1.0), ValueError,
     ["label_smoothing must be in [0, 1)", "Received: label_smoothing=1.0"]),
    ("early stopping without validation", lambda tmp: text_task(tmp, early_stopping_patience=1).fit(), ValueError,
     ["early_stopping_patience watches a validation metric", "pass validation="]),
    # paths
    ("backbone path missing", lambda tmp: text_task(tmp, backbone=str(tmp / "no" / "model")), FileNotFoundError,
     ["no such directory"]),
    ("backbone folder of another kind", lambda tmp: text_classifier(
        str(tmp), write(tmp, "t.tsv", "text\tlabel\na\t0\nb\t1\n")), FileNotFoundError,
     ["neither a Hugging Face directory (config.json) nor a KerasHub preset"]),
    ("Hugging Face model that is not BERT", lambda tmp: (write(tmp, "config.json", json.dumps({"model_type": "gpt2"})),
                                                          text_task(tmp, backbone=str(tmp))), ValueError,
     ["model_type 'gpt2'"]),
    # few labels and continual learning (prompt_classifier, continual)
    ("PET pattern without a mask", lambda tmp: PromptClassifierConfig(backbone="x", train="t.tsv", pattern="<text> It was good."),
     ValueError, ["exactly one '[MASK]'", "<text> It was good."]),
    ("PET pattern with two texts", lambda tmp: PromptPattern("<text> [MASK] <text>"), ValueError, ["exactly one '<text>'"]),
    ("PET over a directory with no MLM head", lambda tmp: prompt_classifier(
        write_hf_config(tmp), write(tmp, "train.tsv", "text\tlabel\ngood\t1\nbad\t0\n")),
     ValueError, ["Hugging Face directory", "--build-mlm-head"]),
    ("continual method unknown", lambda tmp: ContinualConfig(backbone="x", method="replay"), ValueError,
     ["method must be one of", "'replay'"]),
    # the command line
    ("recipe file missing", lambda tmp: recipe_file_missing(tmp), SystemExit, ["The recipe file does not exist"]),
    ("recipe file not TOML", recipe_file("recipe = \n"), SystemExit, ["is not valid TOML"]),
    ("recipe file of no kind", recipe_file('recipe = "nonsense"\n'), SystemExit, ["must set recipe = one of"]),
    ("recipe file missing a key", recipe_file('recipe = "text_classifier"\ntrain = "x.tsv"\n'), SystemExit,
     ["misses a required key"]),
    ("predict from a folder that is no export", lambda tmp: predict(str(tmp), "a text"), SystemExit,
     ["is not a SavedModel (no saved_model.pb)"]),
    ("predict with no text", lambda tmp: predict(str(tmp)), SystemExit, ["Give at least one text"]),
]


def recipe_file_missing(tmp):
    assert main(["run", str(tmp / "none.toml")]) == 2
    raise SystemExit(2)


def predict(*args):
    assert main(["predict", *args]) == 2
    raise SystemExit(2)


def test_the_table_has_at_least_30_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name,call,error,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input_says_what_where_and_how(name, call, error, fragments, tmp_path, capsys):
    with pytest.raises(error) as info:
        call(tmp_path)
    message = capsys.readouterr().err if error is SystemExit else str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{name}: {fragment!r} not in {message!r}"
    assert not list(tmp_path.glob("**/saved_model.pb")) and not list(tmp_path.glob("**/*.weights.h5"))


def test_a_backup_from_another_model_is_refused(tmp_path):
    import keras

    from kerastune.training import restore_backup
    from kerastune.training.training_backup import save_backup

    small = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    small.compile(optimizer="adam", loss="mse")
    small.fit(np.ones((2, 2)), np.ones((2, 3)), verbose=0)
    save_backup(small, str(tmp_path), step=1, steps_per_epoch=1)
    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(5)])
    other.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="was written by a different model"):
        restore_backup(other, str(tmp_path))
