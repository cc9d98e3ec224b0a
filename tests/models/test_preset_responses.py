import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.chat_template import ChatTemplate
from kerastune.data.instruction_examples import encode_instruction_examples
from kerastune.data.instruction_pairs import InstructionPairs
from kerastune.models.preset_responses import preset_responses, prompt_token_ids
from tests.tiny_causal_lm import tiny_gpt2, tiny_llama

TEMPLATE = ChatTemplate("### Q:\n{prompt}\n\n### A:\n", "")
PROMPTS = ["colour of sky?", "a longer question, with more words in it?", "é?"]


@pytest.mark.parametrize("build", [tiny_gpt2, tiny_llama], ids=["byte_pair", "sentencepiece"])
def test_serving_starts_from_the_tokens_training_put_before_each_response(build):
    causal_lm = build()
    tokenizer = causal_lm.preprocessor.tokenizer
    pairs = InstructionPairs(PROMPTS, ["blue"] * len(PROMPTS), "pairs.jsonl", [1, 2, 3])
    examples = encode_instruction_examples(pairs, tokenizer, TEMPLATE, tokenizer.end_token_id, 64,
                                           start_token_id=tokenizer.start_token_id)
    served = prompt_token_ids(tokenizer, TEMPLATE, tf.constant(PROMPTS), tokenizer.start_token_id)
    for row, ids, length in zip(served.to_list(), examples.token_ids, examples.prompt_lengths):
        assert row == ids[:length].tolist()


def greedy_reference(causal_lm, ids, max_new_tokens, end):
    """Greedy decoding one prompt at a time, the whole sequence recomputed each step: no cache, no padding."""
    ids = list(ids)
    for _ in range(max_new_tokens):
        logits = np.asarray(causal_lm({"token_ids": np.array([ids]), "padding_mask": np.ones((1, len(ids)), "int32")}))
        ids.append(int(logits[0, -1].argmax()))
        if ids[-1] == end:
            break
    return ids


def test_cached_batched_decoding_writes_what_one_prompt_at_a_time_writes_and_stops_at_the_limit():
    causal_lm = tiny_gpt2()
    causal_lm.compile(sampler="greedy")
    tokenizer = causal_lm.preprocessor.tokenizer
    prompts = tf.constant(PROMPTS)
    out = preset_responses(causal_lm, tokenizer, TEMPLATE, prompts, 5, tokenizer.start_token_id)
    starts = prompt_token_ids(tokenizer, TEMPLATE, prompts, tokenizer.start_token_id).to_list()
    longer = 0
    for prompt_ids, completion in zip(starts, out["completion"].numpy()):
        new = greedy_reference(causal_lm, prompt_ids, 12, tokenizer.end_token_id)[len(prompt_ids):]
        new = [i for i in new if i != tokenizer.end_token_id]
        longer += len(new) > 5  # rows of shorter prompts had room for more than 5 in the batch: cut at 5
        assert completion.decode("utf-8", "replace") == tokenizer.detokenize(np.array(new[:5], "int32"))
    assert longer >= 2
