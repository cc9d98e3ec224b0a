import os

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.models.backbone_directory import save_backbone_directory
from kerastune.models.bert_encoder import BertEncoder
from kerastune.models.bert_pretrainer import BertPretrainer
from kerastune.models.prompt_classifier import load_masked_lm_backbone
from kerastune.recipes.prompt_classifier import distill_ensemble, ensemble_probabilities, prompt_classifier

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "it", "was", ".", "the", "a", "film", "plot", "acting",
              "good", "bad", "great", "awful", "very", "all", "in", "overall"]


def write_tsv(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    return str(path)


def toy_rows(n, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = [["awful", "great"][label]] + list(rng.choice(["the", "film", "plot", "acting", "very", "a"], 3))
        rows.append((" ".join(words), label))
    return rows


@pytest.fixture
def backbone_dir(tmp_path):
    keras.utils.set_random_seed(0)
    encoder = BertEncoder(len(VOCABULARY), 1, 2, 16, 32, dropout=0.0, max_sequence_length=32)
    pretrainer = BertPretrainer(encoder, next_sentence=False)
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCABULARY, lowercase=True)
    return save_backbone_directory(encoder, tokenizer, str(tmp_path / "tiny"), masked_lm_head=pretrainer.masked_lm_head)


@pytest.fixture
def data(tmp_path):
    return write_tsv(tmp_path / "train.tsv", toy_rows(32, 0)), write_tsv(tmp_path / "dev.tsv", toy_rows(24, 1))


def test_pet_fine_tune_learns_evaluates_and_exports_strings(backbone_dir, data, tmp_path):
    train, dev = data
    run = prompt_classifier(backbone_dir, train, dev, pattern="<text> It was [MASK].", verbalizer="bad,good",
                            learning_rate=1e-2, epochs=12, batch_size=8, weight_decay=0.0, jit_compile=False,
                            export_dir=str(tmp_path / "exports"), freeze_token_embedding=False)
    before = run.model.evaluate(run.validation_data.dataset, verbose=0)[0]
    history = run.fit(verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    report = run.evaluate()
    assert report["accuracy"] > 0.8 and run.model.evaluate(run.validation_data.dataset, verbose=0)[0] < before
    path = run.export(report=report)
    import tensorflow_text  # noqa: F401 (registers the tokenizer's ops for loading)

    served = tf.saved_model.load(path).signatures["serving_default"]
    texts = ["the film was great", "awful acting", "a very very long plot " * 10 + "great"]
    got = served(text=tf.constant(texts))["probabilities"].numpy()
    np.testing.assert_allclose(got, run.predict_texts(texts), atol=1e-5)
    assert os.path.exists(os.path.join(path, "label_names.json"))


@pytest.mark.slow  # ~15 s: two runs and a distillation
def test_ensemble_averages_the_runs(backbone_dir, data):
    train, dev = data
    runs = [prompt_classifier(backbone_dir, train, dev, pattern=p, verbalizer="bad,good", jit_compile=False)
            for p in ("<text> It was [MASK].", "[MASK] : <text>")]
    texts = ["great film", "awful plot"]
    np.testing.assert_allclose(ensemble_probabilities(runs, texts),
                               (runs[0].predict_texts(texts) + runs[1].predict_texts(texts)) / 2, atol=1e-6)
    _, _, tokenizer = load_masked_lm_backbone(backbone_dir)
    student_backbone, _, _ = load_masked_lm_backbone(backbone_dir)
    student = distill_ensemble(runs, [t for t, _ in toy_rows(16, 2)], student_backbone, tokenizer, batch_size=8,
                               sequence_length=32)
    assert student.output_shape == (None, 2)


def test_bad_inputs_fail_before_training(backbone_dir, data, tmp_path):
    train, dev = data
    with pytest.raises(ValueError, match="exactly one '\\[MASK\\]'"):
        prompt_classifier(backbone_dir, train, dev, pattern="<text> It was good.")
    with pytest.raises(ValueError, match="word pieces"):
        prompt_classifier(backbone_dir, train, dev, verbalizer="bad,fantastic")
    with pytest.raises(ValueError, match="names 3 labels"):
        prompt_classifier(backbone_dir, train, dev, verbalizer="bad,good,great")
    encoder = BertEncoder(len(VOCABULARY), 1, 2, 16, 32, max_sequence_length=32)
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCABULARY, lowercase=True)
    no_head = save_backbone_directory(encoder, tokenizer, str(tmp_path / "no_head"))
    with pytest.raises(ValueError, match="without a masked-LM head"):
        prompt_classifier(no_head, train, dev)
