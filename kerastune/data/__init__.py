"""kerastune.data."""
from kerastune.data.causal_lm_dataset import causal_lm_datasets, split_tokens  # noqa: F401
from kerastune.data.character_tokenizer import CharacterTokenizer  # noqa: F401
from kerastune.data.subword_tokenizer import (  # noqa: F401
    load_subword_tokenizer,
    save_subword_tokenizer,
    train_sentencepiece_tokenizer,
    train_wordpiece_tokenizer,
)
from kerastune.data.text_corpus import default_corpus, read_text_corpus  # noqa: F401
from kerastune.data.text_source import load_text  # noqa: F401
