"""Tiny KerasHub causal-LM presets standing in for pretrained GPT-2 and Llama weights (none are on disk): the same
classes, tokenizers and preset files as the real ones, randomly initialised, built in about a second."""

import pathlib

CORPUS = ("the film was good . the plot was dull . a great movie , worth seeing twice . it is a mess . "
          "colours : red , green , blue . sky is blue . grass is green . answer : yes . answer : no .").split(" . ")


def gpt2_style_vocabulary(special_tokens, special_first=False):
    """`(vocabulary, merges)` of a byte-level BPE tokenizer (GPT-2's, BART's): every byte, one merge and
    `special_tokens`, these last (GPT-2's `<|endoftext|>`) or with `special_first` first (BART's `<s>` is 0)."""
    from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

    pieces = [c if isinstance(c, str) else chr(c) for c in bytes_to_unicode()[1]]
    pieces.append("\u0120t")  # "Ġt": a space then "t", GPT-2's spelling of a merged piece
    pieces = list(special_tokens) + pieces if special_first else pieces + list(special_tokens)
    return {piece: i for i, piece in enumerate(pieces)}, ["\u0120 t"]


def tiny_gpt2(sequence_length=64, max_sequence_length=128):
    """A 2-layer, 32-wide `GPT2CausalLM` with a byte-level BPE vocabulary (every byte, one merge, the end token)."""
    import keras_hub

    vocabulary, merges = gpt2_style_vocabulary(("<|endoftext|>",))
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)
    backbone = keras_hub.models.GPT2Backbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2,
                                             hidden_dim=32, intermediate_dim=64, dropout=0.0,
                                             max_sequence_length=max_sequence_length)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=sequence_length)
    return keras_hub.models.GPT2CausalLM(backbone, preprocessor)


def tiny_llama(sequence_length=64):
    """A 2-layer, 32-wide `LlamaCausalLM` (rotary positions, grouped-query attention) with a SentencePiece
    vocabulary of at most 300 pieces (256 of them bytes) learned from `CORPUS`, byte fallback on."""
    import io

    import keras_hub
    import sentencepiece

    proto = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 20), model_writer=proto, vocab_size=300, hard_vocab_limit=False,
        model_type="unigram", normalization_rule_name="identity", remove_extra_whitespaces=False,  # as Llama's
        pad_id=0, bos_id=1, eos_id=2, unk_id=3, byte_fallback=True, minloglevel=2)
    tokenizer = keras_hub.models.LlamaTokenizer(proto=proto.getvalue())
    backbone = keras_hub.models.LlamaBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=2,
                                              num_query_heads=4, num_key_value_heads=2, hidden_dim=32,
                                              intermediate_dim=64)
    preprocessor = keras_hub.models.LlamaCausalLMPreprocessor(tokenizer, sequence_length=sequence_length)
    return keras_hub.models.LlamaCausalLM(backbone, preprocessor)


def write_tiny_preset(directory, build=tiny_gpt2):
    """Saves `build()` as a KerasHub preset directory (`save_to_preset`); returns its path."""
    directory = pathlib.Path(directory)
    build().save_to_preset(str(directory))
    return str(directory)
