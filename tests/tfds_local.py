"""Real TFDS data sets (glue/sst2, conll2003, squad, mnist, tiny_shakespeare) prepared in a tmp `data_dir`, offline.

Each `build_*` writes a few examples in the data set's original download format (GLUE's `SST-2/*.tsv`,
CoNLL-2003's four-column `train.txt` / `valid.txt` / `test.txt`, MNIST's IDX files, Karpathy's
`input.txt`) and runs TFDS's own registered builder over them, with only its download manager
pointed at those files. The builder's `_info` (features, label names, splits) and `_generate_examples`
are TFDS's, and the result under `data_dir/<name>/<config>/<version>/` is a normal prepared copy:
`tfds.load(name, data_dir=data_dir)` in kerastune's code then reads it unchanged, as it reads a copy
prepared online.
"""

import pathlib
import struct
from unittest import mock

import numpy as np


def prepare(name, data_dir, downloaded, patches=()):
    """Runs TFDS's registered builder `name` into `data_dir`, its downloads answered by `downloaded(url_or_urls)`.

    `patches`: `(object, attribute, value)` triples set while the builder runs (e.g. MNIST's example counts).
    Returns the builder (prepared).
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=str(data_dir))
    manager = tfds.download.DownloadManager
    with mock.patch.object(manager, "download_and_extract", lambda self, urls: downloaded(urls)), \
            mock.patch.object(manager, "download", lambda self, urls: downloaded(urls)):
        patchers = [mock.patch.object(obj, attribute, value) for obj, attribute, value in patches]
        for patcher in patchers:
            patcher.start()
        try:
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(compute_stats=tfds.download.ComputeStatsMode.SKIP)
            )
        finally:
            for patcher in patchers:
                patcher.stop()
    assert builder.is_prepared()
    return builder


SST2_TRAIN = [("a gripping , beautifully acted film ", 1), ("the plot is a mess ", 0), ("great fun ", 1),
              ("dull and far too long ", 0), ("a film worth seeing twice ", 1), ("it is bad ", 0)]
SST2_VALIDATION = [("a good film ", 1), ("a bad film ", 0), ("good and gripping ", 1), ("a mess ", 0)]


def write_sst2_tsv(directory, train=SST2_TRAIN, validation=SST2_VALIDATION):
    """GLUE's SST-2 files (`sentence<TAB>label` with a header; test has `index<TAB>sentence`, no labels)."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.tsv", train), ("dev.tsv", validation)):
        (directory / name).write_text("sentence\tlabel\n" + "".join(f"{s}\t{y}\n" for s, y in rows), encoding="utf-8")
    (directory / "test.tsv").write_text("index\tsentence\n0\ta film\n1\tanother film\n", encoding="utf-8")
    return directory


def build_sst2(data_dir, source_dir, train=SST2_TRAIN, validation=SST2_VALIDATION):
    """Prepares `glue/sst2` (splits train, validation, test) in `data_dir` from SST-2 TSV files written to `source_dir`."""
    write_sst2_tsv(pathlib.Path(source_dir) / "SST-2", train, validation)  # the layout of GLUE's SST-2.zip
    return prepare("glue/sst2", data_dir, lambda url: str(source_dir))


# (token, POS, chunk, NER): CoNLL-2003's columns, in TFDS's feature order tokens, pos, chunks, ner
CONLL_TRAIN = [
    [("EU", "NNP", "B-NP", "B-ORG"), ("rejects", "VBZ", "B-VP", "O"), ("German", "JJ", "B-NP", "B-MISC"),
     ("call", "NN", "I-NP", "O"), (".", ".", "O", "O")],
    [("Peter", "NNP", "B-NP", "B-PER"), ("Blackburn", "NNP", "I-NP", "I-PER")],
    [("BRUSSELS", "NNP", "B-NP", "B-LOC"), ("1996-08-22", "CD", "I-NP", "O")],
]
CONLL_DEV = [[("Paris", "NNP", "B-NP", "B-LOC"), ("is", "VBZ", "B-VP", "O"), ("big", "JJ", "B-ADJP", "O")]]


def build_conll2003(data_dir, source_dir, train=CONLL_TRAIN, dev=CONLL_DEV):
    """Prepares `conll2003` (splits train, dev, test) in `data_dir` from the original space-separated files."""
    source_dir = pathlib.Path(source_dir)
    source_dir.mkdir(parents=True, exist_ok=True)
    for name, sentences in (("train.txt", train), ("valid.txt", dev), ("test.txt", dev)):
        blocks = ["\n".join(" ".join(row) for row in sentence) for sentence in sentences]
        (source_dir / name).write_text("-DOCSTART- -X- -X- O\n\n" + "\n\n".join(blocks) + "\n", encoding="utf-8")
    return prepare("conll2003", data_dir, lambda url: source_dir)


def build_squad(data_dir, train_file, dev_file, version="v2.0"):
    """Prepares `squad/<version>` (train, validation) in `data_dir` from two SQuAD JSON files
    (`write_squad_json`)."""
    return prepare(f"squad/{version}", data_dir, lambda urls: {"train": str(train_file), "dev": str(dev_file)})


def build_mnist(data_dir, source_dir, num_train=40, num_test=20, seed=0):
    """Prepares `mnist` (train, test) in `data_dir` from IDX files of random 28x28 digits; returns `(builder, arrays)`.

    `arrays` = {"train": (images, labels), "test": (...)}, images uint8 (n, 28, 28), what was written.
    """
    from tensorflow_datasets.image_classification import mnist

    rng = np.random.default_rng(seed)
    source_dir = pathlib.Path(source_dir)
    source_dir.mkdir(parents=True, exist_ok=True)
    arrays, files = {}, {}
    for split, n in (("train", num_train), ("test", num_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        arrays[split] = (images, labels)
        files[f"{split}_data"] = source_dir / f"{split}-images-idx3-ubyte"  # IDX: big-endian header, then bytes
        files[f"{split}_data"].write_bytes(struct.pack(">iiii", 2051, n, 28, 28) + images.tobytes())
        files[f"{split}_labels"] = source_dir / f"{split}-labels-idx1-ubyte"
        files[f"{split}_labels"].write_bytes(struct.pack(">ii", 2049, n) + labels.tobytes())
    # MNIST's builder reads a fixed count per split (60,000 / 10,000): shrink it to the files written
    patches = [(mnist, "_TRAIN_EXAMPLES", num_train), (mnist, "_TEST_EXAMPLES", num_test)]
    builder = prepare("mnist", data_dir, lambda urls: {key: str(files[key]) for key in urls}, patches)
    return builder, arrays


def build_tiny_shakespeare(data_dir, source_dir, text):
    """Prepares `tiny_shakespeare` (one example per split: 90/5/5% of `text`) in `data_dir`."""
    path = pathlib.Path(source_dir) / "input.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return prepare("tiny_shakespeare", data_dir, lambda url: str(path))

