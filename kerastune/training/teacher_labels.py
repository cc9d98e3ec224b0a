"""A transfer set the teacher labels once: offline knowledge distillation.

`KnowledgeDistillation` runs the teacher on every training batch, so `E` epochs run it `E` times, and
the teacher costs far more than a small student (the SST-2 MiniLM teacher: ~150 ms a batch of 32 on
2 cores, the convolutional student's own step a fraction of that). `label_with_teacher` runs it over
one pass of the batches and keeps its logits beside them; a student fit on the result reads the
teacher's logits from its labels (Tang et al., 2019, label their augmented transfer set once), and
several students (other seeds, other sizes) can learn from one labelling.
"""

import time

import keras
import numpy as np
import tensorflow as tf

LABELS = "labels"
TEACHER_LOGITS = "teacher_logits"


def label_with_teacher(teacher, dataset, steps, seed=0, log_every_seconds=60.0):
    """The teacher's logits on `steps` batches of `dataset`, computed once and kept with the batches.

    Args:
        teacher: a Keras model (its logits shaped like the student's); it runs with `training=False`.
        dataset: a `tf.data.Dataset` of `(x, y)` or `(x, y, sample_weight)` batches (e.g. a recipe's
            `train_data.dataset`, which repeats endlessly).
        steps: int >= 1, how many batches make one pass (e.g. its `train_data.steps_per_epoch`).
        seed: int, seeds the order of the batches in each pass.
        log_every_seconds: float, print progress this often (None: silent).

    Returns:
        An endless `tf.data.Dataset` of the same `steps` batches, each as
        `(x, {"labels": y, "teacher_logits": z}[, sample_weight])`, in a new order every pass (the batches
        themselves, and the examples in each, stay as they were drawn). Fit a student on it with
        `steps_per_epoch=steps` after `enable_distillation(student, teacher)`: the distillation step takes the
        teacher's logits from the labels instead of running the teacher.

    Example:

    >>> labelled = label_with_teacher(teacher, run.train_data.dataset, run.train_data.steps_per_epoch)  # doctest: +SKIP
    >>> enable_distillation(student, teacher)  # doctest: +SKIP
    >>> student.fit(labelled, steps_per_epoch=run.train_data.steps_per_epoch, epochs=3)  # doctest: +SKIP
    """
    return labelled_dataset(teacher_labelled_batches(teacher, dataset, steps, log_every_seconds), seed)


def teacher_labelled_batches(teacher, dataset, steps, log_every_seconds=60.0):
    """`label_with_teacher`'s batches as a list of numpy structures (to keep, e.g. pickled, and reuse with
    `labelled_dataset`); the arguments are `label_with_teacher`'s."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1 (the batches of one pass). Received: steps={steps!r}")
    forward = tf.function(lambda x: teacher(x, training=False), reduce_retracing=True)
    batches, start, last_log = [], time.time(), time.time()
    for data in dataset.take(steps):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        logits = keras.ops.convert_to_numpy(forward(x)).astype("float32")
        batch = (x, {LABELS: y, TEACHER_LOGITS: logits}) + (() if sample_weight is None else (sample_weight,))
        batches.append(tf.nest.map_structure(np.asarray, batch))
        if log_every_seconds is not None and time.time() - last_log >= log_every_seconds:
            last_log = time.time()
            print(f"teacher labelling: batch {len(batches)}/{steps}, {len(batches) / (last_log - start):.1f} "
                  f"batches/s", flush=True)
    if len(batches) < steps:
        raise ValueError(f"The dataset ended after {len(batches)} batches; steps asks for {steps}. Pass the "
                         f"batches of one pass (train_data.steps_per_epoch) or a dataset that repeats.")
    return batches


def labelled_dataset(batches, seed=0):
    """An endless `tf.data.Dataset` of `batches` (`teacher_labelled_batches`'), in a new order every pass."""
    if not batches:
        raise ValueError("batches is empty: label at least one batch with teacher_labelled_batches.")
    signature = tf.nest.map_structure(lambda a: tf.TensorSpec([None] * a.ndim, tf.as_dtype(a.dtype)), batches[0])
    rng = np.random.default_rng(seed)

    def one_pass():
        for index in rng.permutation(len(batches)):
            yield batches[index]

    return tf.data.Dataset.from_generator(one_pass, output_signature=signature).repeat().prefetch(2)


def split_teacher_logits(y):
    """`(labels, teacher logits)` from a batch's labels: `label_with_teacher`'s dict, or plain labels and None."""
    if isinstance(y, dict) and TEACHER_LOGITS in y:
        return y[LABELS], y[TEACHER_LOGITS]
    return y, None
