"""A transfer set the teacher labels once: offline knowledge distillation.

`KnowledgeDistillation` runs the teacher on every training batch, so `E` epochs run it `E` times, and
the teacher costs far more than a small student (on 2 cores of an AMD EPYC, the SST-2 MiniLM teacher labels
about 11 batches of 32 a second, the convolutional student takes about 60 steps a second). `label_with_teacher`
runs it over one pass of the batches and keeps its logits beside them; a student fit on the result reads the
teacher's logits from its labels (Tang et al., 2019, label their augmented transfer set once), and
several students (other seeds, other sizes) can learn from one labelling; `save_teacher_labels` keeps
the labelled batches in a `.npz` (plain arrays, nothing pickled) for later runs.
"""

import json
import os
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
    """`label_with_teacher`'s batches as a list of numpy structures (to keep with `save_teacher_labels` and reuse
    with `labelled_dataset`); the arguments are `label_with_teacher`'s."""
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
    """An endless `tf.data.Dataset` of `batches` (`teacher_labelled_batches`'), in a new order every pass.

    The orders come from one stream seeded by `seed` that every iteration of the dataset continues (as a seeded
    `tf.data` shuffle reshuffles on each iteration): a second `fit` on it goes on with new orders, not the first's.
    Call it again for a dataset that starts the stream over."""
    if not batches:
        raise ValueError("batches is empty: label at least one batch with teacher_labelled_batches.")
    signature = tf.nest.map_structure(lambda a: tf.TensorSpec([None] * a.ndim, tf.as_dtype(a.dtype)), batches[0])
    rng = np.random.default_rng(seed)

    def one_pass():
        for index in rng.permutation(len(batches)):
            yield batches[index]

    return tf.data.Dataset.from_generator(one_pass, output_signature=signature).repeat().prefetch(2)


def save_teacher_labels(path, batches, settings=None):
    """Writes `batches` (`teacher_labelled_batches`') and `settings` (anything JSON takes, e.g. what made them) to
    the `.npz` file `path`, whole or not at all; `load_teacher_labels` reads them back.

    Example:

    >>> save_teacher_labels("transfer_set.npz", batches, {"teacher": "saved_models/sst2/1"})  # doctest: +SKIP
    >>> batches, settings = load_teacher_labels("transfer_set.npz")  # doctest: +SKIP
    """
    if not batches:
        raise ValueError("batches is empty: there is nothing to keep.")
    if not path.endswith(".npz"):
        raise ValueError(f"The teacher's labels are kept in a .npz file. Received: path={path!r}")
    arrays = {"structure": np.array(json.dumps(tf.nest.map_structure(lambda _: 0, batches[0]))),
              "settings": np.array(json.dumps(settings))}
    leaves = [[np.asarray(leaf) for leaf in tf.nest.flatten(batch)] for batch in batches]
    for j in range(len(leaves[0])):  # one flat array per component, and each batch's shape of it
        arrays[f"shapes_{j}"] = np.array([batch[j].shape for batch in leaves], "int64")
        arrays[f"values_{j}"] = np.concatenate([batch[j].ravel() for batch in leaves])
    partial = path[:-len(".npz")] + ".partial.npz"
    np.savez(partial, **arrays)
    os.replace(partial, path)


def load_teacher_labels(path):
    """`(batches, settings)` as `save_teacher_labels` wrote them to `path`."""
    with np.load(path, allow_pickle=False) as kept:
        structure = json.loads(str(kept["structure"]))
        settings = json.loads(str(kept["settings"]))
        components = []
        for j in range(sum(name.startswith("shapes_") for name in kept.files)):
            shapes, values = kept[f"shapes_{j}"], kept[f"values_{j}"]
            ends = np.cumsum([int(np.prod(shape)) for shape in shapes])
            components.append([part.reshape(shape) for part, shape in zip(np.split(values, ends[:-1]), shapes)])
    batches = [tuple(tf.nest.pack_sequence_as(structure, list(leaves))) for leaves in zip(*components)]
    return batches, settings


def split_teacher_logits(y):
    """`(labels, teacher logits)` from a batch's labels: `label_with_teacher`'s dict, or plain labels and None."""
    if isinstance(y, dict) and TEACHER_LOGITS in y:
        return y[LABELS], y[TEACHER_LOGITS]
    return y, None
