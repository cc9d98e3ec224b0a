"""Recipe: a GPT trained from scratch on a text corpus (nanoGPT's job, in Keras `fit`)."""

import dataclasses
import json
import os
from typing import Optional

import keras
import numpy as np

from kerastune.data.causal_lm_dataset import causal_lm_datasets, split_causal_lm_datasets
from kerastune.data.corpus_tokenizer import build_tokenizer
from kerastune.data.chat_template import DEFAULT_END_MARKER, DEFAULT_PROMPT_FORMAT, ChatTemplate
from kerastune.data.instruction_pairs import read_instruction_pairs
from kerastune.data.labelled_text import TABLE_SUFFIXES
from kerastune.data.text_encoding import encode_texts
from kerastune.data.text_source import load_text
from kerastune.data.token_directory import is_token_directory, load_token_directory
from kerastune.distribute import training_loop, worker_dir
from kerastune.export.causal_lm_export import export_causal_lm
from kerastune.export.versioned_directory import atomic_file
from kerastune.models.gpt import GPT
from kerastune.models.text_generation import (check_sampler_settings, decoded_str, generate_responses, make_sampler,
                                              sampler_arguments)
from kerastune.peft import METHODS, apply_peft, merged_for_export, save_adapter
from kerastune.recipes.config import RunConfig, as_dict, compile_execution, config_from, training_fingerprint
from kerastune.recipes.run_setup import start_run
from kerastune.recipes.training_config import ArchitectureConfig
from kerastune.recipes.training_setup import progress
from kerastune.training.callbacks import PrintSamples, StopOnInvalidLoss
from kerastune.training.optimizers import NO_DECAY_NAMES, adamw, build_optimizer_variables
from kerastune.training.schedules import warmup_cosine_decay
from kerastune.training.training_backup import fit_with_backups


GPT_PEFT_METHODS = tuple(method for method in METHODS if method != "prompt")  # prompt tuning: BERT-style only
UNMERGED_METHODS = ("adapter", "prefix")  # they add layers a plain GPT lacks: `save_adapter`, not `save`
DATA_FORMATS = ("text", "instructions")
DIRECTORY_FIELDS = ("tokenizer", "vocabulary_size", "validation_fraction", "data_dir")  # a token directory's own


@dataclasses.dataclass(kw_only=True)
class CausalLMConfig(RunConfig, ArchitectureConfig):
    """Every setting of the `causal_lm` recipe (flat, typed: a TOML file or `--key=value` sets them).

    The run settings are `RunConfig`'s (`name`, `seed`, `strategy`, `mixed_precision` (None is
    float32), `export_dir`, `logging_dir`: TensorBoard logs go to `logging_dir/name/` when it is
    set, else to `run_dir/name/logs/`). Other defaults are nanoGPT's CPU Shakespeare-char
    configuration, sized to finish in minutes. Sampler names and settings are checked on
    construction, so a bad `--top_p` fails before training rather than at the first sample.

    `init_from` fine-tunes a saved GPT (a `.keras` file, `run.save("gpt.keras")`) on `data`
    instead of training a new one: its architecture, dropout and tokenizer are the saved model's (the
    fields `num_layers` to `position_encoding`, `tokenizer` and `vocabulary_size` are not read), and
    `sequence_length` may not exceed its context. `peft` then trains only the method's weights
    (`lora_rank`, `lora_alpha`, `peft_targets`) over the frozen GPT; `run.save_adapter(path)` writes them,
    and `run.export()` merges LoRA / DoRA into the kernels.

    `data` may be a token directory (`kerastune prepare`, `prepare_token_directory`): a corpus tokenized
    once into memory-mapped files, read batch by batch, so it may be far larger than memory (a
    GPT-2-small run's). Its tokenizer and its train / validation split are used: `tokenizer`,
    `vocabulary_size`, `validation_fraction` and `data_dir` must be left at their defaults.

    `data_format="instructions"` instruction-tunes (supervised fine-tuning): `data` is a file of
    prompt/response pairs (`read_instruction_pairs`: JSONL, TSV or CSV with `prompt`/`response`
    or Alpaca's `instruction`/`input`/`output`), each wrapped in the chat template (`prompt_format`,
    `end_marker`) and packed into one stream; windows start at pairs' starts, and only the
    responses count in the loss unless `loss_on_prompt`. `run.respond(prompts)` and the export's
    `response` output answer new prompts through the same template. With `init_from` and
    `peft="lora"` it is LoRA over a frozen GPT.
    """

    name: str = "gpt"
    seed: int = 1337
    data: str = "pydoc"  # "pydoc", a text file, "tfds:NAME" or a token directory; or a pairs file (data_format)
    data_format: str = "text"  # "text" (a corpus) or "instructions" (prompt/response pairs)
    prompt_format: str = DEFAULT_PROMPT_FORMAT  # instructions: the chat template around each prompt
    end_marker: str = DEFAULT_END_MARKER  # instructions: written after each response; responses end there
    loss_on_prompt: bool = False  # instructions: learn the prompts too (default: the responses only)
    data_dir: Optional[str] = None  # TFDS data_dir
    tokenizer: str = "character"  # "character" or "sentencepiece"
    vocabulary_size: int = 1000  # sentencepiece only
    sequence_length: int = 64
    batch_size: int = 12
    num_layers: int = 4
    num_heads: int = 4
    dropout: float = 0.0
    tie_embeddings: bool = True
    use_bias: bool = True
    position_encoding: str = "rotary"  # "rotary" (RoPE) or "learned" (GPT-2, nanoGPT)
    decay_embeddings: bool = True  # weight decay on token/position embeddings too (nanoGPT: yes)
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-4
    warmup_steps: int = 100  # in optimizer updates (micro-steps / gradient_accumulation_steps)
    total_steps: int = 2000  # in updates: cosine decay ends here (nanoGPT's lr_decay_iters)
    weight_decay: float = 0.1
    beta_1: float = 0.9
    beta_2: float = 0.99
    global_clipnorm: float = 1.0
    gradient_accumulation_steps: int = 1
    ema_momentum: float = 0.0  # > 0: average the weights (Keras use_ema), swapped in at the end of fit
    epochs: int = 10
    steps_per_epoch: int = 200  # epochs * steps_per_epoch training steps
    validation_fraction: float = 0.1
    validation_batches: int = 50
    sampling: str = "random"  # "random" (nanoGPT) or "sequential"
    jit_compile: bool = True
    steps_per_execution: int = 1
    sample_prompt: str = ""  # "" starts samples from the corpus's first character (instructions: the last prompt)
    sample_tokens: int = 200
    sampler: str = "top_k"  # for printed samples: "greedy", "top_k", "top_p", "random"
    top_k: int = 10  # "top_k": draw from the k most likely tokens
    top_p: float = 0.9  # "top_p": draw from the smallest set of most likely tokens holding mass > p
    temperature: float = 0.8  # divides the logits before the random samplers draw
    export_sampler: str = "greedy"  # what the SavedModel's serving_default decodes with (same settings)
    max_new_tokens: int = 200
    run_dir: str = "runs"
    init_from: Optional[str] = None  # a saved GPT (`.keras`) to fine-tune: its architecture and tokenizer are used
    peft: Optional[str] = None  # with init_from: "lora", "dora", "adapter" or "prefix" (`kerastune.peft.apply_peft`)
    lora_rank: int = 8
    lora_alpha: float = 16.0
    peft_targets: Optional[str] = None  # None: the method's defaults (`kerastune.peft.DEFAULT_TARGETS`)

    def __post_init__(self):
        super().__post_init__()
        if self.data_format not in DATA_FORMATS:
            raise ValueError(f"data_format must be one of {DATA_FORMATS}. Received: data_format={self.data_format!r}")
        ChatTemplate(self.prompt_format, self.end_marker)  # checked now, not after the data is read
        if self.data_format == "instructions" and not self.end_marker:
            raise ValueError("end_marker must be non-empty for kerastune's GPT, which has no end token: the model "
                             f"learns to stop by writing the marker, e.g. {DEFAULT_END_MARKER!r}. Received: "
                             "end_marker=''")
        if is_token_directory(self.data):  # checked again when it runs: the directory may be prepared later
            check_token_directory_settings(self)
        if self.peft is not None and self.peft not in GPT_PEFT_METHODS:
            raise ValueError(f"peft must be one of {GPT_PEFT_METHODS} or None for a GPT. Received: peft={self.peft!r}")
        if self.peft is not None and self.init_from is None:
            raise ValueError(f"peft={self.peft!r} adapts a pretrained GPT and trains nothing else: set init_from to "
                             "one saved with run.save('gpt.keras'), or leave peft unset to train from scratch.")
        for field in ("sampler", "export_sampler"):
            check_sampler_settings(
                getattr(self, field), self.temperature, p=self.top_p, k=self.top_k,
                names={"sampler": field, "p": "top_p", "k": "top_k"},
            )


@dataclasses.dataclass
class CausalLMRun:
    """What `causal_lm` returns: call `model.fit(train_ds, ...)` yourself, or `train()`.

    Attributes:
        model: the compiled `kerastune.models.GPT` (holds its tokenizer).
        tokenizer: the tokenizer layer.
        train_ds, val_ds: `tf.data.Dataset`s of (inputs, targets).
        config: the resolved `CausalLMConfig`.
        strategy: the `tf.distribute.Strategy` the model was built under.
        sample_prompt: the text samples start from (for instructions, the prompt they answer, which
            the samples wrap in the chat template).
        chat_template: the `ChatTemplate` of `data_format="instructions"`, else None.
    """

    model: GPT
    tokenizer: object
    train_ds: object
    val_ds: object
    config: CausalLMConfig
    strategy: object
    sample_prompt: str = "\n"
    chat_template: Optional[ChatTemplate] = None

    def callbacks(self, checkpoints=True, tensorboard=True, samples=True):
        """The callbacks `train()` uses: samples, checkpoints, TensorBoard logs (and Keras's
        backup-and-restore for `sampling="sequential"`; random sampling resumes mid-epoch through
        `fit_with_backups`)."""
        c = self.config
        run = self.run_dir()
        callbacks = [StopOnInvalidLoss()]
        prompt = self.sample_prompt if self.chat_template is None else self.chat_template.render(self.sample_prompt)[0]
        if samples and c.sample_tokens:
            callbacks.append(
                PrintSamples(
                    prompt,
                    c.sample_tokens,
                    every_n_epochs=max(1, c.epochs // 3),
                    **self.sampler_arguments(),
                )
            )
        if checkpoints:
            if c.sampling != "random":  # a finite, reshuffled epoch: Keras restarts an interrupted one
                callbacks.append(keras.callbacks.BackupAndRestore(os.path.join(run, "backup")))
            callbacks.append(
                keras.callbacks.ModelCheckpoint(os.path.join(run, "checkpoint.weights.h5"), save_weights_only=True)
            )
        if tensorboard:
            logs = worker_dir(os.path.join(c.logging_dir, c.name), self.strategy) if c.logging_dir \
                else os.path.join(run, "logs")
            callbacks.append(keras.callbacks.TensorBoard(logs))
        return callbacks

    def run_dir(self):
        """`run_dir/name/`; under several workers, the chief's (the others write under it, `worker_dir`)."""
        return worker_dir(os.path.join(self.config.run_dir, self.config.name), self.strategy)

    def sampler_arguments(self, sampler=None):
        """`GPT.generate` keyword arguments for `sampler` (default: the config's `sampler`) with the config's
        settings for it (`kerastune.models.text_generation.sampler_arguments`)."""
        c = self.config
        return sampler_arguments(c.sampler if sampler is None else sampler, c.temperature, c.seed, c.top_k, c.top_p)

    def respond(self, prompts, max_new_tokens=None, sampler="greedy"):
        """Answers each prompt as instruction tuning taught: wrapped in the chat template, continued with
        `sampler` (the config's settings for it), cut at the end marker. `max_new_tokens` defaults to the
        config's. A str for a str prompt, else a list."""
        if self.chat_template is None:
            raise ValueError("respond answers prompts of an instruction-tuned GPT: build the run with "
                             "data_format='instructions'. For plain text use run.model.generate(prompt).")
        return generate_responses(self.model, self.chat_template, prompts,
                                  max_new_tokens or self.config.max_new_tokens, **self.sampler_arguments(sampler))

    def train(self, callbacks=None, verbose="auto"):
        """`fit` with progress printing (Keras's bar on a terminal, one line per epoch otherwise),
        sample printing, and checkpoints under `run_dir/name/`; killed, the same call resumes from
        the backup in `run_dir/name/backup/` or `backup_dir/name/` (written every
        `backup_every_steps` and at epoch ends); TensorBoard logs go to
        `logging_dir/name/` when `logging_dir` is set, else to `run_dir/name/logs/`. The resolved
        config is saved as `run_dir/name/config.json`. Under MultiWorkerMirroredStrategy it trains
        with `MultiWorkerTrainer` (Keras's `fit` does not run there) and only the chief writes to these
        paths (the other workers under `workertemp_<id>/` in them). Returns the History."""
        c = self.config
        run = self.run_dir()
        fit = training_loop(self.model, self.strategy).fit
        os.makedirs(run, exist_ok=True)
        with open(os.path.join(run, "config.json"), "w", encoding="utf-8") as f:
            json.dump(as_dict(c), f, indent=1)
        verbosity, progress_lines = progress(verbose)
        arguments = dict(epochs=c.epochs, steps_per_epoch=c.steps_per_epoch, validation_data=self.val_ds,
                         callbacks=self.callbacks() + progress_lines + list(callbacks or []), verbose=verbosity,
                         shuffle=False)  # the datasets shuffle themselves, seeded
        if c.sampling != "random":
            return fit(self.train_ds, **arguments)
        # batch n of the random stream depends only on (seed, n): a killed run resumes at its backup
        backup_dir = worker_dir(os.path.join(c.backup_dir, c.name), self.strategy) if c.backup_dir \
            else os.path.join(run, "backup")
        return fit_with_backups(self.model, self.train_ds, backup_dir=backup_dir, fit=fit,
                                save_every_steps=c.backup_every_steps, fingerprint=training_fingerprint(c),
                                **arguments)

    def export(self, version=None, **kwargs):
        """String-in SavedModel under `export_dir/name/version/` (see `export_causal_lm`).

        Its `serving_default` decodes `max_new_tokens` tokens with `export_sampler` and the settings
        `sampler_arguments` gives it (`top_k`, `top_p`, `temperature`, `seed`). Keyword arguments go
        to `export_causal_lm`; a sampler name passed as `sampler=` takes the config's settings too
        (`temperature=` / `seed=` given here win), a `keras_hub.samplers.Sampler` is used as it is.
        """
        c = self.config
        kwargs.setdefault("max_new_tokens", c.max_new_tokens)
        sampler = kwargs.pop("sampler", c.export_sampler)
        if isinstance(sampler, str):
            given = {key: kwargs.pop(key) for key in ("temperature", "seed") if key in kwargs}
            sampler = make_sampler(**{**self.sampler_arguments(sampler), **given})
        with merged_for_export(self.model):  # LoRA / DoRA in the kernels: no extra op when serving
            return export_causal_lm(
                self.model, export_dir=worker_dir(c.export_dir, self.strategy), name=c.name, version=version,
                sampler=sampler, config=as_dict(c), chat_template=self.chat_template, **kwargs
            )

    def save(self, path):
        """Writes the GPT with its tokenizer to `path` (a `.keras` file), what `init_from` takes; LoRA / DoRA
        updates are merged into its kernels, so it is a plain GPT. Written beside `path` and renamed into place:
        a crash never leaves half a file. Adapters and prefixes do not fold into a plain GPT: `save_adapter`."""
        if not str(path).endswith(".keras"):
            raise ValueError(f"path must end in .keras (Keras's whole-model format). Received: path={path!r}")
        if self.config.peft in UNMERGED_METHODS:
            raise ValueError(f"peft={self.config.peft!r} adds layers a plain GPT does not have: save what it trained "
                             "with run.save_adapter(path), and load it onto the same init_from with load_adapter.")
        with atomic_file(path, suffix=".keras") as temporary, merged_for_export(self.model):
            self.model.save(temporary)
        return path

    def save_adapter(self, path):
        """Writes what `peft` trained to `path`, without the GPT it adapts; returns its size in bytes.
        `kerastune.peft.load_adapter` puts it back on the same pretrained GPT (and refuses another)."""
        return save_adapter(self.model, path)


def check_token_directory_settings(config):
    """Raises when a `CausalLMConfig` whose `data` is a token directory sets what the directory fixes."""
    if config.data_format != "text":
        raise ValueError(f"data={config.data!r} is a token directory, a corpus for data_format='text'; instruction "
                         "pairs are read from a .jsonl, .json, .tsv or .csv file. Received: "
                         f"data_format={config.data_format!r}")
    for field in DIRECTORY_FIELDS:
        if getattr(config, field) != CausalLMConfig.__dataclass_fields__[field].default:
            raise ValueError(f"{field} is the token directory's (data={config.data!r} was tokenized and split when it "
                             f"was prepared): leave it unset. Received: {field}={getattr(config, field)!r}")


def load_pretrained_gpt(path, sequence_length):
    """The GPT saved at `path` (a `.keras` file holding its tokenizer), checked for `sequence_length`."""
    if not str(path).endswith(".keras") or not os.path.isfile(path):
        raise ValueError("init_from must be a saved GPT, a .keras file written by run.save('gpt.keras'). "
                         f"Received: init_from={path!r}" + ("" if os.path.exists(path) else " (no such file)"))
    model = keras.saving.load_model(path, compile=False)
    if not isinstance(model, GPT):
        raise ValueError(f"init_from must hold a kerastune GPT; this file holds a {type(model).__name__}. "
                         f"Received: init_from={path!r}")
    if model.tokenizer is None:
        raise ValueError(f"The GPT in init_from={path!r} was saved without its tokenizer, so new text cannot be "
                         "encoded as it learned: build it with GPT(..., tokenizer=...), as causal_lm does, and save "
                         "it.")
    if sequence_length > model.sequence_length:
        raise ValueError(f"sequence_length={sequence_length} exceeds the {model.sequence_length} positions of the GPT "
                         f"in init_from={path!r}: pass sequence_length <= {model.sequence_length}.")
    return model


def check_sample_prompt(tokenizer, prompt):
    """Raises before training, not at the first sample, when `sample_prompt` does not fit the tokenizer."""
    try:
        encode_texts(tokenizer, [prompt])
    except ValueError as error:
        raise ValueError(f"sample_prompt does not fit the tokenizer ({error}): pass --sample_prompt= text in the "
                         "data's characters, or an empty one to start from the data. Received: "
                         f"sample_prompt={prompt!r}") from error


def causal_lm(config=None, **overrides):
    """Builds data, tokenizer and a compiled GPT under a strategy; returns a `CausalLMRun`.

    The optimizer is AdamW (linear warmup to `learning_rate` over `warmup_steps`, cosine decay to
    `min_learning_rate` at `total_steps`; weight decay on kernels and embeddings, none on biases
    and layer-norm scales/offsets; global gradient-norm clipping) and the loss
    `SparseCategoricalCrossentropy(from_logits=True)`.

    Args:
        config: a `CausalLMConfig`, or None for the defaults.
        **overrides: any `CausalLMConfig` field, type-checked.

    Example:

    >>> run = causal_lm(data="input.txt", epochs=5)  # doctest: +SKIP
    >>> run.model.fit(run.train_ds, epochs=5, steps_per_epoch=200, validation_data=run.val_ds)  # doctest: +SKIP
    >>> run.export()  # doctest: +SKIP
    """
    c = config_from(CausalLMConfig, config, overrides)
    token_directory = is_token_directory(c.data)
    if token_directory:
        check_token_directory_settings(c)
    strategy = start_run(c)
    template = ChatTemplate(c.prompt_format, c.end_marker) if c.data_format == "instructions" else None
    with strategy.scope():
        pretrained = load_pretrained_gpt(c.init_from, c.sequence_length) if c.init_from else None
    if token_directory:
        tokenizer, train_ds, val_ds, sample_prompt = _token_directory_data(c, pretrained)
    else:
        tokenizer, train_ds, val_ds, sample_prompt = _text_data(c, template, pretrained)
    with strategy.scope():
        model = pretrained if pretrained is not None else GPT(
            vocabulary_size=tokenizer.vocabulary_size(),
            sequence_length=c.sequence_length,
            num_layers=c.num_layers,
            num_heads=c.num_heads,
            hidden_dim=c.hidden_dim,
            intermediate_dim=c.intermediate_dim,
            dropout=c.dropout,
            tie_embeddings=c.tie_embeddings,
            use_bias=c.use_bias,
            position_encoding=c.position_encoding,
            tokenizer=tokenizer,
            name=c.name,
        )
        if c.peft:
            apply_peft(model, c.peft, rank=c.lora_rank, alpha=c.lora_alpha, targets=c.peft_targets)
        schedule = warmup_cosine_decay(c.learning_rate, c.total_steps, c.warmup_steps, c.min_learning_rate)
        model.compile(
            optimizer=adamw(
                schedule,
                weight_decay=c.weight_decay,
                beta_1=c.beta_1,
                beta_2=c.beta_2,
                global_clipnorm=c.global_clipnorm or None,
                gradient_accumulation_steps=c.gradient_accumulation_steps,
                ema_momentum=c.ema_momentum or None,
                exclude_from_weight_decay=NO_DECAY_NAMES + (() if c.decay_embeddings else ("embeddings",)),
            ),
            # with a loss mask, the mean over the counted (response) tokens, not over every token
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight" if template else "sum_over_batch_size"),
            **compile_execution(c),
            steps_per_execution=c.steps_per_execution,
        )
        build_optimizer_variables(model)  # one trace of the train step, not two
    return CausalLMRun(model, tokenizer, train_ds, val_ds, c, strategy, sample_prompt, template)


def _text_data(c, template, pretrained):
    """The tokenizer, datasets and sample prompt of a text corpus or a pairs file, read into memory."""
    if template is None:
        text = load_text(c.data, data_dir=c.data_dir)
    else:
        if os.path.splitext(c.data)[1].lower() not in TABLE_SUFFIXES:
            raise ValueError("data_format='instructions' reads prompt/response pairs from a .jsonl, .json, .tsv or "
                             f".csv file (see read_instruction_pairs). Received: data={c.data!r}")
        pairs = read_instruction_pairs(c.data)
        template.check_responses(pairs.responses, pairs.source, pairs.lines)  # before the tokenizer's errors below
        text = "".join("".join(template.render(*pair)) for pair in zip(pairs.prompts, pairs.responses))
    tokenizer = build_tokenizer(c.tokenizer, text, c.vocabulary_size) if pretrained is None else pretrained.tokenizer
    try:
        if template is None:
            ids, loss_mask, starts = encode_texts(tokenizer, [text])[0], None, None
        else:
            ids, loss_mask, starts = template.encode_pairs(pairs.prompts, pairs.responses, tokenizer,
                                                           c.loss_on_prompt, pairs.source, pairs.lines)
    except ValueError as error:
        if pretrained is None:
            raise
        raise ValueError(f"data={c.data!r} does not fit the tokenizer of the GPT in init_from={c.init_from!r}, "
                         f"whose vocabulary is fixed: {error}. Replace or remove those characters in the new "
                         "text" + (" (or the chat template)." if template else ".")) from error
    # samples continue the given prompt, else the corpus's first character (answer the last pair's prompt)
    sample_prompt = c.sample_prompt or (text[0] if template is None else pairs.prompts[-1])
    check_sample_prompt(tokenizer, sample_prompt if template is None else template.render(sample_prompt)[0])
    train_ds, val_ds = causal_lm_datasets(
        ids,
        sequence_length=c.sequence_length,
        batch_size=c.batch_size,
        validation_fraction=c.validation_fraction,
        seed=c.seed,
        sampling=c.sampling,
        validation_batches=c.validation_batches,
        loss_mask=loss_mask,
        window_starts=starts,
    )
    return tokenizer, train_ds, val_ds, sample_prompt


def _token_directory_data(c, pretrained):
    """The tokenizer, datasets and sample prompt of a prepared token directory, its files read batch by batch."""
    tokens = load_token_directory(c.data)
    if pretrained is not None and pretrained.tokenizer.get_vocabulary() != tokens.tokenizer.get_vocabulary():
        raise ValueError(f"data={c.data!r} was tokenized with another vocabulary than the GPT in init_from="
                         f"{c.init_from!r} embeds; prepare it with that GPT's tokenizer "
                         "(prepare_token_directory(..., tokenizer=gpt.tokenizer)).")
    tokenizer = tokens.tokenizer if pretrained is None else pretrained.tokenizer
    train_ds, val_ds = split_causal_lm_datasets(
        tokens.train, tokens.validation, sequence_length=c.sequence_length, batch_size=c.batch_size, seed=c.seed,
        sampling=c.sampling, validation_batches=c.validation_batches,
    )
    sample_prompt = c.sample_prompt or decoded_str(tokenizer.detokenize(np.asarray(tokens.train[:16], np.int32)))[:1]
    check_sample_prompt(tokenizer, sample_prompt)
    return tokenizer, train_ds, val_ds, sample_prompt
