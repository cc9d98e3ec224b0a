"""The tiny exports of every kerastune task, written once per session, and ONE fresh process serving them.

A fresh interpreter that imports only TensorFlow (+ TF Text's ops, as TF Serving links them in)
loads each SavedModel, answers the requests below in TF Serving's REST "row" format, records which
modules it imported, then runs `saved_model_cli show --all` on the exports users would inspect.
One process instead of one per check: each TensorFlow import costs ~5 s.
"""

import base64
import json
import os
import subprocess
import sys

import keras
import keras_hub
import numpy as np
import pytest

from kerastune.data import CharacterTokenizer
from kerastune.export.causal_lm_export import export_causal_lm
from kerastune.export.text_classifier_export import export_text_classifier
from kerastune.export.token_classifier_export import export_token_classifier
from kerastune.models import GPT
from kerastune.models.text_classifier import TextClassifier
from kerastune.models.token_classifier import TokenClassifier

# text classifier: one model exported twice, with one text input and with a (text, text_pair) input
CLASSIFIER_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "great", "film", "bad", "the", "movie", "!", "not"]
CLASSES = ["neg", "neutral", "pos"]
TEXTS = ["a great film !", "the bad movie", "not", "Great FILM, not bad at all " * 3]  # the last is truncated
PAIRS = ["the film", "a movie !", "great", "bad"]

# what a careless client sends: an empty text, 10,000 words, bytes that are not UTF-8 (as TF Serving's b64)
BAD_INPUT = ["", "great " * 10_000, {"b64": base64.b64encode(b"a great \xff\xfe film \xc3").decode()}, "bad"]

# token classifier: the last sentence is longer than the window of 8 and is split into windows
TAGGER_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "peter", "black", "##burn", "visited", "paris", "in",
                "may", "."]
TAGS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
SENTENCES = ["Peter Blackburn visited Paris .", "Paris", "in May Peter   visited Blackburn , Paris in May ."]

# causal LM
CORPUS = "to be, or not to be: that is the question.\n"
PROMPTS = ["to be", "that is th"]

FRESH = r"""
import base64, contextlib, io, json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # registers the TF Text ops of the tokenizers (TF Serving links them in)

def plain(tensor):
    value = tensor.numpy()
    return np.char.decode(value.astype(bytes), "utf-8").tolist() if value.dtype == object else value.tolist()

requests_file, answers_file = sys.argv[1:3]
requests = json.load(open(requests_file))
loaded, answers = {}, {}
for key, request in requests["serve"].items():
    if request["path"] not in loaded:
        loaded[request["path"]] = tf.saved_model.load(request["path"])
    fn = loaded[request["path"]].signatures[request["signature"]]
    # TF Serving's REST "row" format: a list of values for a one-input signature, else a list of objects;
    # bytes that are not UTF-8 travel as {"b64": ...}, as TF Serving's REST API takes them.
    instances = [base64.b64decode(row["b64"]) if isinstance(row, dict) and "b64" in row else row
                 for row in request["instances"]]
    if instances and isinstance(instances[0], dict):
        kwargs = {k: tf.constant([row[k] for row in instances]) for k in instances[0]}
    else:
        batch = tf.constant(instances) if instances else tf.constant([], tf.string)  # a batch of 0 texts
        kwargs = {list(fn.structured_input_signature[1])[0]: batch}
    try:
        answers[key] = {k: plain(v) for k, v in fn(**kwargs).items()}
    except tf.errors.OpError as e:
        answers[key] = {"error": type(e).__name__, "message": e.message}
modules = sorted(m for m in sys.modules if m.startswith(("kerastune", "keras_hub")))

# `saved_model_cli show --dir PATH --all`, as its console script runs it
from tensorflow.python.tools.saved_model_cli import main as saved_model_cli
shown = {}
for key, path in requests["show"].items():
    sys.argv, out = ["saved_model_cli", "show", "--dir", path, "--all"], io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            saved_model_cli()
        except SystemExit as e:  # absl's app.run always exits
            assert not e.code, (path, e.code)
    shown[key] = out.getvalue()
with open(answers_file, "w") as f:
    json.dump({"answers": answers, "modules": modules, "shown": shown}, f)
"""


@pytest.fixture(scope="session")
def export_root(tmp_path_factory):
    return tmp_path_factory.mktemp("saved_models")


@pytest.fixture(scope="session")
def text_classifier_export(export_root):
    keras.utils.set_random_seed(0)  # session fixtures are built before the per-test seeding
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=CLASSIFIER_VOCAB)
    backbone = keras_hub.models.BertBackbone(len(CLASSIFIER_VOCAB), 1, 2, 8, 16, max_sequence_length=12)
    model = TextClassifier(backbone, 3, pooling="mean")
    paths = {
        pair: export_text_classifier(model, tokenizer, CLASSES, export_dir=str(export_root), name=name, pair=pair,
                                     report={"accuracy": 1.0}, config={"pooling": "mean"}, chunk_size=3)
        for pair, name in ((False, "clf"), (True, "clf_pair"))
    }
    return model, tokenizer, paths


@pytest.fixture(scope="session")
def token_classifier_export(export_root):
    keras.utils.set_random_seed(0)  # session fixtures are built before the per-test seeding
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=TAGGER_VOCAB, lowercase=True)
    backbone = keras_hub.models.BertBackbone(len(TAGGER_VOCAB), 1, 2, 8, 16, max_sequence_length=8)
    model = TokenClassifier(backbone, num_tags=len(TAGS))
    path = export_token_classifier(model, tokenizer, TAGS, export_dir=str(export_root), name="ner", sequence_length=8,
                                   report={"f1": 0.5})
    return model, tokenizer, path


@pytest.fixture(scope="session")
def causal_lm_export(export_root):
    keras.utils.set_random_seed(0)  # session fixtures are built before the per-test seeding
    tokenizer = CharacterTokenizer.from_corpus(CORPUS)
    model = GPT(tokenizer.vocabulary_size(), sequence_length=8, num_layers=2, num_heads=2, hidden_dim=16,
                tokenizer=tokenizer)
    path = export_causal_lm(model, export_dir=str(export_root), name="tiny", max_new_tokens=12, config={"seed": 1})
    token_ids = np.random.default_rng(0).integers(0, tokenizer.vocabulary_size(), (3, 8)).astype("int32")
    return model, tokenizer, path, token_ids


@pytest.fixture(scope="session")
def fresh_process(text_classifier_export, token_classifier_export, causal_lm_export, tmp_path_factory):
    """What a fresh TensorFlow-only process answered: `{"answers": {key: outputs}, "modules": [...], "shown": {...}}`."""
    clf, tagger, (_, _, lm, token_ids) = text_classifier_export[2], token_classifier_export[2], causal_lm_export
    requests = {
        "serve": {
            "text": {"path": clf[False], "signature": "serving_default", "instances": TEXTS},
            "text_pair": {"path": clf[True], "signature": "serving_default",
                          "instances": [{"text": t, "text_pair": p} for t, p in zip(TEXTS, PAIRS)]},
            "empty_text": {"path": clf[False], "signature": "serving_default", "instances": ["", "  \t ", "film"]},
            "bad_input": {"path": clf[False], "signature": "serving_default", "instances": BAD_INPUT},
            "no_text": {"path": clf[False], "signature": "serving_default", "instances": []},
            "tags": {"path": tagger, "signature": "serving_default", "instances": SENTENCES},
            "logits": {"path": lm, "signature": "next_token_logits", "instances": token_ids.tolist()},
            "generated": {"path": lm, "signature": "serving_default", "instances": PROMPTS},
            "outside_vocabulary": {"path": lm, "signature": "serving_default", "instances": ["to be Z"]},
            "empty_prompt": {"path": lm, "signature": "serving_default", "instances": ["to", ""]},
        },
        "show": {"text": clf[False], "causal_lm": lm},
    }
    return serve_in_fresh_process(requests, tmp_path_factory.mktemp("fresh_process"))


def serve_in_fresh_process(requests, folder):
    """Runs FRESH (TensorFlow only, no Keras) on `requests` in a new interpreter; returns its answers.

    `requests`: {"serve": {name: {"path", "signature", "instances"}}, "show": {name: path}}; the
    request and answer files are written in `folder`.
    """
    with open(folder / "requests.json", "w") as f:
        json.dump(requests, f)
    result = subprocess.run(
        [sys.executable, "-c", FRESH, str(folder / "requests.json"), str(folder / "answers.json")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(folder / "answers.json") as f:
        return json.load(f)
