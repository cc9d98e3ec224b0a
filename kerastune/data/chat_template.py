"""A chat template: how a prompt/response pair becomes the text a causal LM learns and continues.

Supervised fine-tuning (instruction tuning) trains a causal LM on `prompt_text + response_text`,
where `prompt_text` is the prompt wrapped in a fixed format ("Instruction: ...\\nResponse: ") and
`response_text` is the response followed by an end marker. Serving wraps a new prompt the same
way, lets the model continue, and keeps the continuation up to the first end marker. Keeping the
format in one object used by training (`encode_pairs`), `generate_responses` and the export is what
keeps the three in agreement.
"""

import numpy as np
import tensorflow as tf

from kerastune.data.text_encoding import encode_texts

PROMPT = "{prompt}"
DEFAULT_PROMPT_FORMAT = "Instruction: {prompt}\nResponse: "
DEFAULT_END_MARKER = "\n\n"


class ChatTemplate:
    """The text around a prompt and after a response, for instruction tuning a causal LM.

    The format is plain text with one `{prompt}` placeholder (nothing else in it is interpreted,
    so braces elsewhere are literal). Every training response ends with `end_marker`, so the model
    learns to write it; a generated response ends before its first occurrence. A response that
    already contains the marker would teach the model to stop there: `encode_pairs` refuses it.
    An empty marker leaves the end to the model's own end token (a KerasHub causal LM's, which
    `encode_instruction_examples` appends after every response): responses may then hold any text.

    Args:
        prompt_format: str with exactly one `{prompt}`, e.g. `"Instruction: {prompt}\\nResponse: "`.
        end_marker: str written after every response, e.g. `"\\n\\n"`; `""` for none (the model's end
            token ends responses: kerastune's GPT has none and needs a marker).

    Example:

    >>> template = ChatTemplate("Q: {prompt}\\nA: ", end_marker="\\n\\n")
    >>> template.render("2+2?", "4")
    ('Q: 2+2?\\nA: ', '4\\n\\n')
    >>> template.response_from("4\\n\\nQ: more")
    '4'
    """

    def __init__(self, prompt_format=DEFAULT_PROMPT_FORMAT, end_marker=DEFAULT_END_MARKER):
        if not isinstance(prompt_format, str) or prompt_format.count(PROMPT) != 1:
            raise ValueError(f"prompt_format must be a str with exactly one {PROMPT!r} where the prompt goes, e.g. "
                             f"{DEFAULT_PROMPT_FORMAT!r}. Received: prompt_format={prompt_format!r}")
        if not isinstance(end_marker, str):
            raise ValueError("end_marker must be a str written after every response (the model learns to stop by "
                             f"writing it), e.g. {DEFAULT_END_MARKER!r}, or '' to stop at the model's end token. "
                             f"Received: end_marker={end_marker!r}")
        if prompt_format.endswith(PROMPT):
            raise ValueError("prompt_format must have text after {prompt} (e.g. '\\nResponse: '), which tells the "
                             "model where the prompt ends and the response begins. "
                             f"Received: prompt_format={prompt_format!r}")
        self.prompt_format = prompt_format
        self.end_marker = end_marker
        self.prefix, self.suffix = prompt_format.split(PROMPT)

    def render(self, prompt, response=None):
        """`(prompt_text, response_text)`: the wrapped prompt, and the response + end marker (None without one)."""
        prompt_text = self.prefix + prompt + self.suffix
        return prompt_text, (None if response is None else response + self.end_marker)

    def response_from(self, continuation):
        """The generated text before the first end marker (all of it when the marker never came)."""
        return continuation.split(self.end_marker, 1)[0] if self.end_marker else continuation

    def wrap_prompts(self, prompts):
        """`render`'s prompt text in TensorFlow ops: each prompt of a [batch] tf.string tensor wrapped in the format."""
        return tf.strings.join([self.prefix, prompts, self.suffix])

    def responses_from(self, continuations):
        """`response_from` in TensorFlow ops: a [batch] tf.string tensor of continuations, cut the same way."""
        if not self.end_marker:
            return continuations
        pieces = tf.strings.split(continuations, sep=self.end_marker, maxsplit=1)  # (batch, 1 or 2)
        return pieces.to_tensor("", shape=tf.stack([pieces.nrows(), 1]))[:, 0]

    def encode_pairs(self, prompts, responses, tokenizer, loss_on_prompt=False, source="the pairs", lines=None):
        """Renders and tokenizes prompt/response pairs into one token stream for `causal_lm_datasets`.

        Prompt and response texts are tokenized apart (so the boundary between them is a token
        boundary, as at serving time, where the wrapped prompt is tokenized alone) and concatenated
        pair after pair.

        Args:
            prompts, responses: lists of str, as long as each other.
            tokenizer: a tokenizer layer (`CharacterTokenizer`, a KerasHub tokenizer).
            loss_on_prompt: bool, also learn to predict the prompt tokens (the loss mask is 1
                everywhere); by default only the responses and their end markers count.
            source, lines: where the pairs came from (a path and each pair's line), for errors.

        Returns:
            `(token_ids, loss_mask, starts)`: int32 token ids of every pair in turn, their 0/1
            float32 loss mask, and int64 the offset where each pair starts (`window_starts`).
        """
        if not self.end_marker:
            raise ValueError("end_marker is empty, and a token stream of pairs has no end token to stop each response: "
                             f"pass a marker no response contains, e.g. {DEFAULT_END_MARKER!r}. "
                             "Received: end_marker=''")
        prompt_ids, response_ids = self.tokenize_pairs(prompts, responses, tokenizer, source, lines)
        lengths = np.array([[len(p), len(r)] for p, r in zip(prompt_ids, response_ids)], dtype=np.int64)
        counted = np.ones_like(lengths) if loss_on_prompt else np.tile([0, 1], (len(lengths), 1))
        token_ids = np.concatenate([ids for pair in zip(prompt_ids, response_ids) for ids in pair]).astype(np.int32)
        loss_mask = np.repeat(counted.ravel(), lengths.ravel()).astype(np.float32)
        starts = np.concatenate([[0], np.cumsum(lengths.sum(axis=1))[:-1]])
        return token_ids, loss_mask, starts

    def tokenize_pairs(self, prompts, responses, tokenizer, source="the pairs", lines=None):
        """`(prompt_ids, response_ids)`: each pair rendered, its wrapped prompt and its response (with the end
        marker) tokenized apart, so the boundary between them is a token boundary, as when serving, where the
        wrapped prompt is tokenized alone. Lists of 1-D int32 arrays; the responses are checked first
        (`check_responses`).

        Args:
            prompts, responses: lists of str, as long as each other, not empty.
            tokenizer: a tokenizer layer (`CharacterTokenizer`, a KerasHub tokenizer).
            source, lines: where the pairs came from (a path and each pair's line), for errors.
        """
        if len(prompts) != len(responses):
            raise ValueError(f"prompts and responses must pair up; received {len(prompts)} prompts and "
                             f"{len(responses)} responses")
        if not len(prompts):
            raise ValueError(f"{source} hold no prompt/response pair; instruction tuning needs at least one")
        self.check_responses(responses, source, lines)
        rendered = [self.render(prompt, response) for prompt, response in zip(prompts, responses)]
        return (encode_texts(tokenizer, [prompt for prompt, _ in rendered]),
                encode_texts(tokenizer, [response for _, response in rendered]))

    def check_responses(self, responses, source="the pairs", lines=None):
        """Raises a `ValueError` naming the first response in which the end marker would appear before the
        response ends: inside it, or overlapping its end (`"x\\n"` + `"\\n\\n"`), which would cut it when served."""
        if not self.end_marker:  # the model's end token ends responses: any text may come before it
            return
        for i, response in enumerate(responses):
            if (response + self.end_marker).find(self.end_marker) != len(response):
                where = f"line {lines[i]}" if lines else f"pair {i}"
                raise ValueError(f"{source}, {where}: the response contains the end marker {self.end_marker!r} "
                                 "(or ends with part of it), so its answer would stop early; choose an end_marker no "
                                 "response contains. "
                                 f"Received: response={response[:80]!r}")

    def get_config(self):
        return {"prompt_format": self.prompt_format, "end_marker": self.end_marker}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, ChatTemplate) and self.get_config() == other.get_config()

    def __repr__(self):
        return f"ChatTemplate(prompt_format={self.prompt_format!r}, end_marker={self.end_marker!r})"
