"""The token-tagging SavedModel is checked in a fresh process that imports only TensorFlow (+ TF Text ops): see conftest.py."""

import json
import os

import numpy as np
import tensorflow as tf

from kerastune.data.conll import tagged_sentences
from kerastune.data.token_classification_dataset import TokenClassificationDataset
from tests.export.conftest import SENTENCES, TAGS


def test_fresh_process_tags_every_word_as_the_keras_model(token_classifier_export, fresh_process, export_root):
    model, tokenizer, path = token_classifier_export
    # the Keras side: the same sentences through the training data path (windows of 8 for the long one)
    words = [s.split() for s in SENTENCES]
    data = TokenClassificationDataset.from_sentences(
        tagged_sentences(words, [["O"] * len(w) for w in words], TAGS), tokenizer, batch_size=2, sequence_length=8)
    assert data.num_split == 1
    values = []
    for x, _, _ in data.dataset:
        logits = model(x, training=False)
        values.append(np.argmax(logits, -1)[x["padding_mask"].numpy().astype(bool)])
    flat = tf.RaggedTensor.from_row_lengths(np.concatenate(values), data.token_ids.row_lengths())[:, 1:-1]
    per_word = np.split(flat.flat_values.numpy()[data.is_first], np.cumsum(data.words_per_sentence)[:-1])
    want = [[TAGS[i] for i in s] for s in per_word]

    assert path == str(export_root / "ner" / "1") and sorted(os.listdir(export_root / "ner")) == ["1"]
    answer = fresh_process["answers"]["tags"]
    assert fresh_process["modules"] == []
    num_words = answer["num_words"]
    assert [row[:n] for row, n in zip(answer["words"], num_words)] == words
    tags = [row[:n] for row, n in zip(answer["tags"], num_words)]
    assert tags == want and [len(t) for t in tags] == [5, 1, 10]
    assert json.load(open(os.path.join(path, "tag_names.json"))) == TAGS
    assert json.load(open(os.path.join(path, "evaluation.json"))) == {"f1": 0.5}
