import numpy as np
import pytest

from kerastune.data.chat_template import ChatTemplate
from kerastune.data.instruction_examples import encode_instruction_examples, instruction_dataset
from kerastune.data.instruction_pairs import InstructionPairs
from tests.tiny_causal_lm import tiny_gpt2

TEMPLATE = ChatTemplate("Q: {prompt}\nA: ", "\n\n")
PAIRS = InstructionPairs(["sky?", "grass is what colour?", "snow?", "blood?", "a much longer question here?"],
                         ["blue", "green", "white", "red", "no"], "pairs.jsonl", [1, 2, 3, 4, 5])


@pytest.fixture(scope="module")
def causal_lm():
    return tiny_gpt2()


def encode(causal_lm, pairs=PAIRS, **kwargs):
    tokenizer = causal_lm.preprocessor.tokenizer
    kwargs.setdefault("sequence_length", 64)
    return encode_instruction_examples(pairs, tokenizer, TEMPLATE, tokenizer.end_token_id,
                                       start_token_id=tokenizer.start_token_id, **kwargs)


def test_prompt_tokens_are_what_keras_hub_generation_feeds_the_model(causal_lm):
    examples = encode(causal_lm)
    preprocessor = causal_lm.preprocessor
    for ids, prompt_length, prompt in zip(examples.token_ids, examples.prompt_lengths, PAIRS.prompts):
        # KerasHub's own generation preprocessing of the wrapped prompt: start token, then its ids
        reference = preprocessor.generate_preprocess([TEMPLATE.render(prompt)[0]], sequence_length=64)
        reference_ids = np.asarray(reference["token_ids"])[0][np.asarray(reference["padding_mask"])[0].astype(bool)]
        np.testing.assert_array_equal(ids[:prompt_length], reference_ids)


def test_only_the_response_its_end_marker_and_the_end_token_count(causal_lm):
    tokenizer = causal_lm.preprocessor.tokenizer
    examples = encode(causal_lm)
    for ids, mask, response in zip(examples.token_ids, examples.loss_masks, PAIRS.responses):
        counted = ids[mask == 1]
        assert counted[-1] == tokenizer.end_token_id
        assert tokenizer.detokenize(counted[:-1]) == response + "\n\n"
        assert mask[: int(np.argmax(mask))].sum() == 0 and mask[int(np.argmax(mask)):].all()
    everything = encode(causal_lm, loss_on_prompt=True)
    assert all(mask.all() for mask in everything.loss_masks)


def test_a_pair_longer_than_the_sequence_is_refused_with_its_line(causal_lm):
    longest = int(encode(causal_lm).lengths.max())
    with pytest.raises(ValueError, match=r"pairs.jsonl, line 5: .* more than sequence_length=.*1 of 5 pairs"):
        encode(causal_lm, sequence_length=longest - 1)
    assert len(encode(causal_lm, sequence_length=longest)) == 5


def test_training_batches_shift_by_one_and_hold_every_example_once_a_pass(causal_lm):
    examples = encode(causal_lm)
    batches = instruction_dataset(examples, batch_size=1, sequence_length=64, training=True, seed=3,
                                  pad_to_multiple_of=8)
    assert batches.steps_per_epoch == 5
    seen = []
    for inputs, targets, weights in batches.dataset.take(5):
        ids, mask = inputs["token_ids"].numpy()[0], inputs["padding_mask"].numpy()[0]
        length = int(mask.sum())
        assert ids.shape[0] % 8 == 0 and not weights.numpy()[0][length:].any()
        np.testing.assert_array_equal(ids[1:length], targets.numpy()[0][: length - 1])
        whole = np.append(ids[:length], targets.numpy()[0][length - 1])
        index = next(i for i, e in enumerate(examples.token_ids) if np.array_equal(e, whole))
        np.testing.assert_array_equal(weights.numpy()[0][:length], examples.loss_masks[index][1:])
        seen.append(index)
    assert sorted(seen) == list(range(5))


def test_evaluation_batches_keep_the_order_and_the_last_small_batch(causal_lm):
    examples = encode(causal_lm)
    batches = instruction_dataset(examples, batch_size=2, sequence_length=64, training=False)
    assert batches.steps_per_epoch == 3
    rows = [ids[: int(m.sum())] for x, _, _ in batches.dataset
            for ids, m in zip(x["token_ids"].numpy(), x["padding_mask"].numpy())]
    assert [r.tolist() for r in rows] == [e[:-1].tolist() for e in examples.token_ids]


def test_fewer_training_pairs_than_a_batch_is_an_error(causal_lm):
    with pytest.raises(ValueError, match="5 training pairs, fewer than one batch of 8"):
        instruction_dataset(encode(causal_lm), batch_size=8, sequence_length=64, training=True)
