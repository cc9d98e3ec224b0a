"""One string names where a language-modelling corpus comes from."""

import os

from kerastune.data.text_corpus import check_text_file, default_corpus, stream_text_corpus

DEFAULT = "pydoc"


def load_text(source=DEFAULT, data_dir=None, split="train", text_key="text"):
    """Returns the corpus text named by `source`.

    - `"pydoc"` (or `""`): the built-in corpus (CPython's documentation topics), no download.
    - `"tfds:NAME"`: the `text_key` feature of a TFDS text dataset's `split`, joined
      (e.g. `"tfds:tiny_shakespeare"`); downloads when online, reads `data_dir` when prepared.
    - a `.tsv` / `.csv` / `.jsonl` labelled-text file (e.g. ChnSentiCorp's `train.tsv`): its text
      column, one example a line (labels unused; `read_labelled_text` names the line of a non-UTF-8
      byte or an empty text).
    - anything else: a path to a UTF-8 text file (see `read_text_corpus` for the errors).

    `stream_text` gives the same text in pieces, for corpora larger than memory.
    """
    return "".join(stream_text(source, data_dir=data_dir, split=split, text_key=text_key, chunk_bytes=None))


def stream_text(source=DEFAULT, data_dir=None, split="train", text_key="text", chunk_bytes=1 << 20):
    """Yields the text `load_text` returns for the same arguments, in pieces that end at line or example ends
    (a line longer than 16 chunks at a space: `stream_text_corpus`).

    A text file is read about `chunk_bytes` at a time (`stream_text_corpus`) and a TFDS dataset one
    example at a time, so neither is ever whole in memory; a labelled-text file is read whole (its
    examples are small). Errors are `load_text`'s, raised when the stream reaches them.

    Example:

    >>> "".join(stream_text("pydoc")) == load_text("pydoc")
    True
    """
    source = os.fspath(source)
    if source in ("", DEFAULT):
        yield default_corpus()
    elif source.startswith("tfds:"):
        yield from _stream_tfds(source[len("tfds:"):], data_dir, split, text_key)
    elif source.lower().endswith((".tsv", ".csv", ".jsonl")):
        from kerastune.data.labelled_text import read_labelled_text

        yield "\n".join(read_labelled_text(source).texts) + "\n"
    else:
        yield from stream_text_corpus(source, chunk_bytes=chunk_bytes)


def check_text_source(source=DEFAULT, data_dir=None, split="train"):
    """Raises what reading `source` would raise at its start (a missing file, a directory, a TFDS split the
    prepared dataset lacks) without reading any text: a long job checks every source before it starts.

    Example:

    >>> check_text_source("pydoc")
    """
    source = os.fspath(source)
    if source in ("", DEFAULT):
        return
    if not source.startswith("tfds:"):
        check_text_file(source)
        return
    import tensorflow_datasets as tfds

    name = source[len("tfds:"):]
    splits = tfds.builder(name, data_dir=data_dir).info.splits
    for part in split.split("+"):  # "train+test", "train[:10%]"
        if splits and part.split("[")[0].strip() not in splits:  # an unprepared dataset lists none: tfds.load says
            raise ValueError(f"TFDS dataset {name!r} has no split {part!r}; its splits are {sorted(splits)}")


def _stream_tfds(name, data_dir, split, text_key):
    import tensorflow_datasets as tfds

    has_text = False
    for index, example in enumerate(tfds.load(name, split=split, data_dir=data_dir).as_numpy_iterator()):
        text = example[text_key].decode("utf-8")
        has_text = has_text or bool(text.strip())
        yield text if index == 0 else "\n" + text  # the examples joined by line ends
    if not has_text:
        raise ValueError(f"TFDS dataset {name!r} split {split!r} has no text under feature {text_key!r}")
