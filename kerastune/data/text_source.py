"""One string names where a language-modelling corpus comes from."""

from kerastune.data.text_corpus import default_corpus, read_text_corpus

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
    """
    if source in ("", DEFAULT):
        return default_corpus()
    if source.startswith("tfds:"):
        import tensorflow_datasets as tfds

        name = source[len("tfds:"):]
        dataset = tfds.load(name, split=split, data_dir=data_dir)
        parts = [example[text_key].numpy().decode("utf-8") for example in dataset]
        text = "\n".join(parts)
        if not text.strip():
            raise ValueError(f"TFDS dataset {name!r} split {split!r} has no text under feature {text_key!r}")
        return text
    if source.lower().endswith((".tsv", ".csv", ".jsonl")):
        from kerastune.data.labelled_text import read_labelled_text

        return "\n".join(read_labelled_text(source).texts) + "\n"
    return read_text_corpus(source)
