"""Source/target pairs as examples for a pretrained KerasHub encoder-decoder (BART, T5, ...), laid out as its
own preprocessor lays them out.

Every encoder-decoder puts its special tokens in its own places: BART reads `<s> source </s>` and its
decoder starts from `</s> <s>`; T5 reads `source </s>` and its decoder starts from `<pad>`. `Seq2SeqLayout`
reads those places from the model's `Seq2SeqLMPreprocessor` (its two packers), so training, generation
and the export lay out a pair exactly as KerasHub does, for any such model, without a table of models.

Unlike the preprocessor, nothing is cut: a source or target longer than its limit is an error naming
its line, and batches come from length buckets instead of one fixed width.
"""

import dataclasses

import numpy as np

from kerastune.data.sequence_pairs import check_lengths, encoder_decoder_batches
from kerastune.data.text_encoding import encode_texts


def _ids(value):
    """A packer's start or end value as a tuple of ids (None: no token; an int: one; a list: several)."""
    if value is None:
        return ()
    return tuple(int(v) for v in (value if isinstance(value, (list, tuple)) else [value]))


@dataclasses.dataclass(frozen=True)
class Seq2SeqLayout:
    """Where a pretrained encoder-decoder puts its special tokens.

    Args:
        encoder_start: tuple of int, the ids before each source (BART: `<s>`; T5: none).
        encoder_end: tuple of int, the ids after each source (BART and T5: `</s>`).
        decoder_start: tuple of int, the ids the decoder starts from (BART: `</s> <s>`; T5: `<pad>`).
        end_token_id: int, the id after each target: training teaches it, generation stops at it.

    Example:

    >>> layout = Seq2SeqLayout(encoder_start=(0,), encoder_end=(2,), decoder_start=(2, 0), end_token_id=2)
    >>> layout.encoder_ids([7, 8]).tolist()
    [0, 7, 8, 2]
    >>> [ids.tolist() for ids in layout.decoder_ids([9])]
    [[2, 0, 9], [0, 9, 2]]
    """

    encoder_start: tuple
    encoder_end: tuple
    decoder_start: tuple
    end_token_id: int

    @classmethod
    def from_preprocessor(cls, preprocessor):
        """The layout of a KerasHub `Seq2SeqLMPreprocessor` (read from its encoder and decoder packers)."""
        if not preprocessor.built:
            preprocessor.build(None)
        encoder, decoder = preprocessor.encoder_packer, preprocessor.decoder_packer
        if not _ids(decoder.start_value):
            raise ValueError(f"{type(preprocessor).__name__} starts the decoder from no token, so there is nothing "
                             "to generate from: pass a sequence-to-sequence model whose preprocessor sets the "
                             "decoder's start token")
        end = _ids(decoder.end_value)
        if len(end) != 1:
            raise ValueError(f"{type(preprocessor).__name__} ends targets with {list(end)}, and generation stops at "
                             "one end token: pass a model whose decoder ends each target with one token")
        # T5Gemma's preprocessor packs the source with `add_start_value=add_start_token` (False by default)
        start = _ids(encoder.start_value) if getattr(preprocessor, "add_start_token", True) else ()
        source_end = _ids(encoder.end_value) if getattr(preprocessor, "add_end_token", True) else ()
        return cls(start, source_end, _ids(decoder.start_value), end[0])

    @property
    def special_tokens(self):
        """How many special ids the encoder adds around a source."""
        return len(self.encoder_start) + len(self.encoder_end)

    def encoder_ids(self, ids):
        """A source's ids as the encoder reads them: start ids, the source, end ids (int32)."""
        return np.concatenate([self.encoder_start, ids, self.encoder_end]).astype(np.int32)

    def decoder_ids(self, ids):
        """A target's `(decoder inputs, labels)` for teacher forcing, int32: the decoder reads its start ids then
        the target, and learns the next token at each position (so the last label is the end token)."""
        packed = np.concatenate([self.decoder_start, ids, [self.end_token_id]]).astype(np.int32)
        return packed[:-1], packed[1:]


@dataclasses.dataclass
class Seq2SeqExamples:
    """Tokenized source/target pairs, laid out for an encoder-decoder.

    Attributes:
        encoder_ids, decoder_ids, label_ids: lists of 1-D int32 arrays (`Seq2SeqLayout`'s).
        source: str, where the pairs came from.
    """

    encoder_ids: list
    decoder_ids: list
    label_ids: list
    source: str = ""

    def __len__(self):
        return len(self.encoder_ids)


@dataclasses.dataclass
class Seq2SeqBatches:
    """What `seq2seq_dataset` returns.

    Attributes:
        dataset: a `tf.data.Dataset` of `({"encoder_token_ids", "encoder_padding_mask", "decoder_token_ids",
            "decoder_padding_mask"}, labels, sample_weight)` batches.
        steps_per_epoch: int, batches in one pass over the examples.
        examples: the `Seq2SeqExamples` batched.
    """

    dataset: object
    steps_per_epoch: int
    examples: Seq2SeqExamples


def encode_seq2seq_examples(pairs, tokenizer, layout, max_source_length, max_target_length, source_prefix=""):
    """Tokenizes `pairs` (`InstructionPairs`: `prompts` are the sources, `responses` the targets) for a
    pretrained encoder-decoder.

    Args:
        pairs: `kerastune.data.InstructionPairs`.
        tokenizer: the model's tokenizer (a KerasHub tokenizer).
        layout: the model's `Seq2SeqLayout`.
        max_source_length, max_target_length: int, the most tokens of a source (its `source_prefix`
            included) and of a target, special tokens not counted; a longer pair is an error naming its line.
        source_prefix: str put before every source (T5's task prefixes, e.g. `"summarize: "`).

    Example:

    >>> layout = Seq2SeqLayout.from_preprocessor(bart.preprocessor)  # doctest: +SKIP
    >>> examples = encode_seq2seq_examples(pairs, bart.preprocessor.tokenizer, layout, 256, 64)  # doctest: +SKIP
    """
    where = pairs.source or "the pairs"
    sources = encode_texts(tokenizer, [source_prefix + text for text in pairs.prompts])
    targets = encode_texts(tokenizer, list(pairs.responses))
    check_lengths(sources, max_source_length, "source", where, pairs.lines)
    check_lengths(targets, max_target_length, "target", where, pairs.lines)
    decoder_ids, label_ids = zip(*[layout.decoder_ids(ids) for ids in targets]) if targets else ((), ())
    return Seq2SeqExamples([layout.encoder_ids(ids) for ids in sources], list(decoder_ids), list(label_ids),
                           pairs.source)


def seq2seq_dataset(examples, batch_size, training, seed=0, pad_to_multiple_of=8, decoder_width=None, max_width=None):
    """`Seq2SeqBatches` of `examples` for `fit` (teacher forcing) or `evaluate`.

    Training: an endless stream, reshuffled each pass (seeded), batched by length bucket with
    `drop_remainder`; `steps_per_epoch` is one pass. Evaluation: every example once, by length bucket.
    (`kerastune.data.sequence_pairs.encoder_decoder_batches`: with `decoder_width` the decoder side is always
    that wide and the buckets follow the sources, so a long source does not widen its short target.)

    Args:
        examples: `Seq2SeqExamples`.
        batch_size: int, examples per batch.
        training: bool.
        seed: int, the shuffle seed.
        pad_to_multiple_of: int, padding granularity (few padded shapes, few XLA compilations).
        decoder_width: int or None, the decoder side's fixed width (None: each example's two sides one width).
        max_width: int or None, the widest source bucket (the model's positions).
    """
    if not len(examples):
        raise ValueError(f"{examples.source or 'the pairs'} hold no pairs")
    dataset, steps = encoder_decoder_batches(examples.encoder_ids, examples.decoder_ids, examples.label_ids,
                                             batch_size, seed if training else None, pad_to_multiple_of, training,
                                             decoder_width=decoder_width, max_width=max_width)
    if training and not steps:
        raise ValueError(f"{examples.source or 'the pairs'} hold {len(examples)} training pairs, which do not fill "
                         f"one batch of {batch_size} (pairs are batched with others of similar length): pass a "
                         "smaller batch_size or more pairs")
    return Seq2SeqBatches(dataset, steps, examples)
