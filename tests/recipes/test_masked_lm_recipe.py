import warnings

import numpy as np
import pytest

from kerastune.models.backbone_directory import load_backbone_directory
from kerastune.recipes.masked_lm import masked_lm

WORDS = "the a film plot was good bad long short music acting very quite rather dull bright".split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = np.random.default_rng(0)
    documents = [". ".join(" ".join(rng.choice(WORDS, rng.integers(3, 9))) for _ in range(rng.integers(1, 4)))
                 for _ in range(120)]
    path = tmp_path_factory.mktemp("mlm") / "corpus.txt"
    path.write_text("\n\n".join(documents) + "\n")
    return str(path)


# A few steps each: eager (tracing would take longer than the steps; the traced steps are tested below), and
# no validation split, which would build a second tf.data pipeline per run (~1 s each; the recipe files'
# CLI runs in tests/test_cli.py validate).
CONTINUED = dict(next_sentence=False, pack_sentences=True, batch_size=8, steps_per_epoch=3, run_eagerly=True,
                 validation_fraction=0.0)


@pytest.fixture(scope="module")
def first(corpus, tmp_path_factory):
    """A tiny pretrained run and its saved backbone directory, shared by the continued-pretraining tests."""
    run = masked_lm(data=corpus, vocabulary_size=150, num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
                    sequence_length=32, **CONTINUED)
    run.fit(verbose=0)
    return run, run.save_backbone(str(tmp_path_factory.mktemp("mlm_backbone") / "first"))


def test_packed_sentences_fill_examples_and_train(corpus):
    args = dict(data=corpus, vocabulary_size=150, num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
                sequence_length=64, batch_size=8, steps_per_epoch=3, validation_fraction=0.0, run_eagerly=True)
    single = masked_lm(**args, next_sentence=False)
    packed = masked_lm(**args, next_sentence=False, pack_sentences=True)
    assert packed.config.pack_sentences and packed.train_data.num_pairs == 0
    assert packed.train_data.num_examples < single.train_data.num_examples / 2  # several sentences per example
    masked_per_batch = [int(next(iter(run.train_data.dataset))[2]["mlm"].numpy().sum()) for run in (single, packed)]
    assert masked_per_batch[1] > 2 * masked_per_batch[0]
    assert np.isfinite(packed.fit(verbose=0).history["loss"]).all()  # one head: the loss is the MLM loss
    with pytest.raises(ValueError, match="pass next_sentence=False"):
        masked_lm(**args, pack_sentences=True)


def test_masked_lm_only_trains_without_nsp_outputs_or_gradient_warnings(corpus, tmp_path):
    run = masked_lm(data=corpus, vocabulary_size=150, num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
                    sequence_length=32, batch_size=8, steps_per_epoch=3, next_sentence=False, pack_sentences=True,
                    jit_compile=False, validation_fraction=0.0)
    _, targets, weights = next(iter(run.train_data.dataset))
    assert set(targets) == set(weights) == {"mlm"}
    pooler_before = run.encoder.pooled_dense.kernel.numpy().copy()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Gg]radients do not exist.*")
        history = run.fit(verbose=0).history
    np.testing.assert_array_equal(run.encoder.pooled_dense.kernel.numpy(), pooler_before)  # not trained, not decayed
    assert not any("nsp" in k for k in history) and np.isfinite(history["loss"]).all()
    assert 0.0 <= history["mlm_accuracy"][-1] <= 1.0
    assert run.encoder.pooled_dense.trainable  # left untouched for a later fine-tune of run.encoder
    encoder, _ = load_backbone_directory(run.save_backbone(str(tmp_path / "backbone")))
    assert encoder.pooled_dense.trainable
    np.testing.assert_array_equal(encoder.pooled_dense.kernel.numpy(), run.encoder.pooled_dense.kernel.numpy())


def test_continued_pretraining_starts_from_the_saved_backbone_and_its_mlm_head(corpus, first, tmp_path):
    first, path = first
    second = masked_lm(data=corpus, backbone=path, learning_rate=1e-3, **CONTINUED)
    assert second.tokenizer.get_vocabulary() == first.tokenizer.get_vocabulary()
    c = second.config
    assert (c.num_layers, c.hidden_dim, c.sequence_length, c.vocabulary_size) == (1, 16, 32, len(
        first.tokenizer.get_vocabulary()))
    x, _, _ = next(iter(second.train_data.dataset))  # the whole pretrainer, MLM head included, is restored
    np.testing.assert_allclose(second.model(x)["mlm"], first.model(x)["mlm"], atol=1e-5)
    before = second.encoder.token_embedding.embeddings.numpy().copy()
    second.fit(verbose=0)
    assert not np.allclose(second.encoder.token_embedding.embeddings.numpy(), before)
    first_kernel = first.model.masked_lm_head.transform.kernel.numpy()
    assert not np.allclose(second.model.masked_lm_head.transform.kernel.numpy(), first_kernel)
    second.save_backbone(str(tmp_path / "second"))
    with open(tmp_path / "second" / "pretraining.json") as f:
        assert '"backbone": "' + path in f.read()


def test_continued_pretraining_refuses_settings_that_contradict_the_backbone(corpus, first):
    _, path = first
    with pytest.raises(ValueError, match=r"num_layers=2 \(the backbone has 1\).*drop these settings"):
        masked_lm(data=corpus, backbone=path, num_layers=2)
    with pytest.raises(ValueError, match="sequence_length=64 exceeds the max_sequence_length 32"):
        masked_lm(data=corpus, backbone=path, sequence_length=64)
    # a setting equal to the backbone's is no conflict, and a shorter sequence_length is kept (built with the
    # continued-pretraining data settings above: packed, no NSP pairs, so the batches are quick to build)
    assert masked_lm(data=corpus, backbone=path, num_layers=1, sequence_length=16,
                     **CONTINUED).config.sequence_length == 16
