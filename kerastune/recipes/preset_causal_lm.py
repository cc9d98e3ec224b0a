"""Recipe: instruction-tune a pretrained KerasHub causal LM (GPT-2, Gemma, Llama, ...) on prompt/response pairs."""

import dataclasses

import numpy as np
import tensorflow as tf

from kerastune.data.chat_template import ChatTemplate
from kerastune.data.instruction_examples import encode_instruction_examples, instruction_dataset, offending_pairs
from kerastune.distribute import worker_dir
from kerastune.export.export_writer import check_max_new_tokens
from kerastune.export.preset_causal_lm_export import export_preset_causal_lm
from kerastune.models.preset_causal_lm import load_causal_lm
from kerastune.models.preset_responses import preset_responses
from kerastune.models.preset_task import end_token_id, max_positions
from kerastune.recipes.config import as_dict, config_from
from kerastune.recipes.preset_tuning import PresetTaskRun, PresetTuningConfig, read_pairs
from kerastune.recipes.run_setup import start_run

# Alpaca's layout, ending in a newline: a format ending in a space would put a lone space token before every
# response of a byte-pair (GPT-2, Llama 3) vocabulary, a sequence such a model never saw in pretraining.
PRESET_PROMPT_FORMAT = "### Instruction:\n{prompt}\n\n### Response:\n"


@dataclasses.dataclass(kw_only=True)
class PresetCausalLMConfig(PresetTuningConfig):
    """Every setting of the `preset_causal_lm` recipe (a TOML file or `--key=value` sets them).

    The preset, data, LoRA, sampler and optimizer settings are `PresetTuningConfig`'s. `preset` is the
    pretrained causal LM (`kerastune.models.load_causal_lm`). `data` holds prompt/response pairs
    (`prompt`/`response`, or Alpaca's `instruction`/`input`/`output`). Each pair is wrapped in the chat
    template (`prompt_format`; `end_marker`, empty by default, is text written after each response) and ends
    with the tokenizer's end token, where generation stops; the loss counts the response only unless
    `loss_on_prompt`. A pair takes at most `sequence_length` tokens; `respond`, `evaluate` and the export
    write at most `max_new_tokens`.
    """

    RECIPE = "preset_causal_lm"
    PRESET_KIND = "a causal LM"
    DATA_KIND = "prompt/response pairs"

    name: str = "causal_lm"
    prompt_format: str = PRESET_PROMPT_FORMAT
    end_marker: str = ""  # the tokenizer's end token ends each response; a text marker may come before it
    loss_on_prompt: bool = False
    sequence_length: int = 256
    max_new_tokens: int = 128

    def __post_init__(self):
        super().__post_init__()
        ChatTemplate(self.prompt_format, self.end_marker)
        self.check_positive("sequence_length", "max_new_tokens")


class PresetCausalLMRun(PresetTaskRun):
    """What `preset_causal_lm` returns: `fit()`, then `evaluate()`, `respond(prompts)`, `export()`, `save(dir)`.

    Attributes:
        model: the compiled KerasHub `CausalLM` (LoRA enabled on its backbone when `peft="lora"`), its
            preprocessor detached (`model.preprocessor = None`, KerasHub's way to fit on prepared batches).
        preprocessor: that preprocessor, put back on the model by `save`.
        tokenizer: its tokenizer.
        start_token_id: the token before every prompt (None when the preprocessor adds none).
        lora_targets: the names of the layers LoRA adapts (`peft_targets` expanded), or None without LoRA.
        train_data, validation_data: `InstructionBatches` (`.dataset`, `.steps_per_epoch`, `.examples`).
        validation_pairs: the validation `InstructionPairs` that `evaluate` answers.
        chat_template: the `ChatTemplate` of training, `respond` and the export.
        config, strategy, sequence_length: the resolved config, the strategy, the longest input.
    """

    def __init__(self, model, preprocessor, train_data, validation_data, config, strategy, sequence_length,
                 validation_pairs, chat_template):
        super().__init__(model, preprocessor, train_data, validation_data, config, strategy, sequence_length)
        self.start_token_id = getattr(self.tokenizer, "start_token_id", None) \
            if getattr(preprocessor, "add_start_token", True) else None
        self.validation_pairs = validation_pairs
        self.chat_template = chat_template
        self._responders = {}

    def respond(self, prompts, max_new_tokens=None):
        """Each prompt's answer: wrapped in the chat template, decoded with the config's sampler (at most
        `max_new_tokens`, default the config's), cut at the end marker. A str for a str prompt, else a list.
        With the greedy sampler (the default) the export answers the same."""
        single = isinstance(prompts, str)
        limit = self.config.max_new_tokens if max_new_tokens is None else max_new_tokens
        check_max_new_tokens(limit)
        if limit not in self._responders:
            self._responders[limit] = tf.function(
                lambda texts: preset_responses(self.model, self.tokenizer, self.chat_template, texts, limit,
                                               self.start_token_id)["response"],
                input_signature=[tf.TensorSpec([None], tf.string)])
        answers = [text.decode("utf-8", "replace") for text in
                   self._responders[limit](tf.constant([prompts] if single else list(prompts), tf.string)).numpy()]
        return answers[0] if single else answers

    def answers(self, prompts, batch_size=None):
        """`respond` to each prompt, `batch_size` (default the config's) at a time: a list of str."""
        size = batch_size or self.config.batch_size
        return [answer for start in range(0, len(prompts), size)
                for answer in self.respond(prompts[start:start + size])]

    def export(self, export_dir=None, version=None, report=None):
        """String-in SavedModel under `export_dir/name/version/` (`export_preset_causal_lm`, LoRA merged); `report`
        (e.g. `evaluate()`'s) is saved beside it as `evaluation.json`. Returns its path."""
        c = self.config
        return export_preset_causal_lm(self.model, self.tokenizer, self.chat_template,
                                       export_dir=worker_dir(export_dir or c.export_dir, self.strategy),
                                       name=c.name, version=version, max_new_tokens=c.max_new_tokens,
                                       start_token_id=self.start_token_id, config=as_dict(c), report=report)

    def _batches(self, pairs, training):
        """The `InstructionBatches` of `pairs`; validation prompts must also leave room for `max_new_tokens`."""
        c = self.config
        examples = encode_instruction_examples(
            pairs, self.tokenizer, self.chat_template, end_token_id(self.tokenizer, c.preset), self.sequence_length,
            start_token_id=self.start_token_id, loss_on_prompt=c.loss_on_prompt)
        limit = max_positions(self.model)
        if not training and limit is not None:  # `evaluate` answers them: refused now, not after training
            _check_room_to_answer(examples.prompt_lengths, c.max_new_tokens, limit, pairs)
        return instruction_dataset(examples, c.batch_size, self.sequence_length, training, seed=c.seed,
                                   pad_to_multiple_of=c.pad_to_multiple_of)


def preset_causal_lm(config=None, **overrides):
    """Loads a pretrained KerasHub causal LM and instruction-tunes it; returns a `PresetCausalLMRun`.

    Supervised fine-tuning as Hugging Face TRL's `SFTTrainer` with PEFT's LoRA does it, in Keras: the
    loss on the responses only, LoRA over a frozen model, cached decoding at serving, a string-in
    SavedModel. The optimizer is kerastune's AdamW (linear warmup over `warmup_ratio`, linear decay,
    global-norm clipping, no decay on biases and norms); the loss is the mean cross-entropy over the
    counted (response) tokens.

    Args:
        config: a `PresetCausalLMConfig`, or None.
        **overrides: any `PresetCausalLMConfig` field, type-checked.

    Example:

    >>> run = preset_causal_lm(preset="gpt2_base_en", data="alpaca_data.json", epochs=1)  # doctest: +SKIP
    >>> run.fit()  # doctest: +SKIP
    >>> run.respond("Name three primary colours.")  # doctest: +SKIP
    >>> run.export()  # doctest: +SKIP
    """
    c = config_from(PresetCausalLMConfig, config, overrides)
    template = ChatTemplate(c.prompt_format, c.end_marker)
    train_pairs, validation_pairs = read_pairs(c)  # bad files fail before the model loads
    strategy = start_run(c)  # the precision policy is set before the model loads: KerasHub loads in it
    with strategy.scope():
        causal_lm = load_causal_lm(c.preset, sequence_length=c.sequence_length)
    limit = max_positions(causal_lm)
    if limit is not None and c.sequence_length > limit:
        raise ValueError(f"sequence_length exceeds the {limit} positions of preset={c.preset!r}: pass "
                         f"sequence_length <= {limit}. Received: sequence_length={c.sequence_length}")
    run = PresetCausalLMRun(causal_lm, causal_lm.preprocessor, None, None, c, strategy, c.sequence_length,
                            validation_pairs if len(validation_pairs) else None, template)
    return run.prepare(train_pairs, validation_pairs)


def _check_room_to_answer(prompt_lengths, max_new_tokens, limit, pairs):
    """Raises, naming the first, when a prompt leaves no room for `max_new_tokens` in the model's `limit` positions."""
    count, first, where = offending_pairs(np.asarray(prompt_lengths) + max_new_tokens > limit, pairs)
    if count:
        raise ValueError(f"{pairs.source or 'the validation pairs'}, {where}: the prompt takes "
                         f"{int(prompt_lengths[first])} tokens, and with max_new_tokens={max_new_tokens} its answer "
                         f"would not fit in the model's {limit} positions ({count} prompts do not); lower "
                         "max_new_tokens, or shorten or remove those pairs. "
                         f"Received: max_new_tokens={max_new_tokens}")
