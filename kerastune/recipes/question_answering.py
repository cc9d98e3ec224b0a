"""Recipe: fine-tune a BERT-style encoder for extractive question answering (SQuAD), to a string-in SavedModel.

Thin by design: `read_question_answers` / `read_tfds_question_answers` -> `QuestionAnsweringDataset` ->
`load_fine_tuning_backbone` -> `SpanExtractor` -> `compile_for_training`, under a strategy. What it shares
with every fine-tuning recipe (backbone, PEFT, optimizer, schedule, averaging, backups) is
`FineTuningConfig`'s; the windows of long contexts, the answer's text and the SQuAD report are its own.
`run.answer` and the export answer through the same graph function (`answers_on_strings`).

Example:

>>> run = question_answering(  # doctest: +SKIP
...     backbone="../shared/models/all-MiniLM-L6-v2", train="train-v2.0.json", validation="dev-v2.0.json")
>>> run.fit()  # doctest: +SKIP
>>> report = run.evaluate()  # doctest: +SKIP  (SQuAD exact match and F1)
>>> run.answer(["Who wrote it?"], ["Ada Lovelace wrote it in 1843."])["answer"]  # doctest: +SKIP
['Ada Lovelace']
>>> path = run.export(report=report)  # doctest: +SKIP
"""

import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf

from kerastune.arguments import check_positive_ints
from kerastune.data.conll import read_conll
from kerastune.data.entity_questions import entity_questions
from kerastune.data.question_answering_dataset import QuestionAnsweringDataset
from kerastune.data.question_answers import FORMATS, read_question_answers, read_tfds_question_answers
from kerastune.data.question_context import QUESTION_CONTEXT_SPECS, check_window_settings
from kerastune.evaluation.squad_metrics import squad_report
from kerastune.export.question_answerer_export import answers_on_strings, export_question_answerer
from kerastune.models.span_extractor import SpanExtractor
from kerastune.recipes.fine_tuning_run import FineTuningRun
from kerastune.recipes.run_setup import start_run
from kerastune.recipes.training_config import FineTuningConfig, fine_tuning_config, refuse_classifier_options
from kerastune.recipes.training_setup import (batch_splits, compile_for_training, fine_tuning_dropout,
                                              load_fine_tuning_backbone)

@dataclasses.dataclass(kw_only=True)
class QuestionAnsweringConfig(FineTuningConfig):
    """Every argument of `question_answering`: `FineTuningConfig`'s, the data columns and the windows.

    Data: `train` / `validation` are SQuAD JSON files (v1.1 or v2.0), JSONL in the Hugging Face `datasets`
    layout, or TSV/CSV with question, context, answer and answer_start columns (`read_question_answers`);
    or split names with `tfds_name="squad/v1.1"` (a prepared TFDS copy in `data_dir`); or, with
    `format="conll"`, CoNLL NER files read as reading comprehension (`entity_questions`: "Which person is
    named in the text?" and the like for each sentence and entity type, unanswerable when it names none).
    Windows: a context longer than a window (`max_sequence_length`, the backbone's maximum by default) is
    read in windows whose starts are `stride` tokens apart (BERT's `doc_stride`; Hugging Face's `stride` is the
    overlap of two windows instead); a question keeps its first `max_question_length` tokens.
    `max_answer_length`: the longest answer, in tokens. `allow_no_answer`: the model may answer that the
    context holds none (SQuAD 2.0), when `no_answer_score > no_answer_threshold`; None: when the training
    data has unanswerable questions. `max_train_examples`: keep the first N training questions.
    """

    name: str = "question_answerer"
    format: Optional[str] = None
    question_column: str = "question"
    context_column: str = "context"
    answer_column: str = "answers"
    answer_start_column: str = "answer_start"
    stride: int = 128
    max_question_length: int = 64
    max_answer_length: int = 30
    allow_no_answer: Optional[bool] = None
    no_answer_threshold: float = 0.0
    max_train_examples: Optional[int] = None

    def __post_init__(self):
        super().__post_init__()
        refuse_classifier_options(self, "question_answering", "a start/end span head's loss")
        if self.format not in (None, "conll") + FORMATS:
            raise ValueError(f"format must be one of {(None, 'conll') + FORMATS} (None: from the file's extension). "
                             f"Received: format={self.format!r}")
        check_window_settings(self.max_sequence_length or 10 ** 9, self.stride, self.max_question_length)
        check_positive_ints(max_answer_length=self.max_answer_length)


class QuestionAnsweringRun(FineTuningRun):
    """What `question_answering(...)` returns (see `FineTuningRun` for `fit` and `export`).

    Attributes:
        model: the compiled `SpanExtractor`.
        train_examples, validation_examples: `QuestionAnswers` (validation may be None).
        train_data, validation_data: `QuestionAnsweringDataset` (validation may be None).
        allow_no_answer: bool, whether the model may answer "" (SQuAD 2.0).
    """

    exporter = staticmethod(export_question_answerer)
    names = None

    def __init__(self, *args, train_examples, validation_examples, allow_no_answer):
        super().__init__(*args)
        self.train_examples = train_examples
        self.validation_examples = validation_examples
        self.allow_no_answer = allow_no_answer
        self._answer = None

    def exported(self):
        return self.model, self.tokenizer

    def export_options(self):
        c = self.config
        try:
            threshold = float(c.no_answer_threshold)  # may have been set after the config was checked
        except (TypeError, ValueError):
            raise ValueError("no_answer_threshold must be a number (e.g. evaluate()'s best_f1_threshold). Received: "
                             f"no_answer_threshold={c.no_answer_threshold!r}") from None
        return {"stride": c.stride, "max_question_length": c.max_question_length,
                "max_answer_length": c.max_answer_length, "allow_no_answer": self.allow_no_answer,
                "no_answer_threshold": threshold}

    def answer(self, questions, contexts, batch_size=64):
        """Answers each question from its context, as the export's `serving_default` does.

        Args:
            questions, contexts: lists of str, the same length.
            batch_size: int, questions per call of the answering graph.

        Returns:
            dict of numpy arrays (n,): `answer` and `best_span` (str), `answer_start`, `answer_end` (character
            offsets, -1 for none), `score`, `no_answer_score`, `windows`, `question_truncated`.

        The answering graph follows the config: changing `no_answer_threshold` (or the window settings) after
        training builds it again on the next call.
        """
        if len(questions) != len(contexts):
            raise ValueError(f"answer needs one context per question. Received: {len(questions)} questions and "
                             f"{len(contexts)} contexts")
        options = self.export_options()
        if self._answer is None or self._answer[0] != options:  # built again when the config's settings change
            answer = answers_on_strings(self.model, self.tokenizer, self.sequence_length, **options)
            self._answer = options, tf.function(answer, input_signature=QUESTION_CONTEXT_SPECS)
        starts = range(0, len(questions), batch_size) if len(questions) else [0]  # no question: empty arrays
        parts = [self._answer[1](tf.constant(list(questions[start:start + batch_size]), tf.string),
                                 tf.constant(list(contexts[start:start + batch_size]), tf.string))
                 for start in starts]
        out = {key: np.concatenate([part[key].numpy() for part in parts]) for key in parts[0]}
        for key in ("answer", "best_span"):
            out[key] = np.array([text.decode("utf-8") for text in out[key]], dtype=object)
        return out

    def evaluate(self, examples=None):
        """`squad_report` (exact match and F1, in percent, against every gold answer) on the validation questions
        (or `examples`, `QuestionAnswers`). With unanswerable questions it also reports the answerable and
        unanswerable parts and the no-answer threshold that would have scored best (`best_f1_threshold`): set
        `run.config.no_answer_threshold` to it, and `answer` and `export` use it (chosen on these questions,
        their scores with it are optimistic: judge it on others)."""
        (examples, _) = self.evaluation_set((examples, None), (self.validation_examples, None))
        return answers_report(self.answer(examples.questions, examples.contexts), examples)


def answers_report(found, examples):
    """`squad_report` of `found` (what `QuestionAnsweringRun.answer` returned for `examples`, `QuestionAnswers`),
    with SQuAD 2.0's best no-answer threshold when some questions are unanswerable (tuned on these very
    questions: scores with it, on them, are optimistic)."""
    report = squad_report(list(found["answer"]), examples.answers)
    if not all(examples.has_answer):
        # the official SQuAD 2.0 threshold search ranks every question's best span by its no-answer score
        best = squad_report(list(found["best_span"]), examples.answers, list(found["no_answer_score"]))
        report.update({key: value for key, value in best.items() if key.startswith("best_")})
    return report


def _read(config, source):
    if config.tfds_name:
        return read_tfds_question_answers(config.tfds_name, source, config.data_dir)
    if config.format == "conll":  # named entities as reading comprehension: four questions per sentence
        return entity_questions(read_conll(source))
    return read_question_answers(source, format=config.format, question_column=config.question_column,
                                 context_column=config.context_column, answer_column=config.answer_column,
                                 answer_start_column=config.answer_start_column)


def question_answering(backbone, train=None, validation=None, **kwargs):
    """Builds data, model and optimizer for extractive question answering; returns a `QuestionAnsweringRun`.

    Every bad input (a missing column, an empty question or context, an answer that is not at its
    `answer_start`, ...) raises here, with the file and where in it, before any training.

    Args:
        backbone: a KerasHub preset name, a local Hugging Face / KerasHub directory (e.g. all-MiniLM-L6-v2),
            a kerastune backbone directory, or `"kerastune_bert"`.
            Or a whole `QuestionAnsweringConfig` (then `**kwargs` only override its fields).
        train: a file of questions, contexts and answers, or a TFDS split name with `tfds_name=`.
        validation: the same, or None.
        **kwargs: the remaining `QuestionAnsweringConfig` fields (unknown names are an error).
    """
    config = fine_tuning_config(QuestionAnsweringConfig, backbone, train, validation, kwargs)
    strategy = start_run(config)
    train_examples = _read(config, config.train)
    if config.max_train_examples is not None:
        train_examples = train_examples.take(config.max_train_examples)
    validation_examples = _read(config, config.validation) if config.validation else None
    allow_no_answer = config.allow_no_answer
    if allow_no_answer is None:
        allow_no_answer = not all(train_examples.has_answer)
    with strategy.scope():
        backbone_model, tokenizer, sequence_length = load_fine_tuning_backbone(config)
        check_window_settings(sequence_length, config.stride, config.max_question_length)
        train_data, validation_data = batch_splits(
            QuestionAnsweringDataset.from_examples, train_examples, validation_examples, config, tokenizer,
            sequence_length, stride=config.stride, max_question_length=config.max_question_length,
        )
        model = SpanExtractor(backbone_model, dropout=fine_tuning_dropout(config.dropout, config.peft))
        compile_for_training(model, config, train_data.steps_per_epoch)
    return QuestionAnsweringRun(
        model, tokenizer, train_data, validation_data, config, strategy, sequence_length,
        train_examples=train_examples, validation_examples=validation_examples, allow_no_answer=allow_no_answer,
    )
