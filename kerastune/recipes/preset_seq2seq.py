"""Recipe: fine-tune a pretrained KerasHub encoder-decoder (BART, T5, T5Gemma) on source/target pairs
(summarisation, translation, correction), scored on what it writes and exported strings-in, strings-out.

Thin by design: it reads the pairs (`read_instruction_pairs`), loads the preset (`load_seq2seq_lm`), lays
each pair out as the model's own preprocessor does (`Seq2SeqLayout`: BART's `<s> source </s>` and
`</s> <s> target </s>`, T5's `source </s>` and `<pad> target </s>`) in length buckets, enables LoRA and
compiles (`compile_preset_task`, shared with `preset_causal_lm`). `fit` is Keras's (teacher forcing, the
loss on the target tokens), `generate` writes with KerasHub's cached decoding through the export's own
graph, `evaluate` adds `text_to_text_report`, `export` writes the string-in SavedModel with LoRA merged.

Example:

>>> run = preset_seq2seq(preset="bart_base_en", data="pairs.jsonl", max_target_length=64)  # doctest: +SKIP
>>> run.fit()  # doctest: +SKIP
>>> run.generate(["a long article ..."])  # doctest: +SKIP
>>> run.evaluate()["bleu"]  # doctest: +SKIP
>>> path = run.export()  # doctest: +SKIP
"""

import dataclasses
from typing import Optional

import tensorflow as tf

from kerastune.data.length_buckets import padded_width
from kerastune.data.seq2seq_examples import Seq2SeqLayout, encode_seq2seq_examples, seq2seq_dataset
from kerastune.distribute import worker_dir
from kerastune.export.preset_seq2seq_export import export_preset_seq2seq
from kerastune.models.preset_seq2seq_lm import check_positions, load_seq2seq_lm, preset_seq2seq_targets
from kerastune.models.preset_task import max_positions
from kerastune.recipes.config import as_dict, config_from
from kerastune.recipes.preset_tuning import PresetTaskRun, PresetTuningConfig, read_pairs
from kerastune.recipes.run_setup import start_run


@dataclasses.dataclass(kw_only=True)
class PresetSeq2SeqConfig(PresetTuningConfig):
    """Every setting of the `preset_seq2seq` recipe (a TOML file or `--key=value` sets them).

    The preset, data, LoRA, sampler and optimizer settings are `PresetTuningConfig`'s. `preset` is the
    pretrained encoder-decoder (`kerastune.models.load_seq2seq_lm`). `data` holds source/target pairs
    (`source_column` / `target_column`, or else the first of `source`/`target`, `prompt`/`response`, ...
    that `read_instruction_pairs` finds). `source_prefix` goes before every source, in training, `generate`
    and the export (T5's task prefixes: `"summarize: "`). A source takes at most `max_source_length`
    tokens (its prefix included, the model's special tokens not) and a target at most `max_target_length`:
    a longer pair is an error naming its line, never cut. `generate`, `evaluate` and the export write at most
    `max_target_length + 1` tokens, the end token included (all of them text when no end token comes).
    """

    RECIPE = "preset_seq2seq"
    PRESET_KIND = "an encoder-decoder (BART, T5)"
    DATA_KIND = "source/target pairs"

    name: str = "seq2seq"
    source_column: Optional[str] = None
    target_column: Optional[str] = None
    source_prefix: str = ""
    max_source_length: int = 256
    max_target_length: int = 64

    def __post_init__(self):
        super().__post_init__()
        self.check_positive("max_source_length", "max_target_length")


class PresetSeq2SeqRun(PresetTaskRun):
    """What `preset_seq2seq` returns: `fit()`, then `evaluate()`, `generate(sources)`, `export()`, `save(dir)`,
    `save_adapter(path)`.

    Attributes:
        model: the compiled KerasHub `Seq2SeqLM` (LoRA enabled on its backbone when `peft="lora"`), its
            preprocessor detached.
        preprocessor, tokenizer, lora_targets: as `PresetTaskRun`'s.
        layout: the model's `Seq2SeqLayout` (where its special tokens go).
        train_data, validation_data: `Seq2SeqBatches` (`.dataset`, `.steps_per_epoch`, `.examples`).
        validation_pairs: the validation `InstructionPairs` (`prompts` the sources, `responses` the targets).
        config, strategy: the resolved config and the strategy.
    """

    def __init__(self, model, preprocessor, train_data, validation_data, config, strategy, validation_pairs, layout):
        super().__init__(model, preprocessor, train_data, validation_data, config, strategy,
                         config.max_source_length)
        self.validation_pairs = validation_pairs
        self.layout = layout
        self._writers = {}

    def generate(self, sources, batch_size=None):
        """The target written for each source (the config's sampler): a str for a str source, else a list of str.

        Writing stops at the end token or after `max_target_length + 1` tokens (the longest trained target and
        its end token), so a model that writes no end token answers with `max_target_length + 1` tokens. With
        the greedy sampler (the default) the export writes the same."""
        single = isinstance(sources, str)
        sources = [sources] if single else list(sources)
        size = min(batch_size or self.config.batch_size, max(len(sources), 1))  # decoded together: one chunk
        if size not in self._writers:
            c = self.config
            self._writers[size] = tf.function(
                lambda texts: preset_seq2seq_targets(self.model, self.tokenizer, self.layout, texts,
                                                     c.max_source_length, c.max_target_length + 1, c.source_prefix,
                                                     chunk_size=size),
                input_signature=[tf.TensorSpec([None], tf.string)])
        written = [text.decode("utf-8", "replace") for start in range(0, len(sources), size)
                   for text in self._writers[size](tf.constant(sources[start:start + size], tf.string)).numpy()]
        return written[0] if single else written

    def answers(self, sources, batch_size=None):
        """`generate`'s targets of `sources`: a list of str."""
        return self.generate(list(sources), batch_size)

    def export(self, export_dir=None, version=None, report=None):
        """String-in SavedModel under `export_dir/name/version/` (`export_preset_seq2seq`, LoRA merged): `sources` ->
        `targets`; `report` (e.g. `evaluate()`'s) is saved beside it as `evaluation.json`. Returns its path."""
        c = self.config
        return export_preset_seq2seq(self.model, self.tokenizer, self.layout, c.max_source_length,
                                     c.max_target_length + 1, c.source_prefix,
                                     export_dir=worker_dir(export_dir or c.export_dir, self.strategy), name=c.name,
                                     version=version, config=as_dict(c), report=report)

    def _batches(self, pairs, training):
        c = self.config
        examples = encode_seq2seq_examples(pairs, self.tokenizer, self.layout, c.max_source_length,
                                           c.max_target_length, c.source_prefix)
        limit = max_positions(self.model)
        # one decoder width, the longest target's: a long source does not widen its short target
        decoder_width = padded_width(len(self.layout.decoder_start) + c.max_target_length, c.pad_to_multiple_of, limit)
        return seq2seq_dataset(examples, c.batch_size, training, seed=c.seed, pad_to_multiple_of=c.pad_to_multiple_of,
                               decoder_width=decoder_width, max_width=limit)


def preset_seq2seq(config=None, **overrides):
    """Loads a pretrained KerasHub encoder-decoder and fine-tunes it on source/target pairs; returns a
    `PresetSeq2SeqRun`.

    What Hugging Face's `Seq2SeqTrainer` (with PEFT's LoRA) does for BART and T5, in Keras: teacher forcing
    with the loss on the target tokens, LoRA over a frozen model, cached decoding, a string-in SavedModel.
    The optimizer is kerastune's AdamW (linear warmup over `warmup_ratio`, linear decay, global-norm
    clipping, no decay on biases and norms).

    Args:
        config: a `PresetSeq2SeqConfig`, or None.
        **overrides: any `PresetSeq2SeqConfig` field, type-checked.

    Example:

    >>> run = preset_seq2seq(preset="t5_small_multi", data="pairs.tsv", source_prefix="summarize: ")  # doctest: +SKIP
    >>> run.fit()  # doctest: +SKIP
    >>> run.generate("A long text to shorten ...")  # doctest: +SKIP
    """
    c = config_from(PresetSeq2SeqConfig, config, overrides)
    train_pairs, validation_pairs = read_pairs(c, prompt_column=c.source_column, response_column=c.target_column)
    strategy = start_run(c)  # the precision policy is set before the model loads: KerasHub loads in it
    with strategy.scope():
        seq2seq_lm = load_seq2seq_lm(c.preset)
    layout = Seq2SeqLayout.from_preprocessor(seq2seq_lm.preprocessor)
    check_positions(seq2seq_lm, layout, c.max_source_length, c.max_target_length, f"preset={c.preset!r}")
    run = PresetSeq2SeqRun(seq2seq_lm, seq2seq_lm.preprocessor, None, None, c, strategy,
                           validation_pairs if len(validation_pairs) else None, layout)
    return run.prepare(train_pairs, validation_pairs)
