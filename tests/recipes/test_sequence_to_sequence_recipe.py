"""`sequence_to_sequence`: a tiny Transformer learns a character cipher from a pairs file, writes through
the export's graph, exports strings in and out; bad files and settings are clear errors."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from kerastune.evaluation.text_to_text_report import text_to_text_report
from kerastune.recipes.sequence_to_sequence import SequenceToSequenceConfig, sequence_to_sequence

CIPHER = str.maketrans("abcdef", "bcdefa")  # each letter to the next, f back to a
TINY = dict(num_layers=1, num_heads=2, hidden_dim=32, dropout=0.0, batch_size=32, max_source_length=16,
            max_target_length=16, learning_rate=3e-3, label_smoothing=0.0)


def write_pairs(path, n, seed):
    rng = np.random.default_rng(seed)
    sources = ["".join(rng.choice(list("abcdef"), rng.integers(3, 9))) for _ in range(n)]
    path.write_text("source\ttarget\n" + "".join(f"{s}\t{s.translate(CIPHER)}\n" for s in sources), encoding="utf-8")
    return sources


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs")
    write_pairs(folder / "train.tsv", 1200, seed=0)
    sources = write_pairs(folder / "dev.tsv", 60, seed=1)
    run = sequence_to_sequence(train=str(folder / "train.tsv"), validation=str(folder / "dev.tsv"), epochs=8, **TINY)
    history = run.fit(verbose=0)
    return run, history, sources


def test_the_transformer_learns_the_cipher(trained):
    run, history, sources = trained
    assert history.history["loss"][-1] < history.history["loss"][0]
    report = run.evaluate()
    copying = text_to_text_report(sources, [s.translate(CIPHER) for s in sources])
    assert report["num_examples"] == 60 and copying["exact_match"] == 0.0
    assert report["character_error_rate"] < 0.2 < copying["character_error_rate"], report
    assert report == text_to_text_report(run.generate(sources), [s.translate(CIPHER) for s in sources])


def test_the_export_writes_what_generate_writes(trained, tmp_path):
    run, _, sources = trained
    path = run.export(export_dir=str(tmp_path), report={"bleu": 0.5})
    serve = tf.saved_model.load(path).signatures["serving_default"]
    served = [t.decode("utf-8") for t in serve(sources=tf.constant(sources[:16]))["targets"].numpy()]
    assert served == run.generate(sources[:16])
    assert json.load(open(os.path.join(path, "config.json")))["hidden_dim"] == 32
    assert json.load(open(os.path.join(path, "evaluation.json"))) == {"bleu": 0.5}
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty source"):
        serve(sources=tf.constant(["abc", ""]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="longer than max_source_length=16"):
        serve(sources=tf.constant(["abcdefabcdefabcdefa"]))  # 19 characters: refused, not cut


def test_sentencepiece_pairs_and_a_held_out_fraction(tmp_path):
    write_pairs(tmp_path / "pairs.tsv", 400, seed=2)
    run = sequence_to_sequence(train=str(tmp_path / "pairs.tsv"), tokenizer="sentencepiece", vocabulary_size=300,
                               validation_fraction=0.1, epochs=1, **TINY)
    assert len(run.train_pairs) == 360 and len(run.validation_pairs) == 40
    assert run.model.vocabulary_size == 300 + 3  # the pieces and pad / start / end
    run.fit(verbose=0)
    written = run.generate(["abc", "fed"])
    serve = tf.saved_model.load(run.export(export_dir=str(tmp_path / "export"))).signatures["serving_default"]
    assert [t.decode("utf-8") for t in serve(sources=tf.constant(["abc", "fed"]))["targets"].numpy()] == written


def test_a_fixed_decoder_width_pads_short_targets_of_long_sources_to_their_own_limit(tmp_path):
    rng = np.random.default_rng(3)
    sources = ["".join(rng.choice(list("abcdef"), rng.integers(20, 40))) for _ in range(200)]
    lines = "".join(f"{s}\t{s[:3].translate(CIPHER)}\n" for s in sources)  # a 3-letter "summary"
    (tmp_path / "pairs.tsv").write_text("source\ttarget\n" + lines, encoding="utf-8")
    settings = {**TINY, "max_source_length": 40, "max_target_length": 4}
    run = sequence_to_sequence(train=str(tmp_path / "pairs.tsv"), fixed_decoder_width=True, epochs=1, **settings)
    widths = {(inputs["encoder_token_ids"].shape[1], labels.shape[1])
              for inputs, labels, _ in run.validation_data}
    assert {decoder for _, decoder in widths} == {16} and {source for source, _ in widths} >= {32, 48}
    shared = sequence_to_sequence(train=str(tmp_path / "pairs.tsv"), epochs=1, **settings)
    assert all(source == decoder for source, decoder in
               ((inputs["encoder_token_ids"].shape[1], labels.shape[1]) for inputs, labels, _ in shared.validation_data))
    run.fit(verbose=0)
    assert all(len(text) <= 5 for text in run.generate(sources[:4]))  # at most max_target_length + 1


def test_a_pair_longer_than_the_limits_is_an_error_naming_its_line(tmp_path):
    write_pairs(tmp_path / "pairs.tsv", 50, seed=3)
    with open(tmp_path / "pairs.tsv", "a", encoding="utf-8") as handle:
        handle.write("abcabcabcabcabcabcabc\tb\n")  # line 52: a 21-character source
    with pytest.raises(ValueError, match="1 source texts are longer than max_source_length=16.*line 52 of"):
        sequence_to_sequence(train=str(tmp_path / "pairs.tsv"), **TINY)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"tokenizer": "bytes"}, "Received: tokenizer='bytes'"),
        ({"warmup_fraction": 1.0}, "Received: warmup_fraction=1.0"),
        ({"epochs": 0}, "Received: epochs=0"),
        ({"hidden": 8}, "Unknown argument 'hidden'"),
    ],
)
def test_bad_settings_are_clear_errors(settings, message, tmp_path):
    write_pairs(tmp_path / "pairs.tsv", 20, seed=4)
    with pytest.raises(ValueError, match=message):
        sequence_to_sequence(train=str(tmp_path / "pairs.tsv"), **settings)


def test_too_few_pairs_for_one_batch_is_a_clear_error(tmp_path):
    write_pairs(tmp_path / "pairs.tsv", 12, seed=5)
    with pytest.raises(ValueError, match="do not fill one batch of batch_size=32"):
        sequence_to_sequence(train=str(tmp_path / "pairs.tsv"), validation=str(tmp_path / "pairs.tsv"), **TINY)


def test_train_is_required():
    with pytest.raises(TypeError, match="train"):
        SequenceToSequenceConfig()


def test_noise_makes_a_corrector_from_plain_texts(tmp_path):
    words = ["the film", "was wonderful", "a tedious mess", "nothing happens", "great acting"]
    texts = [f"{words[i % 5]} {words[(i * 3) % 5]}" for i in range(80)]
    (tmp_path / "train.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (tmp_path / "dev.txt").write_text("\n".join(texts[:10]) + "\n", encoding="utf-8")
    run = sequence_to_sequence(train=str(tmp_path / "train.txt"), validation=str(tmp_path / "dev.txt"), noise="typos",
                               noise_rate=0.5, epochs=1, **{**TINY, "max_source_length": 40, "max_target_length": 40})
    assert run.train_pairs.responses == texts and run.validation_pairs.responses == texts[:10]
    assert run.train_pairs.prompts[:10] != run.validation_pairs.prompts  # the validation texts get other typos
    assert sum(p != r for p, r in zip(run.train_pairs.prompts, texts)) > 40
    run.fit(verbose=0)
    assert set(run.evaluate()) >= {"exact_match", "character_error_rate", "bleu"}


def test_noise_refuses_the_settings_of_a_pairs_file(tmp_path):
    (tmp_path / "train.txt").write_text("some text\n" * 40, encoding="utf-8")
    with pytest.raises(ValueError, match="noise='typos' makes the pairs from plain texts, so source_column"):
        sequence_to_sequence(train=str(tmp_path / "train.txt"), noise="typos", source_column="text", **TINY)
    with pytest.raises(ValueError, match=r"noise must be one of \('typos',\) or None"):
        sequence_to_sequence(train=str(tmp_path / "train.txt"), noise="blur", **TINY)
    with pytest.raises(ValueError, match="without noise it does nothing"):
        sequence_to_sequence(train=str(tmp_path / "train.txt"), noise_rate=0.3, **TINY)
