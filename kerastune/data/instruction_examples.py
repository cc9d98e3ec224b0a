"""Prompt/response pairs as padded examples for a pretrained causal LM, the loss on the responses only.

Each pair becomes one example, as a KerasHub `CausalLMPreprocessor` lays out a text: the
tokenizer's start token (when it has one), the prompt wrapped in the chat template, the response
with the template's end marker, and the end token. Prompt and response are tokenized apart, so the
prompt's tokens are exactly what generation sees (`generate_preprocess` of the wrapped prompt). The
loss mask counts the response, its end marker and the end token, so the model learns to answer
and to stop; the prompt is context only (unless `loss_on_prompt`).

Training batches come from length buckets (`kerastune.data.length_buckets`): a short answer is not
padded to the longest pair. Nothing is cut: a pair longer than `sequence_length` is an error naming
its line.
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from kerastune.data.length_buckets import batch_by_length, pad_batch_to_multiple


@dataclasses.dataclass
class InstructionExamples:
    """Tokenized prompt/response pairs.

    Attributes:
        token_ids: list of 1-D int32 arrays: start token, wrapped prompt, response, end token.
        loss_masks: list of 1-D float32 arrays as long, 1 where a token is learned.
        prompt_lengths: int array, each example's tokens before its response (start token included).
        source: str, where the pairs came from.
    """

    token_ids: list
    loss_masks: list
    prompt_lengths: np.ndarray
    source: str = ""

    def __len__(self):
        return len(self.token_ids)

    @property
    def lengths(self):
        """Each example's model input length: its tokens less one (the last is only a target)."""
        return np.array([len(ids) - 1 for ids in self.token_ids], np.int64)


@dataclasses.dataclass
class InstructionBatches:
    """What `instruction_dataset` returns.

    Attributes:
        dataset: a `tf.data.Dataset` of `({"token_ids", "padding_mask"}, next_token_ids, loss_mask)` batches.
        steps_per_epoch: int, batches in one pass over the examples.
        examples: the `InstructionExamples` batched.
    """

    dataset: object
    steps_per_epoch: int
    examples: InstructionExamples


def encode_instruction_examples(pairs, tokenizer, chat_template, end_token_id, sequence_length,
                                start_token_id=None, loss_on_prompt=False):
    """Tokenizes `pairs` (`InstructionPairs`) into `InstructionExamples` for a causal LM's tokenizer.

    Args:
        pairs: `kerastune.data.InstructionPairs`.
        tokenizer: the model's tokenizer (a KerasHub tokenizer).
        chat_template: the `kerastune.data.ChatTemplate` around each prompt and after each response.
        end_token_id: int, appended after each response (generation stops at it).
        sequence_length: int, the longest model input; a longer pair is an error (nothing is cut).
        start_token_id: int or None, put before each prompt (as the model's preprocessor does).
        loss_on_prompt: bool, learn the prompt tokens too (default: the response and its end only).

    Example:

    >>> examples = encode_instruction_examples(pairs, causal_lm.preprocessor.tokenizer, ChatTemplate(),
    ...                                        end_token_id=50256, sequence_length=256)  # doctest: +SKIP
    """
    prompt_ids, response_ids = chat_template.tokenize_pairs(pairs.prompts, pairs.responses, tokenizer,
                                                            pairs.source or "the pairs", pairs.lines)
    start = [] if start_token_id is None else [int(start_token_id)]
    token_ids, loss_masks = [], []
    for prompt, response in zip(prompt_ids, response_ids):
        ids = np.concatenate([start, prompt, response, [end_token_id]]).astype(np.int32)
        mask = np.ones(len(ids), np.float32)
        if not loss_on_prompt:
            mask[: len(start) + len(prompt)] = 0.0
        token_ids.append(ids)
        loss_masks.append(mask)
    examples = InstructionExamples(token_ids, loss_masks,
                                   np.array([len(start) + len(p) for p in prompt_ids], np.int64), pairs.source)
    _check_lengths(examples.lengths, sequence_length, pairs)
    return examples


def instruction_dataset(examples, batch_size, sequence_length, training, seed=0, pad_to_multiple_of=8):
    """`InstructionBatches`: batches of `({"token_ids", "padding_mask"}, next_token_ids, loss_mask)`.

    Training: an endless stream, reshuffled each pass (seeded, so batch n depends only on the seed and n),
    batched by length bucket with `drop_remainder`; `steps_per_epoch` is one pass. Evaluation: the examples in
    order, each batch padded to its longest example rounded up to `pad_to_multiple_of`, the last one smaller.

    Args:
        examples: `InstructionExamples`.
        batch_size: int, examples per batch.
        sequence_length: int, the widest batch.
        training: bool.
        seed: int, the shuffle seed.
        pad_to_multiple_of: int, padding granularity (few padded shapes, few XLA compilations).
    """
    lengths = examples.lengths
    if training and len(examples) < batch_size:
        raise ValueError(f"{examples.source or 'the pairs'} hold {len(examples)} training pairs, fewer than one batch "
                         f"of {batch_size}: pass batch_size <= {len(examples)} or more pairs")
    ids = tf.RaggedTensor.from_row_lengths(np.concatenate(examples.token_ids), lengths + 1)
    masks = tf.RaggedTensor.from_row_lengths(np.concatenate(examples.loss_masks), lengths + 1)

    def shifted(token_ids, loss_mask):  # one example: inputs are every token but the last, targets the next ones
        inputs = {"token_ids": token_ids[:-1], "padding_mask": tf.ones_like(token_ids[:-1])}
        return inputs, token_ids[1:], loss_mask[1:]

    ds = tf.data.Dataset.from_tensor_slices((ids, masks)).map(shifted).cache()
    if training:
        ds = ds.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
        ds, steps = batch_by_length(ds, lengths, batch_size, pad_to_multiple_of, sequence_length, True)
        ds = ds.repeat()
    else:
        ds = ds.padded_batch(batch_size)
        ds = ds.map(lambda *batch: pad_batch_to_multiple(batch, pad_to_multiple_of, sequence_length))
        steps = math.ceil(len(examples) / batch_size)
        ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
    options = tf.data.Options()
    options.deterministic = True
    return InstructionBatches(ds.with_options(options).prefetch(tf.data.AUTOTUNE), steps, examples)


def offending_pairs(flags, pairs):
    """`(count, first, where)` of the pairs `flags` (a bool array, one per pair) marks: how many, the first one's
    index and its place in `pairs.source` (`"line N"`, or `"pair N"` without line numbers); `(0, None, None)`
    when none is marked."""
    marked = np.flatnonzero(flags)
    if not len(marked):
        return 0, None, None
    first = int(marked[0])
    return len(marked), first, (f"line {pairs.lines[first]}" if pairs.lines else f"pair {first}")


def _check_lengths(lengths, sequence_length, pairs):
    count, first, where = offending_pairs(lengths > sequence_length, pairs)
    if count:
        raise ValueError(
            f"{pairs.source or 'the pairs'}, {where}: the pair takes {int(lengths[first])} tokens (start token, "
            f"wrapped prompt, response, end marker and end token, less the last), more than sequence_length="
            f"{sequence_length}; {count} of {len(lengths)} pairs do (the longest {int(lengths.max())}). Nothing is "
            "cut: raise sequence_length, or shorten or remove those pairs."
        )
