"""Recipe: continual fine-tuning, task A then task B on one backbone, and how much of A is forgotten.

Thin by design: `read_labelled_text` -> `ClassificationDataset` (with a `task_ids` feature) ->
`MultiTaskClassifier` (shared backbone, one head per task) -> `build_optimizer`, one compile per
task. `method` chooses what keeps task A:

- `"naive"`: train each task in turn (earlier heads frozen, the shared backbone drifts);
- `"rehearsal"`: a replay buffer of `replay_size` examples of each earlier task
  (`replay_buffer`) is mixed into the later task's batches, one replay batch after every
  `replay_every` new-task batches (`rehearsal_batches`);
- `"ewc"`: elastic weight consolidation (`kerastune.training.ElasticWeightConsolidation`): the
  loss of a later task adds `ewc_strength * sum_i F_i (theta_i - theta_A,i)^2` over the backbone;
- `"lora"`: LoRA-per-task: the base is frozen, each task trains its own LoRA adapter and head;
  `select_task(t)` (or `predict(..., task=t)`) puts task `t`'s adapter in place at serving time,
  so an earlier task's outputs are exactly those it had.

Forgetting of task A = its accuracy after task A minus its accuracy after task B.

Example:

>>> tasks = [ContinualTask("sst2", "../shared/data/sst2/train.tsv", "../shared/data/sst2/dev.tsv"),  # doctest: +SKIP
...          ContinualTask("agnews", "../shared/data/agnews/train_subset.tsv", "../shared/data/agnews/test.tsv")]
>>> run = continual(backbone="../shared/models/all-MiniLM-L6-v2", tasks=tasks, method="rehearsal")  # doctest: +SKIP
>>> accuracies = run.fit_all()  # doctest: +SKIP
"""

import dataclasses
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from kerastune.data.classification_dataset import ClassificationDataset
from kerastune.data.labelled_text import LabelledText, read_labelled_text
from kerastune.models.backbones import freeze_token_embedding, load_backbone, max_sequence_length
from kerastune.models.multi_task_classifier import MultiTaskClassifier
from kerastune.peft import apply_peft, peft_weights
from kerastune.recipes.config import compile_execution, config_from
from kerastune.recipes.training_config import TrainingConfig
from kerastune.recipes.training_setup import build_optimizer
from kerastune.training.elastic_weight_consolidation import ElasticWeightConsolidation

METHODS = ("naive", "rehearsal", "ewc", "lora")


@dataclasses.dataclass
class ContinualTask:
    """One task of the stream: a name, a training file and an evaluation file (labelled text),
    optionally cut to their first `max_train` / `max_eval` examples (`LabelledText.head`)."""

    name: str
    train: object
    evaluation: object
    max_train: Optional[int] = None
    max_eval: Optional[int] = None

    def read(self):
        """`(train, evaluation)` `LabelledText`s (a path is read; a `LabelledText` is used as is)."""
        train = self.train if isinstance(self.train, LabelledText) else read_labelled_text(self.train)
        train = train.head(self.max_train)
        evaluation = self.evaluation if isinstance(self.evaluation, LabelledText) else read_labelled_text(
            self.evaluation, label_names=train.label_names, label_values=train.label_values)
        return train, evaluation.head(self.max_eval)


@dataclasses.dataclass(kw_only=True)
class ContinualConfig(TrainingConfig):
    """Every setting of `continual`: `TrainingConfig`'s (per task) plus the method's own."""

    name: str = "continual"
    backbone: str = ""
    method: str = "naive"
    max_sequence_length: int = 64
    pad_to_multiple_of: int = 8
    replay_size: int = 200
    replay_every: int = 4
    ewc_strength: float = 1e4
    fisher_examples: int = 200
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_targets: str = "query,value"  # the projections `lora_learning_rate` was measured on
    lora_learning_rate: float = 3e-3  # LoRA rank 8's best of 1e-3 / 3e-3 / 5e-3 on SST-2 (benchmarks/peft.py)
    epochs: int = 1

    def __post_init__(self):
        super().__post_init__()
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}. Received: method={self.method!r}")
        if self.replay_size < 1 or self.replay_every < 1:
            raise ValueError(f"replay_size and replay_every must be >= 1. Received: replay_size={self.replay_size}, "
                             f"replay_every={self.replay_every}")


def replay_buffer(data, size, seed=0):
    """A seeded, class-stratified sample of `size` examples of `data` (a `LabelledText`), as a `LabelledText`."""
    size = min(int(size), len(data))
    rng = np.random.default_rng(seed)
    labels = np.asarray(data.labels)
    classes = np.unique(labels)
    per_class = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    chosen, i = [], 0
    while len(chosen) < size:  # round robin over the classes
        pool = per_class[classes[i % len(classes)]]
        taken = i // len(classes)
        if taken < len(pool):
            chosen.append(int(pool[taken]))
        i += 1
    chosen.sort()
    return dataclasses.replace(data, texts=[data.texts[j] for j in chosen], labels=[data.labels[j] for j in chosen],
                               text_pairs=None, lines=None)


def with_task(dataset, task):
    """`(features, y)` batches -> the same with a `task_ids` (batch,) feature holding `task`."""
    def add(features, y):
        return {**features, "task_ids": tf.fill(tf.shape(y)[:1], tf.constant(task, tf.int32))}, y

    return dataset.map(add)


def rehearsal_batches(new_batches, replay_batches, replay_every):
    """One batch of `replay_batches` after every `replay_every` batches of `new_batches` (both endless)."""
    pattern = [0] * int(replay_every) + [1]
    choice = tf.data.Dataset.from_tensor_slices(tf.constant(pattern, tf.int64)).repeat()
    return tf.data.Dataset.choose_from_datasets([new_batches, replay_batches], choice)


class ContinualRun:
    """What `continual(...)` returns: `fit_task(t)`, `evaluate(t)`, `fit_all()`, `select_task(t)`.

    Attributes:
        model: the `MultiTaskClassifier`.
        tasks: list of `ContinualTask`; `train_text` / `eval_text`: their `LabelledText`s.
        accuracies: list, after each trained task, of `{task name: accuracy}` on every task so far.
    """

    def __init__(self, model, tokenizer, tasks, train_text, eval_text, config, sequence_length):
        self.model, self.tokenizer, self.tasks, self.config = model, tokenizer, tasks, config
        self.train_text, self.eval_text = train_text, eval_text
        self.sequence_length = sequence_length
        self.accuracies = []
        self.adapters = {}  # LoRA-per-task: task -> {variable path: value}
        self._consolidation = None
        self._lora_initial = ({v.path: keras.ops.convert_to_numpy(v) for v in peft_weights(model)}
                              if config.method == "lora" else None)

    def _batches(self, data, task, training):
        built = ClassificationDataset.from_labelled_text(
            data, self.tokenizer, batch_size=self.config.batch_size, sequence_length=self.sequence_length,
            training=training, seed=self.config.seed + task, pad_to_multiple_of=self.config.pad_to_multiple_of)
        return with_task(built.dataset, task), built.steps_per_epoch

    def _adapter_weights(self, task):
        return peft_weights(self.model) + self.model.heads[task].weights

    def select_task(self, task):
        """LoRA-per-task: puts task `task`'s adapter (and head) in place. Other methods: nothing to do."""
        if self.config.method != "lora":
            return
        if task not in self.adapters:
            raise ValueError(f"task {task} has no trained adapter yet; train it with fit_task({task}) first")
        for v in self._adapter_weights(task):
            v.assign(self.adapters[task][v.path])

    def fit_task(self, task, verbose=2):
        """Trains task `task` with the run's method; returns the Keras History."""
        c = self.config
        for t, head in enumerate(self.model.heads):  # only this task's head (rehearsal: and earlier ones)
            head.trainable = t == task or (c.method == "rehearsal" and t < task)
        if c.method == "lora":
            for v in peft_weights(self.model):  # a fresh adapter for every task
                v.assign(self._lora_initial[v.path])
        data, steps = self._batches(self.train_text[task], task, training=True)
        if c.method == "rehearsal" and task > 0:
            replays = [self._batches(replay_buffer(self.train_text[t], c.replay_size, c.seed), t, True)[0]
                       for t in range(task)]
            replay = replays[0] if len(replays) == 1 else tf.data.Dataset.sample_from_datasets(replays, seed=c.seed)
            data = rehearsal_batches(data, replay, c.replay_every)
            steps += steps // c.replay_every
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if c.method == "ewc" and self._consolidation is not None:
            loss = self._consolidation.wrap(loss)
        rate = c.lora_learning_rate if c.method == "lora" else c.learning_rate
        optimizer = build_optimizer(dataclasses.replace(c, learning_rate=rate), steps * c.epochs)
        self.model.compile(optimizer=optimizer, loss=loss, metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                           **compile_execution(c))
        history = self.model.fit(data, epochs=c.epochs, steps_per_epoch=steps, verbose=verbose)
        if c.method == "lora":
            self.adapters[task] = {v.path: keras.ops.convert_to_numpy(v) for v in self._adapter_weights(task)}
        if c.method == "ewc":
            fisher_data, _ = self._batches(self.train_text[task], task, training=False)
            shared = [v for v in self.model.backbone.trainable_variables]
            self._consolidation = ElasticWeightConsolidation.from_model(
                self.model, fisher_data, c.ewc_strength, variables=shared, max_examples=c.fisher_examples)
        return history

    def predict(self, data, task):
        """Probabilities (n, num_classes[task]) of `data` (a `LabelledText`) under task `task`'s head."""
        self.select_task(task)
        batches, _ = self._batches(data, task, training=False)
        logits = self.model.predict(batches, verbose=0)[:, : self.model.num_classes[task]]
        return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))

    def evaluate(self, task):
        """Accuracy on task `task`'s evaluation set."""
        data = self.eval_text[task]
        return float((self.predict(data, task).argmax(-1) == np.asarray(data.labels)).mean())

    def fit_all(self, verbose=2):
        """Trains every task in order, recording the accuracy on each task so far after each; returns them."""
        for task in range(len(self.tasks)):
            self.fit_task(task, verbose=verbose)
            self.accuracies.append({self.tasks[t].name: self.evaluate(t) for t in range(task + 1)})
        return self.accuracies


def continual(backbone=None, tasks=(), config=None, **overrides):
    """Builds the shared backbone, one head per task and the method; returns a `ContinualRun`.

    Args:
        backbone: a KerasHub preset name, Hugging Face / KerasHub directory or kerastune backbone
            directory (`load_backbone`).
        tasks: list of `ContinualTask`, in training order.
        config: a `ContinualConfig`, or None; `**overrides`: its fields (unknown names are an error).
    """
    if backbone is not None:
        overrides["backbone"] = str(backbone)
    c = config_from(ContinualConfig, config, overrides)
    if len(tasks) < 2:
        raise ValueError(f"continual fine-tuning needs at least 2 tasks. Received: {len(tasks)} task(s)")
    keras.utils.set_random_seed(c.seed)
    read = [task.read() for task in tasks]
    backbone_model, tokenizer = load_backbone(c.backbone, dropout=c.dropout)
    freeze_token_embedding(backbone_model)
    sequence_length = min(c.max_sequence_length, max_sequence_length(backbone_model))
    model = MultiTaskClassifier(backbone_model, [len(train.label_names) for train, _ in read], dropout=c.dropout)
    if c.method == "lora":
        apply_peft(model, "lora", rank=c.lora_rank, alpha=c.lora_alpha, targets=c.lora_targets)
    return ContinualRun(model, tokenizer, list(tasks), [r[0] for r in read], [r[1] for r in read], c, sequence_length)
