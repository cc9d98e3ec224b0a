"""Magnitude pruning for Keras 3 models: a callback that zeroes the smallest weights on a sparsity schedule.

TF-MOT's `prune_low_magnitude` wraps Keras 2 layers only. This is the same method (Zhu & Gupta,
"To prune, or not to prune", 2017, section 3) as a plain Keras callback over any model: every
`frequency` steps between `begin_step` and `end_step`, each prunable kernel keeps only its
largest-magnitude weights, the pruned fraction rising along the polynomial schedule

    s(t) = s_f * (1 - (1 - (t - t_0) / (t_end - t_0)) ** power)     (s_f = target_sparsity)

and after every step the masks are applied again, so the optimizer cannot grow a pruned weight
back (with `steps_per_execution=k` Keras runs callbacks once every k steps: the schedule follows
the optimizer's own step count, and the masks are applied every k steps). At the end of training (after Keras swaps in averaged weights, when EMA is on) the masks are
applied once more: the zeros are real zeros in the weights, and so in every export.
"""

import keras
import numpy as np
from keras import ops



def polynomial_sparsity(step, target_sparsity, begin_step, end_step, power=3):
    """The fraction of weights pruned at `step` (Zhu & Gupta 2017, eq. 1): 0 before `begin_step`, the target after `end_step`."""
    if step < begin_step:
        return 0.0
    progress = min(1.0, (step - begin_step) / max(end_step - begin_step, 1))
    return float(target_sparsity * (1.0 - (1.0 - progress) ** power))


def prunable_kernels(model, exclude=("logits",)):
    """The trainable weight matrices pruning touches: every trainable `kernel` of rank >= 2 outside `exclude`d layers.

    Embedding tables, biases and layer norms are left dense (they are small or lookups), and so is
    the output layer (`logits`): pruning the head costs accuracy for no speed.
    """
    return [
        v for v in model.trainable_variables
        if v.name == "kernel" and len(v.shape) >= 2 and not any(part in exclude for part in v.path.split("/"))
    ]


class MagnitudePruning(keras.callbacks.Callback):
    """Prunes a model's kernels to `target_sparsity` during `fit`, by magnitude, on a polynomial schedule.

    Args:
        target_sparsity: float in [0, 1), the fraction of each kernel's weights that ends at zero.
        end_step: int, the step by which the target is reached (e.g. 2/3 of the run's steps).
        begin_step: int, the first pruning step.
        frequency: int, steps between two increases of the sparsity.
        power: float, the schedule's exponent (3: prune fast early, slowly near the target).
        exclude: tuple of layer names whose kernels stay dense.

    Example:

    >>> pruning = MagnitudePruning(0.5, end_step=200)  # doctest: +SKIP
    >>> run.fit(callbacks=[pruning])  # doctest: +SKIP
    >>> pruning.sparsity()  # doctest: +SKIP
    0.5
    """

    def __init__(self, target_sparsity, end_step, begin_step=0, frequency=10, power=3, exclude=("logits",)):
        super().__init__()
        if not 0.0 <= target_sparsity < 1.0:
            raise ValueError("target_sparsity is the fraction of weights set to zero; pass a float in [0, 1) "
                             f"such as 0.5. Received: target_sparsity={target_sparsity!r}")
        if not isinstance(end_step, int) or end_step < begin_step:
            raise ValueError(f"end_step is the step by which target_sparsity is reached: an int >= begin_step "
                             f"({begin_step}). Received: end_step={end_step!r}")
        if not isinstance(frequency, int) or frequency < 1:
            raise ValueError(f"frequency must be a positive int (steps between pruning). Received: frequency={frequency!r}")
        self.target_sparsity = target_sparsity
        self.end_step = end_step
        self.begin_step = begin_step
        self.frequency = frequency
        self.power = power
        self.exclude = tuple(exclude)
        self.pruned_at = None  # the optimizer step of the last pruning
        self.pruned_sparsity = 0.0  # the schedule's value then
        self.masks = None  # one float mask per kernel, 1 where the weight is kept

    def on_train_begin(self, logs=None):
        self.kernels = prunable_kernels(self.model, self.exclude)
        if not self.kernels:
            raise ValueError(f"The model has no trainable kernel to prune outside {self.exclude}. "
                             f"Received: model={self.model.name!r}")
        if self.masks is None:
            self.masks = [ops.ones(v.shape, v.dtype) for v in self.kernels]

    def on_train_batch_end(self, batch, logs=None):
        # The optimizer's step count: with steps_per_execution=k Keras calls this once every k steps.
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if step >= self.begin_step and self.pruned_sparsity < self.target_sparsity and (
            self.pruned_at is None or step - self.pruned_at >= self.frequency or step >= self.end_step
        ):
            self.pruned_sparsity = polynomial_sparsity(step, self.target_sparsity, self.begin_step, self.end_step,
                                                       self.power)
            self.prune(self.pruned_sparsity)
            self.pruned_at = step
        self.apply_masks()

    def on_train_end(self, logs=None):
        self.apply_masks()  # after Keras swapped in the averaged (EMA) weights: those must be sparse too

    def prune(self, sparsity):
        """Sets each kernel's mask to keep its `1 - sparsity` largest-magnitude weights (zeros stay pruned)."""
        for i, variable in enumerate(self.kernels):
            magnitude = np.abs(ops.convert_to_numpy(variable) * ops.convert_to_numpy(self.masks[i])).ravel()
            count = int(round(sparsity * magnitude.size))
            keep = np.ones(magnitude.size, bool)
            if count:
                keep[np.argpartition(magnitude, count - 1)[:count]] = False  # the `count` smallest
            self.masks[i] = ops.convert_to_tensor(keep.reshape(variable.shape), variable.dtype)

    def apply_masks(self):
        for variable, mask in zip(self.kernels, self.masks or []):
            variable.assign(variable * mask)

    def sparsity(self):
        """The fraction of zeros over all pruned kernels now."""
        zeros = sum(int(np.sum(ops.convert_to_numpy(v) == 0)) for v in self.kernels)
        return zeros / sum(int(np.prod(v.shape)) for v in self.kernels)
