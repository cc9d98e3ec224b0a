"""Train KerasHub subword tokenizers (SentencePiece for GPT, WordPiece for BERT) offline, and save/load them."""

import collections
import io
import json
import os
import re
import unicodedata

import keras
import keras_hub
import tensorflow as tf

SENTENCEPIECE_MODEL_TYPES = ("unigram", "bpe")
BERT_RESERVED_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_CHUNK_CHARACTERS = 1000  # SentencePiece skips training "sentences" over 4192 bytes; 1000 chars <= 4000 bytes
_SPECIAL_IDS = {"pad_id": 0, "unk_id": 1, "bos_id": 2, "eos_id": 3}  # as compute_sentence_piece_proto sets them
_BYTE_PIECES = 256
# The CJK ideograph blocks BERT's tokenizer (and KerasHub's `split_on_cjk`) makes single-character words.
_CJK = re.compile(
    "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df\U0002a700-\U0002ceaf\U0002f800-\U0002fa1f]"
)


def train_sentencepiece_tokenizer(
    texts_or_dataset, vocabulary_size, model_type="unigram", lossless=True, lowercase=False
):
    """Trains a SentencePiece model and returns a `keras_hub.tokenizers.SentencePieceTokenizer`.

    With `lossless=True` (the default, for GPT-style language models) `detokenize(tokenize(text))`
    gives back `text` exactly: no Unicode normalisation, spaces, tabs and newlines kept as they are
    (pieces such as `".\\n\\n"` are learned), no dummy leading space, and characters never seen in
    training fall back to their UTF-8 bytes (256 `<0x..>` pieces) instead of `<unk>`. KerasHub's
    `compute_sentence_piece_proto` has no arguments for these settings, so this path calls the same
    `sentencepiece` trainer with the same special ids (`<pad>`=0, `<unk>`=1, `<s>`=2, `</s>`=3).
    With `lossless=False` it is `keras_hub.tokenizers.compute_sentence_piece_proto` unchanged
    (NFKC, whitespace collapsed, newlines become spaces, optional lowercasing).

    Training runs offline and in memory; texts are cut at line ends into pieces of at most 1000
    characters, because SentencePiece drops longer training sentences.

    Args:
        texts_or_dataset: a `str` (one corpus), a list of `str`, or a `tf.data.Dataset` of scalar strings.
        vocabulary_size: int, the number of pieces (with lossless, more than 260 + distinct characters).
        model_type: `"unigram"` or `"bpe"`.
        lossless: bool, see above.
        lowercase: bool, lowercase the text first (only with `lossless=False`).

    Returns:
        A `keras_hub.tokenizers.SentencePieceTokenizer`.

    Example:

    >>> text = "the quick brown fox jumps over the lazy dog\\n" * 50
    >>> tokenizer = train_sentencepiece_tokenizer(text, vocabulary_size=300)  # doctest: +SKIP
    >>> tokenizer.detokenize(tokenizer.tokenize(text)).numpy().decode() == text  # doctest: +SKIP
    True
    """
    vocabulary_size = _check_vocabulary_size(vocabulary_size)
    if model_type not in SENTENCEPIECE_MODEL_TYPES:
        raise ValueError(f"model_type must be one of {SENTENCEPIECE_MODEL_TYPES}; received {model_type!r}")
    if lossless and lowercase:
        raise ValueError("lowercase=True changes the text, so it cannot be lossless; pass lossless=False with it")
    sentences = list(_training_chunks(texts_or_dataset, keep_newlines=lossless))
    if lossless and vocabulary_size < len(_SPECIAL_IDS) + _BYTE_PIECES + 1:
        raise ValueError(
            f"vocabulary_size={vocabulary_size} is too small for a lossless SentencePiece model, which holds "
            f"4 special and 256 byte pieces; pass at least {len(_SPECIAL_IDS) + _BYTE_PIECES + 1} "
            "(a few hundred more for useful pieces)"
        )
    try:
        proto = _train_proto(sentences, vocabulary_size, model_type, lossless, lowercase)
    except RuntimeError as error:  # sentencepiece's own checks, e.g. a vocabulary too large for the text
        raise ValueError(
            f"SentencePiece could not train a {model_type} model of vocabulary_size={vocabulary_size} on "
            f"{sum(map(len, sentences))} characters: {str(error).rstrip('.')}; "
            "change vocabulary_size as it says or give more text"
        ) from None
    return keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)


def _train_proto(sentences, vocabulary_size, model_type, lossless, lowercase):
    """The serialized SentencePiece model proto, trained in memory."""
    if not lossless:
        return keras_hub.tokenizers.compute_sentence_piece_proto(
            tf.data.Dataset.from_tensor_slices(sentences), vocabulary_size, model_type=model_type, lowercase=lowercase
        )
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        vocab_size=vocabulary_size,
        model_type=model_type,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=False,
        byte_fallback=True,
        character_coverage=1.0,
        num_threads=os.cpu_count() or 1,
        minloglevel=2,
        **_SPECIAL_IDS,
    )
    return model.getvalue()


def train_wordpiece_tokenizer(
    texts_or_dataset, vocabulary_size, lowercase=True, strip_accents=False, reserved_tokens=BERT_RESERVED_TOKENS,
    split_on_cjk=True,
):
    """Trains a WordPiece vocabulary (BERT's) and returns a `keras_hub.tokenizers.WordPieceTokenizer`.

    A thin call of `keras_hub.tokenizers.compute_word_piece_vocabulary`: the text is split on
    whitespace and punctuation (and around CJK characters), and the `reserved_tokens` come first in
    the vocabulary, so with the default `[PAD]` is id 0 and `[UNK]` (the out-of-vocabulary token) id 1.
    Runs offline and in memory.

    Chinese (and Japanese / Korean) text: with `split_on_cjk=True`, as in BERT's Chinese models, every
    CJK ideograph is a token of its own, so the vocabulary is the corpus's characters plus its frequent
    Latin words and digit runs (`"15.4寸笔记本"` -> `1 ##5 . 4 寸 笔 记 本`). Full-width punctuation is
    punctuation (a token of its own); `lowercase=True` also NFKC-folds full-width Latin letters and
    digits (`"ＡＢＣ１２３"` -> `abc123`) and `"，"` to `","`. KerasHub's learner keeps only the
    1,000 most frequent characters of the corpus (TF Text's `max_unique_chars`), which leaves about
    5% of ChnSentiCorp's characters `[UNK]`; here every CJK character of the corpus is added after
    them, most frequent first, in place of the rarest multi-character pieces when the vocabulary is
    full. Characters never seen in training (rare traditional forms, emoji) become `[UNK]`, never an
    error. For vocabularies of characters *and* frequent multi-character words, train SentencePiece
    (`train_sentencepiece_tokenizer`).

    Args:
        texts_or_dataset: a `str`, a list of `str`, or a `tf.data.Dataset` of scalar strings.
        vocabulary_size: int, the most tokens in the vocabulary, reserved tokens included.
        lowercase: bool, lowercase before splitting (BERT "uncased").
        strip_accents: bool, remove accents before splitting.
        reserved_tokens: list of str placed first in the vocabulary; must contain `"[UNK]"`.
        split_on_cjk: bool, make every CJK ideograph a word of its own (BERT's Chinese tokenisation).

    Returns:
        A `keras_hub.tokenizers.WordPieceTokenizer`.

    Example:

    >>> tokenizer = train_wordpiece_tokenizer(["the quick brown fox", "the lazy dog"], 40)  # doctest: +SKIP
    >>> tokenizer.get_vocabulary()[:5]  # doctest: +SKIP
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    """
    vocabulary_size = _check_vocabulary_size(vocabulary_size)
    reserved_tokens = list(reserved_tokens)
    if "[UNK]" not in reserved_tokens:
        raise ValueError(
            "reserved_tokens must contain '[UNK]', the token for words outside the vocabulary; "
            f"received {reserved_tokens!r}"
        )
    if vocabulary_size <= len(reserved_tokens):
        raise ValueError(
            f"vocabulary_size={vocabulary_size} leaves no room beside the {len(reserved_tokens)} reserved "
            "tokens; pass a larger vocabulary_size"
        )
    sentences = list(_training_chunks(texts_or_dataset, keep_newlines=False))
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(sentences),
        vocabulary_size,
        lowercase=lowercase,
        strip_accents=strip_accents,
        split_on_cjk=split_on_cjk,
        reserved_tokens=reserved_tokens,
    )
    if split_on_cjk:
        vocabulary = _with_every_cjk_character(vocabulary, sentences, vocabulary_size, lowercase, len(reserved_tokens))
    return keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=vocabulary, lowercase=lowercase, strip_accents=strip_accents, split_on_cjk=split_on_cjk,
        oov_token="[UNK]",
    )


def _with_every_cjk_character(vocabulary, sentences, vocabulary_size, lowercase, num_reserved):
    """`vocabulary` plus the corpus's CJK characters it lacks (most frequent first), within `vocabulary_size`.

    With `split_on_cjk` a CJK character is always a word of its own, so it needs no `##` form. Room is
    made by dropping the learner's rarest multi-character pieces (its list ends with them, by falling count).
    """
    counts = collections.Counter()
    for sentence in sentences:
        if lowercase:  # as the tokenizer folds its input (NFKC maps compatibility ideographs to unified ones)
            sentence = unicodedata.normalize("NFKC", sentence)
        counts.update(_CJK.findall(sentence))
    known = set(vocabulary)
    missing = [c for c, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if c not in known]
    if not missing:
        return vocabulary
    vocabulary = list(vocabulary)
    removable = [i for i in range(len(vocabulary) - 1, num_reserved - 1, -1) if len(vocabulary[i].lstrip("#")) > 1]
    overflow = len(vocabulary) + len(missing) - vocabulary_size
    dropped = set(removable[: max(overflow, 0)])
    kept = [token for i, token in enumerate(vocabulary) if i not in dropped]
    return kept + missing[: vocabulary_size - len(kept)]


def save_subword_tokenizer(tokenizer, directory):
    """Saves a KerasHub tokenizer to `directory` in KerasHub's preset layout; returns the vocabulary file.

    The directory gets `tokenizer.json` (the layer config) and `assets/tokenizer/vocabulary.spm`
    (SentencePiece proto) or `assets/tokenizer/vocabulary.txt` (WordPiece, one token a line).
    """
    if not isinstance(tokenizer, keras_hub.tokenizers.Tokenizer):
        raise ValueError(f"tokenizer must be a keras_hub.tokenizers.Tokenizer; received {type(tokenizer).__name__}")
    os.makedirs(directory, exist_ok=True)
    tokenizer.save_to_preset(directory)
    asset_dir = os.path.join(directory, "assets", "tokenizer")
    return os.path.join(asset_dir, sorted(os.listdir(asset_dir))[0])


def load_subword_tokenizer(directory):
    """Loads a tokenizer written by `save_subword_tokenizer` (config and vocabulary), offline."""
    config_path = os.path.join(directory, "tokenizer.json")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(
            f"{config_path!r} does not exist; pass a directory written by save_subword_tokenizer "
            f"(received directory {os.fspath(directory)!r})"
        )
    with open(config_path) as f:
        tokenizer = keras.saving.deserialize_keras_object(json.load(f))
    if hasattr(tokenizer, "load_assets"):  # KerasHub's; kerastune's CharacterTokenizer holds its vocabulary itself
        tokenizer.load_assets(os.path.join(directory, "assets", "tokenizer"))
    return tokenizer


def _training_chunks(texts_or_dataset, keep_newlines):
    """Yields training sentences of at most `_CHUNK_CHARACTERS`, cut at line ends where possible."""
    if isinstance(texts_or_dataset, str):
        texts = [texts_or_dataset]
    elif isinstance(texts_or_dataset, tf.data.Dataset):
        texts = (t.decode("utf-8") for t in texts_or_dataset.as_numpy_iterator())
    elif isinstance(texts_or_dataset, (list, tuple)) and all(isinstance(t, str) for t in texts_or_dataset):
        texts = texts_or_dataset
    else:
        raise ValueError(
            "texts_or_dataset must be a str, a list of str or a tf.data.Dataset of scalar strings; "
            f"received {type(texts_or_dataset).__name__} {texts_or_dataset!r:.80}"
        )
    found = False
    for text in texts:
        chunk = ""
        for line in text.splitlines(keepends=keep_newlines):
            for start in range(0, max(len(line), 1), _CHUNK_CHARACTERS):
                piece = line[start : start + _CHUNK_CHARACTERS]
                if keep_newlines and len(chunk) + len(piece) <= _CHUNK_CHARACTERS:
                    chunk += piece
                    continue
                if chunk.strip():
                    found = True
                    yield chunk
                chunk = piece
        if chunk.strip():
            found = True
            yield chunk
    if not found:
        raise ValueError("texts_or_dataset holds no text (only empty or whitespace strings); pass the training corpus")


def _check_vocabulary_size(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"vocabulary_size must be a positive integer; received {value!r}")
    return value
