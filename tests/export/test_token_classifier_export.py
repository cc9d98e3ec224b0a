"""The token-tagging SavedModel is checked in a fresh process that imports only TensorFlow (+ TF Text ops)."""

import json
import os
import subprocess
import sys

import keras_hub
import numpy as np

from kerastune.data.conll import tagged_sentences
from kerastune.data.token_classification_dataset import TokenClassificationDataset
from kerastune.export.token_classifier_export import export_token_classifier
from kerastune.models.token_classifier import TokenClassifier

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "peter", "black", "##burn", "visited", "paris", "in", "may", "."]
TAGS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
SENTENCES = ["Peter Blackburn visited Paris .", "Paris", "in May Peter   visited Blackburn , Paris in May ."]

FRESH = """
import json, sys
import tensorflow as tf
import tensorflow_text  # the tokenizer's TF Text ops (TF Serving links them in)
fn = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
out = fn(text=tf.constant(json.loads(sys.argv[2])))
tags = [[t.decode() for t in row[:n]] for row, n in zip(out["tags"].numpy(), out["num_words"].numpy())]
words = [[t.decode() for t in row[:n]] for row, n in zip(out["words"].numpy(), out["num_words"].numpy())]
print(json.dumps({"tags": tags, "words": words,
                  "modules": sorted(m for m in sys.modules if m.startswith(("kerastune", "keras_hub")))}))
"""


def test_fresh_process_tags_every_word_as_the_keras_model(tmp_path):
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True)
    backbone = keras_hub.models.BertBackbone(len(VOCAB), 1, 2, 8, 16, max_sequence_length=8)
    model = TokenClassifier(backbone, num_tags=len(TAGS))
    # the Keras side: the same sentences through the training data path (windows of 8 for the long one)
    words = [s.split() for s in SENTENCES]
    data = TokenClassificationDataset.from_sentences(
        tagged_sentences(words, [["O"] * len(w) for w in words], TAGS), tokenizer, batch_size=2, sequence_length=8)
    assert data.num_split == 1
    values = []
    for x, _, _ in data.dataset:
        values.append(np.argmax(model.predict_on_batch(x), -1)[x["padding_mask"].numpy().astype(bool)])
    import tensorflow as tf
    flat = tf.RaggedTensor.from_row_lengths(np.concatenate(values), data.token_ids.row_lengths())[:, 1:-1]
    per_word = np.split(flat.flat_values.numpy()[data.is_first], np.cumsum(data.words_per_sentence)[:-1])
    want = [[TAGS[i] for i in s] for s in per_word]

    path = export_token_classifier(model, tokenizer, TAGS, export_dir=str(tmp_path), name="ner", sequence_length=8,
                                   report={"f1": 0.5})
    assert path == str(tmp_path / "ner" / "1") and sorted(os.listdir(tmp_path / "ner")) == ["1"]
    result = subprocess.run([sys.executable, "-c", FRESH, path, json.dumps(SENTENCES)], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["modules"] == []
    assert answer["words"] == words
    assert answer["tags"] == want and [len(t) for t in answer["tags"]] == [5, 1, 10]
    assert json.load(open(os.path.join(path, "tag_names.json"))) == TAGS
