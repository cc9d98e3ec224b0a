import json
import os

import numpy as np
import pytest

from kerastune.data.conll import ConllError
from kerastune.recipes.token_classifier import token_classifier

NAMES = ["peter", "mary", "john"]
PLACES = ["paris", "london", "rome"]
FILLER = ["the", "went", "to", "saw", "and", "then", "."]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + NAMES + PLACES + FILLER + ["smith", "##son"]


def write_task(tmp_path, n, seed):
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        for _ in range(rng.integers(3, 9)):
            kind = rng.integers(0, 3)
            if kind == 0:
                lines += [f"{rng.choice(NAMES).title()}\tB-PER"] + (["Smithson\tI-PER"] if rng.random() < 0.5 else [])
            elif kind == 1:
                lines.append(f"{rng.choice(PLACES).title()}\tB-LOC")
            else:
                lines.append(f"{rng.choice(FILLER)}\tO")
        lines.append("")
    path = tmp_path / f"data{seed}.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def task(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB))
    return dict(backbone="kerastune_bert", train=write_task(tmp_path, 200, 0), validation=write_task(tmp_path, 40, 1),
                vocabulary=str(tmp_path / "vocab.txt"), num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
                max_sequence_length=32, batch_size=16, epochs=6, learning_rate=3e-3, dropout=0.0, jit_compile=False)


def test_own_encoder_learns_tags_evaluates_and_exports(tmp_path, task):
    run = token_classifier(**task)
    assert run.tag_names == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    run.fit(verbose=0)
    report = run.evaluate()
    assert report["f1"] >= 0.9, report
    predicted = run.predict()
    assert [len(p) for p in predicted] == [len(w) for w in run.validation_sentences.words]
    path = run.export(str(tmp_path / "saved_models"), report=report)
    assert json.load(open(os.path.join(path, "config.json")))["backbone"] == "kerastune_bert"
    assert json.load(open(os.path.join(path, "evaluation.json")))["f1"] == report["f1"]


def test_bad_input_fails_before_training(tmp_path, task):
    bad = tmp_path / "bad.txt"
    bad.write_text("Paris\tB-LOC\nSmithson\tI-PER\n")
    with pytest.raises(ConllError, match=r"bad.txt, line 2: tag 'I-PER' after 'B-LOC' is not valid BIO"):
        token_classifier(**{**task, "validation": str(bad)})
    with pytest.raises(ValueError, match="Unknown argument 'learning_rat'"):
        token_classifier(**{**task, "learning_rat": 1e-3})


def test_pretrained_backbone_directory_fine_tunes_by_path(tmp_path, task):
    from kerastune.recipes.masked_lm import masked_lm

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(open(task["train"]).read().replace("\t", " ").split("\n\n")[:50]))
    pre = masked_lm(data=str(corpus), vocabulary_size=60, num_layers=1, num_heads=2, hidden_dim=16,
                    intermediate_dim=32, sequence_length=32, batch_size=8, steps_per_epoch=3, validation_fraction=0.0,
                    run_eagerly=True)  # 3 steps: eager is quicker than tracing them
    history = pre.fit(verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    path = pre.save_backbone(str(tmp_path / "backbone"))
    run = token_classifier(path, task["train"], task["validation"], epochs=1, batch_size=16, max_train_sentences=32,
                          jit_compile=False)
    assert run.model.backbone.num_layers == 1 and run.tokenizer.get_vocabulary() == pre.tokenizer.get_vocabulary()
    np.testing.assert_allclose(run.model.backbone.token_embedding.embeddings.numpy(),
                               pre.encoder.token_embedding.embeddings.numpy())
    # The tagger's defaults leave the text classifier's options off (measured better on CoNLL-2003) ...
    optimizer = run.model.optimizer
    assert not optimizer.use_ema and not optimizer.learning_rate_multipliers
    table = run.model.backbone.token_embedding.embeddings
    assert any(v.path == table.path for v in run.model.trainable_variables)
    # ... and each is one switch, as in every fine-tuning recipe.
    tuned = token_classifier(path, task["train"], epochs=1, jit_compile=False,
                             ema_momentum=0.99, layerwise_lr_decay=0.9, freeze_token_embedding=True)
    assert tuned.model.optimizer.use_ema and tuned.model.optimizer.learning_rate_multipliers["logits/kernel"] == 1.0
    assert all(v.path != table.path for v in tuned.model.trainable_variables)
