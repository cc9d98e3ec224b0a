"""Tiny KerasHub encoder-decoder presets standing in for pretrained BART and T5 weights (none are on disk): the
same classes, tokenizers and preset files as the real ones, randomly initialised, built in about a second."""

from tests.tiny_causal_lm import CORPUS, gpt2_style_vocabulary


def tiny_bart(encoder_sequence_length=64, decoder_sequence_length=32, max_sequence_length=128):
    """A 1+1-layer, 32-wide `BartSeq2SeqLM` with a byte-level BPE vocabulary: BART's three special tokens with
    its ids (`<s>` 0, `<pad>` 1, `</s>` 2, so a real token has the id batches are padded with), every byte,
    one merge."""
    import keras_hub

    vocabulary, merges = gpt2_style_vocabulary(("<s>", "<pad>", "</s>"), special_first=True)
    tokenizer = keras_hub.models.BartTokenizer(vocabulary=vocabulary, merges=merges)
    backbone = keras_hub.models.BartBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2,
                                             hidden_dim=32, intermediate_dim=64, dropout=0.0,
                                             max_sequence_length=max_sequence_length)
    preprocessor = keras_hub.models.BartSeq2SeqLMPreprocessor(
        tokenizer, encoder_sequence_length=encoder_sequence_length, decoder_sequence_length=decoder_sequence_length)
    return keras_hub.models.BartSeq2SeqLM(backbone, preprocessor)


def tiny_t5(encoder_sequence_length=64, decoder_sequence_length=32):
    """A 1+1-layer, 32-wide `T5Seq2SeqLM` (relative positions, gated GELU) with a SentencePiece vocabulary of at
    most 300 pieces learned from `CORPUS` (T5's ids: `<pad>` 0, `</s>` 1, `<unk>` 2), byte fallback on."""
    import io

    import keras_hub
    import sentencepiece

    proto = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 20), model_writer=proto, vocab_size=300, hard_vocab_limit=False,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, byte_fallback=True, minloglevel=2)
    tokenizer = keras_hub.models.T5Tokenizer(proto=proto.getvalue())
    backbone = keras_hub.models.T5Backbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2,
                                           hidden_dim=32, intermediate_dim=64, key_value_dim=16, dropout=0.0,
                                           activation="gelu", use_gated_activation=True)
    preprocessor = keras_hub.models.T5Seq2SeqLMPreprocessor(
        tokenizer, encoder_sequence_length=encoder_sequence_length, decoder_sequence_length=decoder_sequence_length)
    return keras_hub.models.T5Seq2SeqLM(backbone, preprocessor)
