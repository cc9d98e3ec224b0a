"""Chinese text through kerastune's tokenizers and readers, on real ChnSentiCorp sentences.

BERT-style tokenisation (KerasHub WordPiece, `split_on_cjk`) is checked against an independent
reference: Python's own per-character split of the NFKC-folded text. Full-width punctuation,
mixed Chinese / English / digits, traditional characters and emoji must tokenize without errors.
"""

import unicodedata

import keras_hub
import numpy as np
import pytest

from kerastune.data.character_tokenizer import CharacterTokenizer
from kerastune.data.labelled_text import LabelledTextError, read_labelled_text
from kerastune.data.subword_tokenizer import train_sentencepiece_tokenizer, train_wordpiece_tokenizer
from kerastune.data.text_source import load_text
from tests.conftest import SHARED

TRAIN = SHARED / "data" / "chnsenticorp" / "train.tsv"
MINILM = SHARED / "models" / "all-MiniLM-L6-v2"
# real training lines (1-based line numbers of train.tsv, header = line 1)
MIXED = "t4200cpu不错，带摄像头，带dvd刻录，升级了内存。速度一流。带电池延包卡可以包1年。"  # line 209
TRADITIONAL = "香港的酒店在面積方面就不需要強求什麼了﹗這家酒店設施已經比較陳舊了，不過交通比較方便的﹗服務方面尚可﹗"  # line 3004


def is_cjk(character):
    return "\u4e00" <= character <= "\u9fff" or "\u3400" <= character <= "\u4dbf"


@pytest.fixture(scope="module")
def texts():
    if not TRAIN.exists():
        pytest.skip(f"{TRAIN} is absent (shared data is not in this checkout)")
    return read_labelled_text(str(TRAIN)).head(100).texts


@pytest.fixture(scope="module")
def wordpiece(texts):
    return train_wordpiece_tokenizer(texts + [MIXED], vocabulary_size=4000)


def pieces(tokenizer, text):
    return [tokenizer.id_to_token(int(i)) for i in np.asarray(tokenizer(text))]


def test_the_vocabulary_is_characters_plus_frequent_latin_words(texts, wordpiece):
    vocabulary = wordpiece.get_vocabulary()
    assert vocabulary[:2] == ["[PAD]", "[UNK]"]
    chinese = [token for token in vocabulary if any(is_cjk(c) for c in token) and not token.startswith("##")]
    assert chinese and all(len(token) == 1 for token in chinese)  # CJK split: no multi-character Chinese token
    seen = {c for text in texts + [MIXED] for c in text if is_cjk(c)}
    assert set(chinese) == seen  # every character of the corpus, beyond the learner's 1000 most frequent
    assert len(seen) > 1000 and {"a", "##a", "1", "##1"} <= set(vocabulary)


def test_chinese_sentences_split_into_characters_as_python_does(texts, wordpiece):
    checked = 0
    for text in texts:
        folded = [unicodedata.normalize("NFKC", c).lower() for c in text]
        if not all(len(c) == 1 and (is_cjk(c) or unicodedata.category(c).startswith("P") or c.isspace())
                   for c in folded):
            continue  # the reference covers Chinese and punctuation that folds to one character ("，" -> ",")
        assert pieces(wordpiece, text) == [c for c in folded if not c.isspace()], text
        checked += 1
    assert checked >= 10


def test_mixed_chinese_english_digits_and_full_width_text(wordpiece):
    tokens = pieces(wordpiece, MIXED)
    # Latin words and digit runs stay whole words (pieces joined by ##); each Chinese character is one token
    words = " ".join(tokens).replace(" ##", "").split()
    assert words[:3] == ["t4200cpu", "不", "错"] and "dvd" in words and "1" in words
    assert "".join(words) == unicodedata.normalize("NFKC", MIXED).lower()  # nothing unknown, nothing lost
    full_width = pieces(wordpiece, "ＡＢＣ１２３，很好！")  # NFKC folds full-width Latin, digits and punctuation
    assert " ".join(full_width).replace(" ##", "").split() == ["abc123", ",", "很", "好", "!"]


def test_traditional_characters_and_emoji_are_unknown_tokens_not_errors(wordpiece):
    vocabulary = set(wordpiece.get_vocabulary())
    characters = [c for c in unicodedata.normalize("NFKC", TRADITIONAL).lower() if not c.isspace()]
    want = [c if c in vocabulary else "[UNK]" for c in characters] + ["[UNK]"] + pieces(wordpiece, "OK")
    tokens = pieces(wordpiece, TRADITIONAL + " 😀👍 OK")  # the two emoji are one word outside the vocabulary
    assert tokens == want and "[UNK]" in tokens[: len(characters)] and "酒" in tokens


def test_split_on_cjk_false_keeps_a_chinese_clause_as_one_word(texts):
    tokenizer = train_wordpiece_tokenizer(texts[:10] * 10, vocabulary_size=2000, split_on_cjk=False)
    assert not tokenizer.split_on_cjk
    assert any(len(token.lstrip("#")) > 1 and all(is_cjk(c) for c in token.lstrip("#"))
               for token in tokenizer.get_vocabulary())


def test_minilm_tokenizer_splits_cjk_characters_too():
    if not (MINILM / "vocab.txt").exists():
        pytest.skip(f"{MINILM} is absent (shared models are not in this checkout)")
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=str(MINILM / "vocab.txt"), lowercase=True)
    tokens = pieces(tokenizer, MIXED)
    assert len([t for t in tokens if t == "[UNK]" or (len(t) == 1 and is_cjk(t))]) == sum(map(is_cjk, MIXED))


def test_sentencepiece_learns_characters_and_frequent_words_losslessly(texts):
    tokenizer = train_sentencepiece_tokenizer("\n".join(texts), vocabulary_size=2000)
    vocabulary = tokenizer.get_vocabulary()
    words = [p for p in vocabulary if len(p) > 1 and all(is_cjk(c) for c in p)]
    assert "酒店" in words and len(words) > 100  # frequent multi-character words beside the characters
    for text in (MIXED, TRADITIONAL + "😀", "ＡＢＣ１２３，很好！"):  # byte fallback: nothing unknown, nothing lost
        decoded = tokenizer.detokenize(tokenizer.tokenize(text))
        assert (decoded if isinstance(decoded, str) else decoded.numpy().decode("utf-8")) == text


def test_character_tokenizer_round_trips_chinese_and_names_unknown_characters(texts):
    corpus = "\n".join(texts) + "😀"
    tokenizer = CharacterTokenizer.from_corpus(corpus)
    assert tokenizer.vocabulary_size() == len(set(corpus))
    text = texts[3] + "😀"
    ids = tokenizer.encode_text(text)
    assert len(ids) == len(text)  # one id per code point, the emoji (outside the BMP) included
    assert tokenizer.decode_text(ids) == text
    np.testing.assert_array_equal(np.asarray(tokenizer(text)), ids)  # tf.data path == numpy path
    with pytest.raises(ValueError, match="'麤' at position 2"):
        tokenizer.encode_text("很好麤")


def test_gbk_bytes_and_empty_texts_name_the_line(tmp_path, texts):
    gbk = tmp_path / "gbk.tsv"
    gbk.write_bytes(f"text\tlabel\n{texts[0]}\t1\n".encode("utf-8") + f"{texts[1]}\t0\n".encode("gbk"))  # "15.4寸..."
    with pytest.raises(LabelledTextError, match=r"gbk\.tsv, line 3: byte 0x.. at character 5 is not valid UTF-8.*"
                                                r"GBK / GB18030.*iconv -f gb18030 -t utf-8"):
        read_labelled_text(str(gbk))
    empty = tmp_path / "empty.tsv"
    empty.write_text(f"text\tlabel\n{texts[0]}\t1\n\u3000 \t0\n", encoding="utf-8")  # an ideographic space only
    with pytest.raises(LabelledTextError, match=r"empty\.tsv, line 3, column 'text': empty text"):
        read_labelled_text(str(empty))
    with pytest.raises(LabelledTextError, match=r"gbk\.tsv, line 3"):  # the causal LM corpus reader too
        load_text(str(gbk))


def test_a_labelled_tsv_is_a_language_modelling_corpus_of_its_texts(tmp_path, texts):
    path = tmp_path / "reviews.tsv"
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(texts[:5])), encoding="utf-8")
    assert load_text(str(path)) == "\n".join(texts[:5]) + "\n"


def test_character_tokenizer_can_map_unseen_chinese_to_an_unknown_character(texts):
    tokenizer = CharacterTokenizer.from_corpus("\n".join(texts), unknown_character="\ufffd")
    unknown = tokenizer.token_to_id("\ufffd")
    text = "這家酒店很好😀"  # traditional 這, and an emoji, outside this simplified-Chinese corpus
    want = [tokenizer.token_to_id(c) if c in tokenizer.get_vocabulary() else unknown for c in text]
    assert want.count(unknown) == 2
    assert tokenizer.encode_text(text).tolist() == want
    assert np.asarray(tokenizer(text)).tolist() == want  # the tf path (tf.data, SavedModels) agrees
    restored = CharacterTokenizer.from_config(tokenizer.get_config())
    assert restored.unknown_character == "\ufffd" and restored.encode_text(text).tolist() == want
    with pytest.raises(ValueError, match=r"unknown_character must be a character of the vocabulary.*"
                                         r"Received: unknown_character='\?'"):
        CharacterTokenizer(["a", "b"], unknown_character="?")
