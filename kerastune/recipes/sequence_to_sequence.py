"""Recipe: an encoder-decoder Transformer trained from scratch on source/target text pairs
(translation, summarisation, correction), scored on what it writes and exported strings-in,
strings-out.

Thin by design: it reads the pairs (`read_instruction_pairs`: JSONL/JSON/TSV/CSV with `source`/`target`
or any named columns), learns a tokenizer from the training pairs (characters or SentencePiece),
builds `Seq2SeqTransformer` and compiles it with AdamW (linear warmup, cosine decay) under a strategy.
`fit` is Keras's `model.fit` (teacher forcing: the target shifted right in, the next token out, padding
weighted 0), `generate` writes greedily with the key/value cache through the export's own graph,
`evaluate` is `text_to_text_report`, `export` writes the string-in SavedModel.

Example:

>>> run = sequence_to_sequence(train="pairs.tsv", validation="dev.tsv")  # doctest: +SKIP
>>> run.fit()  # doctest: +SKIP
>>> run.generate(["a sentence to translate"])  # doctest: +SKIP
>>> run.evaluate()["bleu"]  # doctest: +SKIP
>>> path = run.export()  # doctest: +SKIP
"""

import dataclasses
from typing import Optional

import keras
import tensorflow as tf

from kerastune.data.instruction_pairs import read_instruction_pairs
from kerastune.data.noisy_pairs import NOISE_KINDS, noisy_pairs
from kerastune.data.sequence_pairs import NUM_SPECIAL_IDS, check_lengths, pair_token_ids, sequence_pair_dataset
from kerastune.evaluation.text_to_text_report import text_to_text_report
from kerastune.export.seq2seq_export import export_seq2seq, text_to_text_function
from kerastune.models.seq2seq_transformer import Seq2SeqTransformer
from kerastune.data.corpus_tokenizer import TOKENIZER_KINDS, build_tokenizer
from kerastune.recipes.config import RunConfig, as_dict, compile_execution, config_from
from kerastune.recipes.run_setup import start_run
from kerastune.recipes.training_setup import fit_callbacks
from kerastune.training.label_smoothing import sparse_crossentropy
from kerastune.training.optimizers import adamw, build_optimizer_variables
from kerastune.training.schedules import warmup_cosine_decay



@dataclasses.dataclass(kw_only=True)
class SequenceToSequenceConfig(RunConfig):
    """Every argument of `sequence_to_sequence`: `RunConfig`'s, plus the pairs, the tokenizer, the
    Transformer and AdamW.

    Args:
        train: str, the training pairs (`.jsonl`, `.json`, `.tsv`, `.csv`).
        validation: str or None, the validation pairs; None holds out the last `validation_fraction`.
        validation_fraction: float in [0, 1), used when `validation` is None.
        source_column, target_column: str or None (None: `source`/`target`, or the other column pairs
            `read_instruction_pairs` knows).
        format: str or None, the file format when the extension does not say.
        tokenizer: `"character"` (one id per character) or `"sentencepiece"` (subwords learned from
            the training pairs, `vocabulary_size` pieces).
        vocabulary_size: int, SentencePiece's pieces.
        max_source_length, max_target_length: int, the most tokens of a source / target; a longer pair
            is an error naming it (nothing is cut). The written target may have as many tokens.
        fixed_decoder_width: bool, pad every decoder input to `max_target_length + 1` and batch pairs by
            their sources' lengths alone (summarisation: short targets of long sources, whose decoder would
            otherwise be padded to the source's width). False gives each pair's two sides one width
            (translation, correction: sides of similar lengths).
        num_layers, num_heads, hidden_dim, intermediate_dim, dropout: the Transformer's (`Seq2SeqTransformer`).
        epochs, batch_size: int.
        learning_rate: float, AdamW's peak rate; warmup over `warmup_fraction` of the steps, then
            cosine decay to 0.
        weight_decay: float, AdamW's (not on biases and layer norms).
        label_smoothing: float in [0, 1) (the Transformer paper's 0.1).
        max_train_examples: int or None, keep only the first this many training pairs.
        noise: None, or `"typos"` to make the pairs from plain texts (`noisy_pairs`): `train` and
            `validation` are then texts (a text file, one per line, or a labelled file's text column),
            each text corrupted is the source and the text itself the target (a spelling corrector).
        noise_rate: float in [0, 1], the share of words `noise` corrupts (the validation texts get
            other typos than the training texts: seed + 1).
    """

    name: str = "seq2seq"
    train: str
    validation: Optional[str] = None
    validation_fraction: float = 0.05
    source_column: Optional[str] = None
    target_column: Optional[str] = None
    format: Optional[str] = None
    tokenizer: str = "character"
    vocabulary_size: int = 1000
    max_source_length: int = 128
    max_target_length: int = 128
    fixed_decoder_width: bool = False
    num_layers: int = 3
    num_heads: int = 4
    hidden_dim: int = 128
    intermediate_dim: Optional[int] = None
    dropout: float = 0.1
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_fraction: float = 0.05
    weight_decay: float = 0.01
    label_smoothing: float = 0.1
    max_train_examples: Optional[int] = None
    noise: Optional[str] = None
    noise_rate: float = 0.15


class SequenceToSequenceRun:
    """What `sequence_to_sequence(...)` returns.

    Attributes:
        model: the compiled `Seq2SeqTransformer` (logits out).
        tokenizer: the tokenizer learned from the training pairs (its ids + 3 are the model's).
        config: the resolved `SequenceToSequenceConfig`.
        strategy: the `tf.distribute.Strategy` the model was built under.
        train_pairs, validation_pairs: `InstructionPairs` (`prompts` are the sources, `responses` the targets).
        train_data, validation_data: `tf.data` batches for `fit` (inputs, labels, sample weights),
            batched by length (`sequence_pair_dataset`).
        steps_per_epoch: int, training batches in one pass (the learning-rate schedule's unit).
    """

    def __init__(self, model, tokenizer, config, strategy, train_pairs, validation_pairs, train_data, validation_data,
                 steps_per_epoch):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.strategy = strategy
        self.train_pairs = train_pairs
        self.validation_pairs = validation_pairs
        self.train_data = train_data
        self.validation_data = validation_data
        self.steps_per_epoch = steps_per_epoch
        self._text_to_text = None

    def fit(self, callbacks=None, epochs=None, verbose="auto", **kwargs):
        """`model.fit` on the training pairs (teacher forcing), validating on the validation pairs'
        loss each epoch. The rate was sized for `config.epochs` and is 0 after them. Returns `History`."""
        kwargs.setdefault("shuffle", False)  # the training batches shuffle themselves (seeded); Keras would warn
        verbosity, callbacks = fit_callbacks(self.config, verbose, callbacks)
        return self.model.fit(self.train_data, validation_data=self.validation_data,
                              epochs=epochs or self.config.epochs, steps_per_epoch=self.steps_per_epoch,
                              callbacks=callbacks, verbose=verbosity, **kwargs)

    def generate(self, sources, batch_size=256):
        """The written target of each source string (greedy, through the export's graph): a list of str."""
        if self._text_to_text is None:
            self._text_to_text = text_to_text_function(self.model, self.tokenizer, self.config.max_source_length,
                                                       self.config.max_target_length + 1)
        written = []
        for start in range(0, len(sources), batch_size):
            texts = self._text_to_text(tf.constant(list(sources[start:start + batch_size])))
            written += [t.decode("utf-8") for t in texts.numpy()]
        return written

    def evaluate(self, sources=None, targets=None):
        """`text_to_text_report` of what the model writes for `sources` against `targets` (default:
        the validation pairs): exact match, character and word error rates, BLEU."""
        if (sources is None) != (targets is None):
            raise ValueError("evaluate takes sources and targets together, or neither (the validation pairs).")
        if sources is None:
            sources, targets = self.validation_pairs.prompts, self.validation_pairs.responses
        return text_to_text_report(self.generate(sources), list(targets))

    def export(self, export_dir=None, version=None, report=None):
        """Writes the SavedModel (`serving_default`: `sources` strings -> `targets` strings) to
        `export_dir/<config.name>/<version>/`, with `config.json` and `evaluation.json` beside it."""
        config = self.config
        files = {"config.json": as_dict(config), "evaluation.json": report}
        return export_seq2seq(self.model, self.tokenizer, config.max_source_length, config.max_target_length + 1,
                              export_dir or config.export_dir, config.name, version, files)


def _check(config):
    if config.tokenizer not in TOKENIZER_KINDS:
        raise ValueError(f"tokenizer must be one of {TOKENIZER_KINDS}. Received: tokenizer={config.tokenizer!r}")
    for key in ("max_source_length", "max_target_length", "epochs", "batch_size"):
        if getattr(config, key) < 1:
            raise ValueError(f"{key} must be a positive int. Received: {key}={getattr(config, key)!r}")
    if not 0.0 <= config.warmup_fraction < 1.0:
        raise ValueError(f"warmup_fraction must be in [0, 1). Received: warmup_fraction={config.warmup_fraction!r}")
    if not config.learning_rate > 0:
        raise ValueError(f"learning_rate must be positive. Received: learning_rate={config.learning_rate!r}")
    if config.noise is None and config.noise_rate != SequenceToSequenceConfig.noise_rate:
        raise ValueError(f"noise_rate is the share of words noise corrupts; without noise it does nothing: set "
                         f"noise='typos' or leave it unset. Received: noise_rate={config.noise_rate!r}")
    if config.noise is not None:
        if config.noise not in NOISE_KINDS:
            raise ValueError(f"noise must be one of {NOISE_KINDS} or None. Received: noise={config.noise!r}")
        given = [key for key in ("source_column", "target_column", "format") if getattr(config, key) is not None]
        if given:
            raise ValueError(f"noise={config.noise!r} makes the pairs from plain texts, so {', '.join(given)} (the "
                             "columns of a pairs file) must be left unset")
        if not 0.0 <= config.noise_rate <= 1.0:
            raise ValueError(f"noise_rate must be in [0, 1]. Received: noise_rate={config.noise_rate!r}")


def _read_pairs(config, path, seed):
    """The pairs of a pairs file, or with `noise`, made from a file of texts (typos drawn with `seed`)."""
    if config.noise is None:
        return read_instruction_pairs(path, prompt_column=config.source_column, response_column=config.target_column,
                                      format=config.format)
    return noisy_pairs(path, config.noise, config.noise_rate, seed)


def _pairs(config):
    train = _read_pairs(config, config.train, config.seed)
    if config.max_train_examples:
        train = train.first(config.max_train_examples)
    if config.validation:  # other typos than the training texts'
        return train, _read_pairs(config, config.validation, config.seed + 1)
    train, validation = train.split(config.validation_fraction)
    if not len(validation):
        raise ValueError("there are no validation pairs: pass validation= a file, or a validation_fraction that "
                         f"holds out at least one of the {len(train)} pairs")
    return train, validation


def _token_ids(tokenizer, pairs, config):
    sources, targets = pair_token_ids(tokenizer, pairs.prompts), pair_token_ids(tokenizer, pairs.responses)
    check_lengths(sources, config.max_source_length, "source", pairs.source, pairs.lines)
    check_lengths(targets, config.max_target_length, "target", pairs.source, pairs.lines)
    return sources, targets


def sequence_to_sequence(config=None, **settings):
    """Reads the pairs, learns the tokenizer, builds the compiled Transformer; returns a `SequenceToSequenceRun`.

    Args:
        config: a `SequenceToSequenceConfig` or None (then `**settings` build one; `train` is required).
        **settings: `SequenceToSequenceConfig` fields (unknown names are an error).
    """
    config = config_from(SequenceToSequenceConfig, config, settings)
    _check(config)
    strategy = start_run(config)
    train, validation = _pairs(config)
    # Characters: those of both sides of every pair, validation included, so no character is unknown
    # when scoring; SentencePiece: learned from the training pairs alone (unknown text falls back to bytes).
    corpus = train.prompts + train.responses
    if config.tokenizer == "character":
        corpus += validation.prompts + validation.responses
    tokenizer = build_tokenizer(config.tokenizer, "\n".join(corpus), config.vocabulary_size, config.seed)
    target_width = config.max_target_length if config.fixed_decoder_width else None
    train_data, steps_per_epoch = sequence_pair_dataset(*_token_ids(tokenizer, train, config), config.batch_size,
                                                        seed=config.seed, max_target_length=target_width)
    validation_data, _ = sequence_pair_dataset(*_token_ids(tokenizer, validation, config), config.batch_size,
                                               training=False, max_target_length=target_width)
    if not steps_per_epoch:
        raise ValueError(f"{len(train)} training pairs do not fill one batch of batch_size={config.batch_size} (pairs "
                         "are batched with others of similar length); pass a smaller batch_size or more pairs")
    steps = config.epochs * steps_per_epoch
    with strategy.scope():
        model = Seq2SeqTransformer(
            vocabulary_size=int(tokenizer.vocabulary_size()) + NUM_SPECIAL_IDS,
            max_sequence_length=config.max_target_length + 1,  # the start token, then the target
            num_layers=config.num_layers,
            num_heads=config.num_heads,
            hidden_dim=config.hidden_dim,
            intermediate_dim=config.intermediate_dim,
            dropout=config.dropout,
            name=config.name,
        )
        schedule = warmup_cosine_decay(config.learning_rate, steps, int(config.warmup_fraction * steps))
        model.compile(
            optimizer=adamw(schedule, weight_decay=config.weight_decay),
            loss=sparse_crossentropy(config.label_smoothing),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")],
            **compile_execution(config),
        )
        build_optimizer_variables(model)
    return SequenceToSequenceRun(model, tokenizer, config, strategy, train, validation, train_data, validation_data,
                                 steps_per_epoch)
