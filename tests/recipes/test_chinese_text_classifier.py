"""The text classifier recipe on Chinese: ChnSentiCorp lines in, a SavedModel that answers raw Chinese strings.

A character-level BERT vocabulary (every character of the lines, as `split_on_cjk` tokenises them) and
a 1-layer encoder keep it to seconds; the SavedModel, loaded with `tf.saved_model.load`, must give the
Keras model's probabilities for Chinese with full-width punctuation, Latin words and digits,
traditional characters, emoji and an empty string. (The fresh TensorFlow-only process is in
tests/export/; `benchmarks/chnsenticorp.py` repeats this check for the real model in one.)
"""

import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.bert_inputs import dense_inputs, tokenize_and_pack
from kerastune.recipes.text_classifier import text_classifier
from tests.conftest import SHARED

DATA = SHARED / "data" / "chnsenticorp"
REQUESTS = [
    "房间太小。其他的都一般。。。。。。。。。",  # train.tsv line 4
    "15.4寸笔记本的键盘确实爽，ＡＢＣ１２３ iPhone很好用！",  # mixed, full-width
    "香港的酒店在面積方面就不需要強求什麼了﹗這家酒店設施已經比較陳舊了",  # traditional
    "服务很好😀👍",  # emoji
    "",
]


@pytest.fixture(scope="module")
def chinese_task(tmp_path_factory):
    if not DATA.exists():
        pytest.skip(f"{DATA} is absent (shared data is not in this checkout)")
    directory = tmp_path_factory.mktemp("chinese_task")
    rows = {name: open(DATA / name, encoding="utf-8").read().splitlines() for name in ("train.tsv", "dev.tsv")}
    (directory / "train.tsv").write_text("\n".join(rows["train.tsv"][:49]) + "\n", encoding="utf-8")
    (directory / "dev.tsv").write_text("\n".join(rows["dev.tsv"][:17]) + "\n", encoding="utf-8")
    characters = sorted({c for line in rows["train.tsv"][1:49] for c in line.split("\t")[0].lower() if not c.isspace()})
    (directory / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + characters),
                                         encoding="utf-8")
    return dict(backbone="kerastune_bert", train=str(directory / "train.tsv"), validation=str(directory / "dev.tsv"),
                vocabulary=str(directory / "vocab.txt"), num_layers=1, num_heads=2, hidden_dim=16,
                intermediate_dim=32, max_sequence_length=32, batch_size=16, epochs=1, learning_rate=1e-3,
                dropout=0.0, run_eagerly=True)  # 3 steps: eager is quicker than tracing them


def test_the_export_answers_raw_chinese_strings_as_the_keras_model_does(chinese_task, tmp_path):
    run = text_classifier(**chinese_task)
    assert run.label_names == ["0", "1"] and run.validation_data.num_examples == 16
    history = run.fit(verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    report = run.evaluate()
    assert report["num_examples"] == 16 and 0.0 <= report["accuracy"] <= 1.0
    path = run.export(str(tmp_path / "saved_models"), report=report)

    ids, segments, _ = tokenize_and_pack(run.tokenizer, tf.constant(REQUESTS), None, run.sequence_length)
    unknown = run.tokenizer.token_to_id("[UNK]")
    assert (ids.to_list()[3][-2] == unknown) and len(ids.to_list()[4]) == 2  # emoji: [UNK]; "": [CLS] [SEP]
    logits = run.model(dense_inputs(ids, segments, multiple=8, limit=run.sequence_length))
    want = tf.nn.softmax(logits).numpy()
    served = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(REQUESTS))
    np.testing.assert_allclose(served["probabilities"].numpy(), want, atol=1e-5)
    assert [n.decode() for n in served["label_names"].numpy()] == [run.label_names[i] for i in want.argmax(-1)]
    assert served["num_tokens"].numpy().tolist()[-1] == 0
