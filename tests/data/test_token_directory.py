"""Token directories: streamed writing checked against encoding the whole text in memory, memory-mapped reading
checked against the in-memory datasets, and the errors that leave nothing half-written."""

import json
import os
import stat
import tracemalloc

import numpy as np
import pytest

from kerastune.data.causal_lm_dataset import causal_lm_datasets, split_causal_lm_datasets, split_tokens
from kerastune.data.character_tokenizer import CharacterTokenizer
from kerastune.data.text_encoding import encode_texts
from kerastune.models.text_generation import decoded_str
from kerastune.data.token_directory import (
    load_token_directory,
    prepare_token_directory,
    token_dtype,
    write_token_file,
)
from tests.conftest import shared_path

TEXT = "".join(f"Line {i}: the quick brown fox jumps over the lazy dog; ünïcode 日本 {i * i}\n" for i in range(400))


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return str(path)


def _datasets_equal(first, second, batches):
    for a, b in zip(first.take(batches), second.take(batches)):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("sampling", ["random", "sequential"])
def test_character_directory_is_the_in_memory_split_and_its_windows(tmp_path, corpus, sampling):
    tokens = prepare_token_directory(tmp_path / "tokens", corpus, tokenizer="character", chunk_bytes=97)
    ids = CharacterTokenizer.from_corpus(TEXT).encode_text(TEXT)
    train, validation = split_tokens(ids, 0.1)
    assert isinstance(tokens.train, np.memmap) and tokens.train.dtype == np.uint16
    np.testing.assert_array_equal(tokens.train, train)
    np.testing.assert_array_equal(tokens.validation, validation)
    assert tokens.tokenizer.get_vocabulary() == sorted(set(TEXT))
    assert tokens.metadata["train_tokens"] == len(train) and tokens.metadata["validation_tokens"] == len(validation)
    settings = dict(sequence_length=32, batch_size=5, seed=7, sampling=sampling, validation_batches=4)
    from_memory = causal_lm_datasets(ids, validation_fraction=0.1, **settings)
    from_files = split_causal_lm_datasets(tokens.train, tokens.validation, **settings)
    for memory_ds, file_ds in zip(from_memory, from_files):
        _datasets_equal(memory_ds, file_ds, 6)


def test_sentencepiece_directory_decodes_to_the_text(tmp_path, corpus):
    tokens = prepare_token_directory(tmp_path / "tokens", corpus, vocabulary_size=400, chunk_bytes=1000)
    assert tokens.vocabulary_size == 400 and tokens.metadata["tokenizer"] == "SentencePieceTokenizer"
    ids = np.concatenate([tokens.train, tokens.validation]).astype(np.int32)
    assert decoded_str(tokens.tokenizer.detokenize(ids)) == TEXT  # lossless, across the stream's cuts
    reloaded = load_token_directory(tmp_path / "tokens")
    assert reloaded.tokenizer.get_vocabulary() == tokens.tokenizer.get_vocabulary()
    whole = encode_texts(tokens.tokenizer, [TEXT])[0]
    assert abs(len(ids) - len(whole)) <= 0.01 * len(whole)  # cuts at line ends change the pieces by little


def test_a_validation_source_and_no_validation(tmp_path, corpus):
    held_out = tmp_path / "held_out.txt"
    held_out.write_text("the lazy dog?\n" * 30, encoding="utf-8")  # "?" is not in the training text
    tokens = prepare_token_directory(tmp_path / "a", corpus, validation=str(held_out), tokenizer="character")
    tokenizer = tokens.tokenizer
    np.testing.assert_array_equal(tokens.train, tokenizer.encode_text(TEXT))
    np.testing.assert_array_equal(tokens.validation, tokenizer.encode_text("the lazy dog?\n" * 30))
    assert tokens.metadata["validation_source"] == str(held_out)

    alone = prepare_token_directory(tmp_path / "b", corpus, tokenizer="character", validation_fraction=0)
    assert alone.validation is None and not os.path.exists(tmp_path / "b" / "val.bin")
    assert len(alone.train) == len(TEXT)
    train_ds, val_ds = split_causal_lm_datasets(alone.train, None, sequence_length=8, batch_size=2)
    assert val_ds is None and next(iter(train_ds))[0].shape == (2, 8)


def test_a_given_tokenizer_is_used_as_it_is(tmp_path, corpus):
    tokenizer = CharacterTokenizer.from_corpus(TEXT + "XYZ")
    tokens = prepare_token_directory(tmp_path / "tokens", corpus, tokenizer=tokenizer)
    assert tokens.tokenizer.get_vocabulary() == tokenizer.get_vocabulary()
    assert tokens.vocabulary_size == len(set(TEXT)) + 3


def test_memory_mapped_files_are_never_read_whole(tmp_path):
    """A 2 GiB token file (sparse: it costs no disk) gives batches without its ids ever being copied."""
    path = tmp_path / "train.bin"
    num_tokens = 2**30
    with open(path, "wb") as f:
        f.truncate(num_tokens * 2)
    train = np.memmap(path, dtype=np.uint16, mode="r", shape=(num_tokens,))
    tracemalloc.start()
    try:
        train_ds, _ = split_causal_lm_datasets(train, None, sequence_length=1024, batch_size=8)
        inputs, targets = next(iter(train_ds))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert inputs.shape == (8, 1024) and not np.asarray(targets).any()
    assert peak < 64 << 20, f"{peak} bytes allocated: the file was read whole"


def test_token_dtype_is_nanogpts_uint16_while_ids_fit():
    assert token_dtype(65536) == np.uint16 and token_dtype(65537) == np.uint32
    with pytest.raises(ValueError, match="vocabulary_size must be a positive integer"):
        token_dtype(0)


def test_ids_outside_the_vocabulary_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"must lie in \[0, 10\).*\[12\] after 3 tokens"):
        write_token_file(tmp_path / "x.bin", [np.array([1, 2, 3]), np.array([4, 12])], vocabulary_size=10)


def test_an_existing_directory_is_never_overwritten(tmp_path, corpus):
    prepare_token_directory(tmp_path / "tokens", corpus, tokenizer="character")
    before = (tmp_path / "tokens" / "train.bin").read_bytes()
    with pytest.raises(FileExistsError, match="never overwritten"):
        prepare_token_directory(tmp_path / "tokens", corpus, tokenizer="character", validation_fraction=0.5)
    assert (tmp_path / "tokens" / "train.bin").read_bytes() == before


def test_a_failure_while_writing_leaves_nothing(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_bytes(TEXT.encode("utf-8") + "café\n".encode("latin-1"))
    # a character vocabulary reads the whole text first; SentencePiece learns from a sample, so the bad byte is
    # met only while the ids are being written
    with pytest.raises(ValueError, match=f"not valid UTF-8.*byte offset {len(TEXT.encode()) + 3} \\(line 401"):
        prepare_token_directory(tmp_path / "tokens", str(path), vocabulary_size=320, chunk_bytes=500,
                                tokenizer_sample_characters=10_000)
    assert sorted(os.listdir(tmp_path)) == ["broken.txt"]  # no directory, no hidden half-written sibling


def test_bad_settings_are_refused_before_reading(tmp_path, corpus):
    with pytest.raises(ValueError, match="validation_fraction .* must be left unset"):
        prepare_token_directory(tmp_path / "t", corpus, validation=corpus, validation_fraction=0.2)
    with pytest.raises(ValueError, match=r"validation_fraction must be a number in \[0, 1\)"):
        prepare_token_directory(tmp_path / "t", corpus, validation_fraction=1.0)
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        prepare_token_directory(tmp_path / "t", corpus, tokenizer="bpe")
    assert not os.path.exists(tmp_path / "t")


def test_damaged_directories_are_clear_errors(tmp_path, corpus):
    with pytest.raises(ValueError, match="is not a token directory"):
        load_token_directory(tmp_path)
    prepare_token_directory(tmp_path / "tokens", corpus, tokenizer="character")
    with open(tmp_path / "tokens" / "train.bin", "r+b") as f:
        f.truncate(100)
    with pytest.raises(ValueError, match="holds 100 bytes, but tokens.json says .* copy or prepare it again"):
        load_token_directory(tmp_path / "tokens")
    metadata = json.loads((tmp_path / "tokens" / "tokens.json").read_text())
    (tmp_path / "tokens" / "tokens.json").write_text(json.dumps({**metadata, "version": 99}))
    with pytest.raises(ValueError, match="version 99"):
        load_token_directory(tmp_path / "tokens")


def test_the_directory_is_readable_by_others(tmp_path, corpus):
    """Written into a private temporary directory, it gets the umask's permissions when renamed into place."""
    prepare_token_directory(tmp_path / "tokens", corpus, tokenizer="character")
    mode = stat.S_IMODE(os.stat(tmp_path / "tokens").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o777 & ~umask


def test_tiny_shakespeare_as_nanogpt_splits_it(tmp_path):
    path = shared_path("data", "tinyshakespeare", "input.txt")
    tokens = prepare_token_directory(tmp_path / "tokens", path, tokenizer="character")
    assert (len(tokens.train), len(tokens.validation), tokens.vocabulary_size) == (1_003_854, 111_540, 65)
    assert os.path.getsize(tmp_path / "tokens" / "train.bin") == 2 * 1_003_854  # uint16, as nanoGPT's train.bin


def test_gpt2s_own_byte_level_bpe_is_stored_and_reloaded(tmp_path):
    """KerasHub's GPT2Tokenizer (what `GPT2Tokenizer.from_preset("gpt2_base_en")` builds), here with a tiny
    vocabulary and merges so it needs no download."""
    import keras_hub

    vocabulary = {"<|endoftext|>": 0, "a": 1, "b": 2, "Ġ": 3, "ab": 4, "Ġab": 5, "Ċ": 6}
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=["a b", "Ġ ab"])
    path = tmp_path / "corpus.txt"
    path.write_text("ab ab\nab\n" * 50, encoding="utf-8")
    tokens = prepare_token_directory(tmp_path / "tokens", str(path), tokenizer=tokenizer, validation_fraction=0)
    np.testing.assert_array_equal(tokens.train[:5], [4, 5, 6, 4, 6])
    assert type(tokens.tokenizer).__name__ == "GPT2Tokenizer" and tokens.vocabulary_size == 7
    assert decoded_str(tokens.tokenizer.detokenize(np.asarray(tokens.train, np.int32))) == "ab ab\nab\n" * 50


def test_a_tokenizer_that_cuts_texts_is_refused(tmp_path, corpus):
    import keras_hub

    vocabulary = {"<|endoftext|>": 0, "a": 1, "b": 2, "Ġ": 3, "ab": 4, "Ġab": 5, "Ċ": 6}
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=["a b", "Ġ ab"], sequence_length=8)
    with pytest.raises(ValueError, match="cuts or pads every text to sequence_length=8"):
        prepare_token_directory(tmp_path / "tokens", corpus, tokenizer=tokenizer)
    assert not os.path.exists(tmp_path / "tokens")


def test_a_missing_validation_source_is_found_before_the_training_text_is_read(tmp_path, corpus, monkeypatch):
    import kerastune.data.token_directory as token_directory

    read = []
    monkeypatch.setattr(token_directory, "stream_text", lambda *args, **kwargs: read.append(args) or iter(()))
    with pytest.raises(FileNotFoundError, match="held_out.txt' does not exist"):
        prepare_token_directory(tmp_path / "tokens", corpus, validation=str(tmp_path / "held_out.txt"))
    assert read == [] and not os.path.exists(tmp_path / "tokens")


def test_any_validation_fraction_keeps_a_token_and_none_says_so(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("abcdefgh\n", encoding="utf-8")
    tokens = prepare_token_directory(tmp_path / "tokens", str(path), tokenizer="character", validation_fraction=0.01)
    assert (len(tokens.train), len(tokens.validation)) == (8, 1)  # floor(9 * 0.99): the split rounds towards it
    alone = prepare_token_directory(tmp_path / "alone", str(path), tokenizer="character", validation_fraction=0)
    assert alone.metadata["validation_source"] is None and alone.validation is None


def test_memory_mapped_ids_outside_int32_are_an_error_when_read(tmp_path):
    path = tmp_path / "wide.bin"
    np.array([1, 2, 3, 2**31 + 5] * 8, np.uint32).tofile(path)
    ids = np.memmap(path, dtype=np.uint32, mode="r")
    train_ds, _ = split_causal_lm_datasets(ids, None, sequence_length=4, batch_size=2, sampling="sequential")
    with pytest.raises(Exception, match=r"token ids must be in \[0, 2\*\*31\).*wide.bin"):
        next(iter(train_ds))
