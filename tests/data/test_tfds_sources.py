"""The `tfds:` data paths, end to end, on real TFDS data sets prepared offline in a tmp `data_dir`.

`tests/tfds_local.py` runs TFDS's own registered builders (glue/sst2, conll2003, mnist,
tiny_shakespeare) over a few examples written in each data set's download format, so kerastune's
loading code runs unchanged: builder lookup by name and config, `data_dir`, split names and slices,
the feature names and label names TFDS defines.
"""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from kerastune.data.conll import TFDS_CONLL2003_TAGS, read_tfds_conll
from kerastune.data.labelled_text import TFDS_FEATURES, LabelledTextError, read_tfds
from kerastune.data.text_source import load_text
from kerastune.recipes.image_classifier import image_classifier
from kerastune.recipes.text_classifier import text_classifier
from kerastune.recipes.token_classifier import token_classifier
from tests import tfds_local
from tests.tiny_backbone import write_tiny_backbone

TINY = dict(epochs=1, batch_size=4, jit_compile=False, max_sequence_length=16, pad_to_multiple_of=16)
MNIST = {}  # the images and labels build_mnist wrote, by split
SHAKESPEARE = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 20


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfds")
    data_dir = root / "data"
    tfds_local.build_sst2(data_dir, root / "sst2")
    tfds_local.build_conll2003(data_dir, root / "conll2003")
    _, mnist_arrays = tfds_local.build_mnist(data_dir, root / "mnist")
    tfds_local.build_tiny_shakespeare(data_dir, root / "shakespeare", SHAKESPEARE)
    MNIST.update(mnist_arrays)
    return str(data_dir)


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    return write_tiny_backbone(tmp_path_factory.mktemp("backbone"))


def test_the_features_kerastune_reads_are_tfds_own():
    """Checked against TFDS's builders (their `_info`), not against what we prepared."""
    sst2 = tfds.builder("glue/sst2").info.features
    assert set(sst2) == {"sentence", "label", "idx"} and sst2["label"].names == ["negative", "positive"]
    text, pair, label = TFDS_FEATURES["glue/sst2"]
    assert (text, pair, label) == ("sentence", None, "label")
    conll = tfds.builder("conll2003").info.features
    assert set(conll) == {"tokens", "pos", "chunks", "ner"}
    assert tuple(conll["ner"].feature.names) == TFDS_CONLL2003_TAGS  # tag ids read as TFDS numbers them
    mnist = tfds.builder("mnist").info.features
    assert set(mnist) == {"image", "label"} and mnist["image"].shape == (28, 28, 1)
    assert set(tfds.builder("tiny_shakespeare").info.features) == {"text"}


def test_glue_sst2_splits_read_as_labelled_text(data_dir):
    train = read_tfds("glue/sst2", "train", data_dir=data_dir)
    # TFDS orders examples by a hash of their key, not as the file had them
    assert sorted(zip(train.texts, train.labels)) == sorted(tfds_local.SST2_TRAIN)
    assert train.label_names == ["negative", "positive"]
    assert train.source == "tfds:glue/sst2:train" and train.text_pairs is None
    assert len(read_tfds("glue/sst2", "validation[:2]", data_dir=data_dir, download=False).texts) == 2
    with pytest.raises(LabelledTextError, match="test splits of GLUE have no labels"):
        read_tfds("glue/sst2", "test", data_dir=data_dir)
    with pytest.raises(LabelledTextError, match=r"missing feature 'review'; it has \['sentence', 'label', 'idx'\]"):
        read_tfds("glue/sst2", "train", data_dir=data_dir, text_column="review")


def test_text_classifier_recipe_reads_tfds_glue_sst2(data_dir, backbone):
    """The recipe's TFDS route (fine-tuning on it is what examples/colab_tpu.ipynb does in tests/test_notebooks.py)."""
    run = text_classifier(backbone, train="train", validation="validation", tfds_name="glue/sst2",
                          data_dir=data_dir, **TINY)
    assert run.label_names == ["negative", "positive"]
    assert sorted(run.validation_labels) == sorted(y for _, y in tfds_local.SST2_VALIDATION)
    assert run.train_data.num_examples == len(tfds_local.SST2_TRAIN)


def test_conll2003_splits_read_with_tfds_tag_ids(data_dir):
    train = read_tfds_conll("train", data_dir=data_dir)
    read = sorted((words, [train.tag_names[t] for t in tags]) for words, tags in zip(train.words, train.tags))
    written = sorted(([row[0] for row in s], [row[3] for row in s]) for s in tfds_local.CONLL_TRAIN)
    assert read == written  # every sentence with its NER tags (-DOCSTART- skipped), in TFDS's own order
    assert train.tag_names == list(TFDS_CONLL2003_TAGS) and train.source == "tfds:conll2003:train"
    assert read_tfds_conll("dev", data_dir=data_dir).words == [["Paris", "is", "big"]]  # TFDS names it "dev"


def test_token_classifier_recipe_reads_tfds_conll2003(data_dir, backbone):
    run = token_classifier(backbone, train="train", validation="dev", tfds_name="conll2003", data_dir=data_dir,
                           **TINY)
    assert run.train_sentences.tag_names == list(TFDS_CONLL2003_TAGS)
    assert len(run.train_sentences) == 3 and run.validation_sentences.words == [["Paris", "is", "big"]]


def test_image_classifier_trains_on_tfds_mnist(data_dir):
    run = image_classifier(dataset="mnist", data_dir=data_dir, epochs=1, hidden_dim=8)
    (x_train, y_train), (x_test, y_test) = run.train, run.test
    images, labels = MNIST["train"]
    assert x_train.shape == (40, 28, 28, 1) and x_train.dtype == np.float32
    # TFDS shuffles examples into its shards: compare as sets of (image bytes, label)
    written = sorted(zip(map(bytes, images), labels.tolist()))
    assert sorted(zip(map(bytes, x_train[..., 0].astype(np.uint8)), y_train.tolist())) == written
    assert x_test.shape == (20, 28, 28, 1) and sorted(y_test.tolist()) == sorted(MNIST["test"][1].tolist())
    run.fit(verbose=0)
    assert 0.0 <= run.evaluate()["accuracy"] <= 1.0


def test_causal_lm_text_source_reads_tfds_tiny_shakespeare(data_dir):
    text = load_text("tfds:tiny_shakespeare", data_dir=data_dir)
    assert text == SHAKESPEARE[: int(len(SHAKESPEARE) * 0.9)]  # TFDS's 90% train split, one example


def test_a_token_directory_streams_a_tfds_corpus(data_dir, tmp_path):
    from kerastune.data.token_directory import prepare_token_directory

    tokens = prepare_token_directory(tmp_path / "tokens", "tfds:tiny_shakespeare", validation="tfds:tiny_shakespeare",
                                     tokenizer="character", data_dir=data_dir)
    train_text = load_text("tfds:tiny_shakespeare", data_dir=data_dir)
    validation_text = load_text("tfds:tiny_shakespeare", data_dir=data_dir, split="validation")
    assert train_text != validation_text
    np.testing.assert_array_equal(tokens.train, tokens.tokenizer.encode_text(train_text))
    np.testing.assert_array_equal(tokens.validation, tokens.tokenizer.encode_text(validation_text))

    with pytest.raises(ValueError, match="TFDS dataset 'mnist' has no split 'validation'; its splits are"):
        prepare_token_directory(tmp_path / "other", "tfds:tiny_shakespeare", validation="tfds:mnist",
                                tokenizer="character", data_dir=data_dir)
