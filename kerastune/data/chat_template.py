"""A chat template: how a prompt/response pair becomes the text a causal LM learns and continues.

Supervised fine-tuning (instruction tuning) trains a causal LM on `prompt_text + response_text`,
where `prompt_text` is the prompt wrapped in a fixed format ("Instruction: ...\\nResponse: ") and
`response_text` is the response followed by an end marker. Serving wraps a new prompt the same
way, lets the model continue, and keeps the continuation up to the first end marker. Keeping the
format in one object used by training (`encode_pairs`), `generate_responses` and the export is what
keeps the three in agreement.
"""

import numpy as np

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

    Args:
        prompt_format: str with exactly one `{prompt}`, e.g. `"Instruction: {prompt}\\nResponse: "`.
        end_marker: non-empty str written after every response, e.g. `"\\n\\n"`.

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
        if not isinstance(end_marker, str) or not end_marker:
            raise ValueError("end_marker must be a non-empty str written after every response (the model learns to "
                             f"stop by writing it), e.g. {DEFAULT_END_MARKER!r}. Received: end_marker={end_marker!r}")
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
        return continuation.split(self.end_marker, 1)[0]

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
        if len(prompts) != len(responses):
            raise ValueError(f"prompts and responses must pair up; received {len(prompts)} prompts and "
                             f"{len(responses)} responses")
        if not prompts:
            raise ValueError(f"{source} hold no prompt/response pair; instruction tuning needs at least one")
        self.check_responses(responses, source, lines)
        rendered = [self.render(prompt, response) for prompt, response in zip(prompts, responses)]
        prompt_ids = encode_texts(tokenizer, [prompt for prompt, _ in rendered])
        response_ids = encode_texts(tokenizer, [response for _, response in rendered])
        lengths = np.array([[len(p), len(r)] for p, r in zip(prompt_ids, response_ids)], dtype=np.int64)
        counted = np.ones_like(lengths) if loss_on_prompt else np.tile([0, 1], (len(lengths), 1))
        token_ids = np.concatenate([ids for pair in zip(prompt_ids, response_ids) for ids in pair]).astype(np.int32)
        loss_mask = np.repeat(counted.ravel(), lengths.ravel()).astype(np.float32)
        starts = np.concatenate([[0], np.cumsum(lengths.sum(axis=1))[:-1]])
        return token_ids, loss_mask, starts

    def check_responses(self, responses, source="the pairs", lines=None):
        """Raises a `ValueError` naming the first response in which the end marker would appear before the
        response ends: inside it, or overlapping its end (`"x\\n"` + `"\\n\\n"`), which would cut it when served."""
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
