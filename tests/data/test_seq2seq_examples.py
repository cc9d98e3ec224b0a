import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.instruction_pairs import InstructionPairs
from kerastune.data.seq2seq_examples import Seq2SeqLayout, encode_seq2seq_examples, seq2seq_dataset
from kerastune.data.sequence_pairs import encoder_decoder_batches
from kerastune.data.text_encoding import encode_texts
from tests.tiny_seq2seq_lm import tiny_bart, tiny_t5

SOURCES = ["colour of sky?", "colour of grass?", "what colour is the blood of a dragon?", "snow"]
TARGETS = ["blue", "green", "red, they say", "white"]


def pairs(sources=SOURCES, targets=TARGETS):
    return InstructionPairs(list(sources), list(targets), source="pairs.jsonl", lines=list(range(1, len(sources) + 1)))


@pytest.mark.parametrize("build", [tiny_bart, tiny_t5])
def test_each_pair_is_laid_out_as_the_models_own_preprocessor_lays_it_out(build):
    preprocessor = build().preprocessor
    layout = Seq2SeqLayout.from_preprocessor(preprocessor)
    examples = encode_seq2seq_examples(pairs(), preprocessor.tokenizer, layout, 64, 16)
    x, y, weights = preprocessor({"encoder_text": tf.constant(SOURCES), "decoder_text": tf.constant(TARGETS)},
                                 encoder_sequence_length=64, decoder_sequence_length=16)
    for i in range(len(SOURCES)):
        counted = weights[i].numpy().astype(bool)  # KerasHub also feeds the end token, with no label after it
        np.testing.assert_array_equal(examples.encoder_ids[i], x["encoder_token_ids"][i].numpy()[
            x["encoder_padding_mask"][i].numpy().astype(bool)])
        np.testing.assert_array_equal(examples.decoder_ids[i], x["decoder_token_ids"][i].numpy()[counted])
        np.testing.assert_array_equal(examples.label_ids[i], y[i].numpy()[counted])


def test_bart_and_t5_put_their_special_tokens_where_their_papers_do():
    bart, t5 = (Seq2SeqLayout.from_preprocessor(build().preprocessor) for build in (tiny_bart, tiny_t5))
    bart_tokenizer, t5_tokenizer = tiny_bart().preprocessor.tokenizer, tiny_t5().preprocessor.tokenizer
    start, end = bart_tokenizer.start_token_id, bart_tokenizer.end_token_id
    assert bart == Seq2SeqLayout((start,), (end,), (end, start), end)  # <s> x </s>; the decoder from </s> <s>
    assert t5 == Seq2SeqLayout((), (t5_tokenizer.end_token_id,), (t5_tokenizer.pad_token_id,),
                               t5_tokenizer.end_token_id)  # x </s>; the decoder from <pad>


def test_a_source_prefix_is_part_of_the_source_and_counts_against_its_length():
    preprocessor = tiny_t5().preprocessor
    layout = Seq2SeqLayout.from_preprocessor(preprocessor)
    prefixed = encode_seq2seq_examples(pairs(), preprocessor.tokenizer, layout, 64, 16, source_prefix="answer: ")
    expected = encode_texts(preprocessor.tokenizer, ["answer: " + SOURCES[0]])[0]
    np.testing.assert_array_equal(prefixed.encoder_ids[0], layout.encoder_ids(expected))
    width = len(expected)
    with pytest.raises(ValueError, match=f"longer than max_source_length={width - 1} tokens"):
        encode_seq2seq_examples(pairs(SOURCES[:1], TARGETS[:1]), preprocessor.tokenizer, layout, width - 1, 16,
                                source_prefix="answer: ")


@pytest.mark.parametrize("side, limits", [("source", (10, 16)), ("target", (64, 3))])
def test_a_pair_longer_than_its_limit_is_an_error_naming_its_line_and_nothing_is_cut(side, limits):
    preprocessor = tiny_bart().preprocessor
    layout = Seq2SeqLayout.from_preprocessor(preprocessor)
    limit = limits[0 if side == "source" else 1]
    with pytest.raises(ValueError, match=rf"{side} texts are longer than max_{side}_length={limit} tokens .* the "
                                         r"first is on line \d of pairs.jsonl"):
        encode_seq2seq_examples(pairs(), preprocessor.tokenizer, layout, *limits)


def test_masks_and_weights_come_from_the_layout_not_from_the_ids():
    # BART's real vocabulary gives <s> the id 0, the id batches are padded with: it must still count
    layout = Seq2SeqLayout(encoder_start=(0,), encoder_end=(2,), decoder_start=(2, 0), end_token_id=2)
    sources, targets = [[5, 0, 6], [7]], [[0, 9], [8, 8, 8]]
    decoder, labels = zip(*[layout.decoder_ids(t) for t in targets])
    dataset, steps = encoder_decoder_batches([layout.encoder_ids(s) for s in sources], list(decoder), list(labels),
                                             batch_size=2, pad_to_multiple_of=8, training=False)
    assert steps == 1
    inputs, batch_labels, weights = next(iter(dataset))
    np.testing.assert_array_equal(inputs["encoder_padding_mask"].numpy().sum(1), [5, 3])
    np.testing.assert_array_equal(inputs["decoder_padding_mask"].numpy().sum(1), [4, 5])
    np.testing.assert_array_equal(weights.numpy().sum(1), [4, 5])
    np.testing.assert_array_equal(inputs["decoder_token_ids"].numpy()[0, :4], [2, 0, 0, 9])
    np.testing.assert_array_equal(batch_labels.numpy()[0, :4], [0, 0, 9, 2])
    assert inputs["encoder_token_ids"].shape[1] == 8  # the wider side, rounded up to the multiple


def test_evaluation_batches_hold_every_pair_once_and_training_needs_a_full_batch():
    preprocessor = tiny_bart().preprocessor
    layout = Seq2SeqLayout.from_preprocessor(preprocessor)
    examples = encode_seq2seq_examples(pairs(), preprocessor.tokenizer, layout, 64, 16)
    batches = seq2seq_dataset(examples, batch_size=3, training=False)
    seen = sorted(tuple(ids[mask.astype(bool)]) for x, _, _ in batches.dataset
                  for ids, mask in zip(x["encoder_token_ids"].numpy(), x["encoder_padding_mask"].numpy()))
    assert seen == sorted(tuple(ids) for ids in examples.encoder_ids)
    with pytest.raises(ValueError, match="hold 4 training pairs, which do not fill one batch of 8"):
        seq2seq_dataset(examples, batch_size=8, training=True)


def test_a_preprocessor_without_a_decoder_start_is_refused():
    preprocessor = tiny_bart().preprocessor
    preprocessor.build(None)
    preprocessor.decoder_packer.start_value = None
    with pytest.raises(ValueError, match="starts the decoder from no token"):
        Seq2SeqLayout.from_preprocessor(preprocessor)


def test_a_fixed_decoder_width_keeps_short_targets_short_while_sources_bucket():
    layout = Seq2SeqLayout(encoder_start=(0,), encoder_end=(2,), decoder_start=(2, 0), end_token_id=2)
    sources = [np.arange(3, 3 + n) for n in (5, 6, 29, 30)]
    decoder, labels = zip(*[layout.decoder_ids([7]) for _ in sources])
    dataset, steps = encoder_decoder_batches([layout.encoder_ids(s) for s in sources], list(decoder), list(labels),
                                             batch_size=2, pad_to_multiple_of=8, training=False, decoder_width=8)
    batches = list(dataset)
    assert steps == 2 and len(batches) == 2
    assert sorted(x["encoder_token_ids"].shape[1] for x, _, _ in batches) == [8, 32]  # by the source's length
    assert all(x["decoder_token_ids"].shape[1] == 8 and y.shape[1] == 8 for x, y, _ in batches)
    assert all(w.numpy().sum() == 2 * 3 for _, _, w in batches)  # </s> <s> 7 -> <s> 7 </s>, nothing lost
    with pytest.raises(ValueError, match="a decoder input of 3 tokens does not fit in decoder_width=2"):
        encoder_decoder_batches([layout.encoder_ids(s) for s in sources], list(decoder), list(labels),
                                batch_size=2, decoder_width=2)
    capped, _ = encoder_decoder_batches([layout.encoder_ids(s) for s in sources], list(decoder), list(labels),
                                        batch_size=2, pad_to_multiple_of=24, training=False, decoder_width=8,
                                        max_width=36)
    assert max(x["encoder_token_ids"].shape[1] for x, _, _ in capped) == 36  # not rounded past the positions


def test_a_preprocessor_that_adds_no_start_token_to_sources_is_followed():
    preprocessor = tiny_bart().preprocessor
    preprocessor.add_start_token = False  # as T5Gemma's preprocessor, whose packer has a start value it leaves out
    layout = Seq2SeqLayout.from_preprocessor(preprocessor)
    assert layout.encoder_start == () and layout.encoder_end == (preprocessor.tokenizer.end_token_id,)
