"""A tokenized corpus on disk (nanoGPT's `train.bin` / `val.bin`): written by streaming, read by memory map.

A corpus too large for memory (OpenWebText's 9B tokens for a GPT-2-small run) is tokenized once, piece
by piece, into flat files of token ids, and training windows are read from them batch by batch.
"""

import dataclasses
import itertools
import json
import os
from typing import Optional

import numpy as np

from kerastune.data.causal_lm_dataset import split_boundary
from kerastune.data.corpus_tokenizer import TOKENIZER_KINDS, build_tokenizer, load_tokenizer, save_tokenizer
from kerastune.data.text_encoding import encode_texts
from kerastune.data.text_source import check_text_source, stream_text
from kerastune.export.versioned_directory import atomic_directory

TRAIN_FILE = "train.bin"
VALIDATION_FILE = "val.bin"
METADATA_FILE = "tokens.json"
TOKENIZER_DIRECTORY = "tokenizer"
FORMAT = "kerastune.token_directory"
FORMAT_VERSION = 1
_COPY_BYTES = 1 << 24


def token_dtype(vocabulary_size):
    """The smallest unsigned dtype that holds every id: uint16 up to 65,536 tokens (nanoGPT's), else uint32.

    Example:

    >>> token_dtype(50304), token_dtype(100_000)
    (dtype('uint16'), dtype('uint32'))
    """
    if isinstance(vocabulary_size, bool) or not isinstance(vocabulary_size, (int, np.integer)) or vocabulary_size < 1:
        raise ValueError(f"vocabulary_size must be a positive integer; received {vocabulary_size!r}")
    if vocabulary_size > 2**31:
        raise ValueError(f"vocabulary_size={vocabulary_size} exceeds 2**31 token ids, more than a model embeds")
    return np.dtype(np.uint16 if vocabulary_size <= 2**16 else np.uint32)


@dataclasses.dataclass(eq=False)  # `==` on memory maps would read both files whole
class TokenDirectory:
    """A prepared token directory, its files memory-mapped (read-only): nothing is read until used.

    `kerastune.data.split_causal_lm_datasets(tokens.train, tokens.validation, ...)` reads training
    windows from them batch by batch; `causal_lm(data=path)` does so for a recipe.

    Attributes:
        path: the directory.
        train: `np.memmap` of the training token ids.
        validation: `np.memmap` of the validation ids, or None when it was prepared without.
        tokenizer: the tokenizer that wrote them (`CharacterTokenizer` or KerasHub's).
        metadata: the contents of `tokens.json` (dtype, counts, sources, tokenizer kind).

    Example:

    >>> tokens = load_token_directory("tokens/shakespeare")  # doctest: +SKIP
    >>> tokens.tokenizer.detokenize(tokens.train[:14].astype("int32"))  # doctest: +SKIP
    """

    path: str
    train: np.memmap
    validation: Optional[np.memmap]
    tokenizer: object
    metadata: dict

    @property
    def vocabulary_size(self):
        return self.metadata["vocabulary_size"]


def is_token_directory(path):
    """Whether `path` is a directory `prepare_token_directory` wrote (it holds `tokens.json`)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, METADATA_FILE))


def write_token_file(path, id_chunks, vocabulary_size):
    """Appends each chunk of token ids to the flat file `path` (as `token_dtype(vocabulary_size)`); returns the count.

    Every id is checked to lie in `[0, vocabulary_size)` before it is written, so the file never holds one
    a model could not embed.

    Args:
        path: the file to write (created or truncated).
        id_chunks: an iterable of 1-D integer arrays.
        vocabulary_size: int, the tokenizer's vocabulary size.

    Example:

    >>> write_token_file("/tmp/demo.bin", [np.arange(5), np.arange(3)], vocabulary_size=10)  # doctest: +SKIP
    8
    """
    dtype = token_dtype(vocabulary_size)
    count = 0
    with open(path, "wb") as f:
        for chunk in id_chunks:
            chunk = np.asarray(chunk)
            if chunk.size and (chunk.min() < 0 or chunk.max() >= vocabulary_size):
                bad = chunk[(chunk < 0) | (chunk >= vocabulary_size)][:5].tolist()
                raise ValueError(f"token ids must lie in [0, {vocabulary_size}) (the vocabulary size); received {bad} "
                                 f"after {count} tokens of {path!r}")
            f.write(chunk.astype(dtype).tobytes())
            count += chunk.size
    return count


def read_token_file(path, dtype, num_tokens):
    """`np.memmap` (read-only) of the `num_tokens` ids in `path`; a file of another size is an error."""
    dtype = np.dtype(dtype)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"token file {path!r} does not exist; prepare the directory again "
                                "(kerastune prepare SOURCE DIRECTORY)")
    size = os.path.getsize(path)
    if size != num_tokens * dtype.itemsize:
        raise ValueError(f"token file {path!r} holds {size} bytes, but {METADATA_FILE} says {num_tokens} {dtype.name} "
                         f"ids ({num_tokens * dtype.itemsize} bytes): it was changed or not copied whole; copy or "
                         "prepare it again")
    if not num_tokens:
        raise ValueError(f"token file {path!r} holds no tokens; prepare it from a non-empty corpus")
    return np.memmap(path, dtype=dtype, mode="r", shape=(num_tokens,))


def load_token_directory(path):
    """Opens a directory `prepare_token_directory` wrote: its token files memory-mapped, its tokenizer loaded.

    Example:

    >>> tokens = load_token_directory("tokens/shakespeare")  # doctest: +SKIP
    >>> len(tokens.train), len(tokens.validation)  # doctest: +SKIP
    (1003854, 111540)
    """
    path = os.fspath(path)
    if not is_token_directory(path):
        raise ValueError(f"{path!r} is not a token directory (no {METADATA_FILE} in it); write one with "
                         "kerastune.data.prepare_token_directory or `kerastune prepare SOURCE DIRECTORY`")
    with open(os.path.join(path, METADATA_FILE), encoding="utf-8") as f:
        metadata = json.load(f)
    if metadata.get("format") != FORMAT or metadata.get("version") != FORMAT_VERSION:
        raise ValueError(f"{os.path.join(path, METADATA_FILE)!r} is not a {FORMAT} version {FORMAT_VERSION} file "
                         f"(format {metadata.get('format')!r}, version {metadata.get('version')!r}); prepare the "
                         "directory again with this kerastune")
    train = read_token_file(os.path.join(path, TRAIN_FILE), metadata["dtype"], metadata["train_tokens"])
    validation = None
    if metadata["validation_tokens"]:
        validation = read_token_file(os.path.join(path, VALIDATION_FILE), metadata["dtype"],
                                     metadata["validation_tokens"])
    tokenizer = load_tokenizer(os.path.join(path, TOKENIZER_DIRECTORY))
    return TokenDirectory(path, train, validation, tokenizer, metadata)


def prepare_token_directory(
    directory,
    train,
    validation=None,
    tokenizer="sentencepiece",
    vocabulary_size=8192,
    validation_fraction=None,
    data_dir=None,
    tokenizer_sample_characters=20_000_000,
    chunk_bytes=1 << 20,
):
    """Tokenizes a corpus into `directory` (`train.bin`, `val.bin`, `tokenizer/`, `tokens.json`), streaming it.

    The text (`train`, and `validation` when given: any source `load_text` names, a text file, `"tfds:NAME"`
    (its `train` split, and for `validation` its `validation` split) or a labelled-text file) is read
    about `chunk_bytes` at a time, pieces ending at line or example ends (a line longer than 16 chunks
    at a space),
    and encoded piece by piece, so neither the text nor its ids are ever whole in memory. Without a
    `validation` source, the last `validation_fraction` (default 0.1) of the training tokens become
    `val.bin`, the boundary `split_tokens` draws: for one text file and the character tokenizer, the same
    two splits as `causal_lm_datasets(encode(text))`. `validation_fraction=0` writes no validation file.

    `tokenizer` is a kind in `TOKENIZER_KINDS`, learned here from the training text (`"character"`: every
    distinct character of both whole streams; `"sentencepiece"`: `vocabulary_size` lossless pieces learned
    from its first `tokenizer_sample_characters`), or a tokenizer layer to use as it is (e.g. a pretrained GPT's).
    Ids are stored as `token_dtype(vocabulary_size)`: uint16, nanoGPT's format, up to 65,536 tokens.
    A SentencePiece piece never spans two pieces of the stream (its cuts fall at line ends, about one per
    `chunk_bytes`, so the ids can differ there from the whole text's); characters encode exactly as the
    whole text would.

    Everything is written into a hidden sibling and renamed to `directory` at the end: an error or a
    crash leaves no half-written directory, and an existing one is never overwritten.

    Args:
        directory: str, the directory to create (must not exist).
        train: str, the training corpus's source.
        validation: str or None, the validation corpus's source.
        tokenizer: `"character"`, `"sentencepiece"` or a tokenizer layer.
        vocabulary_size: int, SentencePiece's vocabulary size.
        validation_fraction: float in `[0, 1)` or None (0.1); only without `validation`.
        data_dir: TFDS `data_dir` for `"tfds:"` sources.
        tokenizer_sample_characters: int, how much of the training text SentencePiece learns from.
        chunk_bytes: int, roughly the text encoded at a time.

    Returns:
        The `TokenDirectory` written.

    Example:

    >>> tokens = prepare_token_directory("tokens/shakespeare", "input.txt", tokenizer="character")  # doctest: +SKIP
    >>> tokens.metadata["train_tokens"]  # doctest: +SKIP
    1003854
    """
    directory, train = os.fspath(directory), os.fspath(train)
    validation = None if validation is None else os.fspath(validation)
    if validation is not None and validation_fraction is not None:
        raise ValueError(f"validation={validation!r} is the validation corpus, so validation_fraction (which splits "
                         f"it off the training tokens) must be left unset; received validation_fraction="
                         f"{validation_fraction!r}")
    fraction = 0.1 if validation_fraction is None else validation_fraction
    split_boundary(0, fraction)  # checks the fraction before any text is read
    if os.path.exists(directory):
        raise FileExistsError(f"{directory!r} already exists; a token directory is never overwritten: remove it "
                              "or pick another path")
    if not isinstance(tokenizer, str) and getattr(tokenizer, "sequence_length", None) is not None:
        raise ValueError(f"the tokenizer cuts or pads every text to sequence_length={tokenizer.sequence_length}, so "
                         "the corpus would be cut too; pass one built with sequence_length=None (e.g. "
                         "keras_hub.models.GPT2Tokenizer.from_preset(..., sequence_length=None))")
    check_text_source(train, data_dir, "train")  # every source, before hours go into the first one
    if validation is not None:
        check_text_source(validation, data_dir, "validation")

    def pieces(source, split="train"):
        return stream_text(source, data_dir=data_dir, split=split, chunk_bytes=chunk_bytes)

    if isinstance(tokenizer, str):
        corpus = pieces(train)
        if tokenizer == "character" and validation is not None:  # an id for every character of both
            corpus = itertools.chain(corpus, pieces(validation, "validation"))
        tokenizer = _learn_tokenizer(tokenizer, corpus, vocabulary_size, tokenizer_sample_characters)
    size = int(tokenizer.vocabulary_size())
    dtype = token_dtype(size)
    with atomic_directory(directory) as temporary:
        train_path = os.path.join(temporary, TRAIN_FILE)
        validation_path = os.path.join(temporary, VALIDATION_FILE)
        num_train = write_token_file(train_path, _encoded(tokenizer, pieces(train)), size)
        if validation is not None:
            validation_ids = _encoded(tokenizer, pieces(validation, "validation"))
            num_validation = write_token_file(validation_path, validation_ids, size)
        else:
            boundary = split_boundary(num_train, fraction)
            num_validation = num_train - boundary
            if num_validation:
                _move_tail(train_path, validation_path, boundary * dtype.itemsize)
            num_train = boundary
        save_tokenizer(tokenizer, os.path.join(temporary, TOKENIZER_DIRECTORY))
        metadata = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "dtype": dtype.name,
            "vocabulary_size": size,
            "train_tokens": num_train,
            "validation_tokens": num_validation,
            "tokenizer": type(tokenizer).__name__,
            "train_source": train,
            "validation_source": validation if validation is not None else
            f"the last {fraction} of {train}" if fraction else None,
        }
        with open(os.path.join(temporary, METADATA_FILE), "w", encoding="utf-8") as f:
            json.dump(metadata, f, indent=1)
        if not num_train:
            raise ValueError(f"no training tokens are left after splitting off validation_fraction={fraction} of "
                             f"{num_validation}; use more text or a lower validation_fraction")
    return load_token_directory(directory)


def _learn_tokenizer(kind, pieces, vocabulary_size, sample_characters):
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"tokenizer must be one of {TOKENIZER_KINDS} or a tokenizer layer. Received: "
                         f"tokenizer={kind!r}")
    if kind == "character":  # every character of the corpus needs an id: one pass over all of it
        characters = set()
        for piece in pieces:
            characters.update(piece)
        return build_tokenizer(kind, "".join(sorted(characters)))
    sample, size = [], 0
    for piece in pieces:
        sample.append(piece)
        size += len(piece)
        if size >= sample_characters:
            break
    return build_tokenizer(kind, "".join(sample), vocabulary_size)


def _encoded(tokenizer, pieces, batch_characters=1 << 20):
    """Each piece's ids, encoded in batches of about `batch_characters` (one tokenizer call for many examples)."""
    batch, size = [], 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= batch_characters:
            yield from encode_texts(tokenizer, batch)
            batch, size = [], 0
    if batch:
        yield from encode_texts(tokenizer, batch)


def _move_tail(source, destination, offset):
    """Moves the bytes of `source` from `offset` on into `destination`, in blocks, and truncates `source` there."""
    with open(source, "r+b") as f, open(destination, "wb") as out:
        f.seek(offset)
        while block := f.read(_COPY_BYTES):
            out.write(block)
        f.truncate(offset)
