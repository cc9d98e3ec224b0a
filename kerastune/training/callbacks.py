"""Keras callbacks kerastune adds to `fit`."""

import keras
import numpy as np


class PrintSamples(keras.callbacks.Callback):
    """Prints generated text every `every_n_epochs` epochs (for models with `generate`).

    Args:
        prompt: str or list of token ids, the text to continue.
        max_new_tokens: int.
        every_n_epochs: int.
        print_fn: callable that receives the text (default `print`).
        **generate_kwargs: passed to `model.generate` (`sampler`, `temperature`, `seed`, `k`, ...).

    Example:

    >>> model.fit(train_ds, callbacks=[PrintSamples("\\n", max_new_tokens=200)])  # doctest: +SKIP
    """

    def __init__(self, prompt, max_new_tokens=200, every_n_epochs=1, print_fn=print, **generate_kwargs):
        super().__init__()
        self.generate_kwargs = generate_kwargs
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.every_n_epochs = every_n_epochs
        self.print_fn = print_fn

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        text = self.model.generate(self.prompt, max_new_tokens=self.max_new_tokens, **self.generate_kwargs)
        self.print_fn(f"--- sample after epoch {epoch + 1} ---\n{text}\n---")


class StopOnInvalidLoss(keras.callbacks.TerminateOnNaN):
    """Keras's `TerminateOnNaN`, saying what usually makes a loss NaN or infinite and how to fix it.

    Args:
        print_fn: callable that receives the message (default `print`).

    Example:

    >>> model.fit(x, y, callbacks=[StopOnInvalidLoss()])  # doctest: +SKIP
    """

    CAUSES = (
        "the learning rate is too high for this model (lower learning_rate, lengthen warmup_steps/warmup_ratio);",
        "gradients explode (set global_clipnorm, e.g. 1.0);",
        "float16 without loss scaling (use mixed_precision='mixed_bfloat16', or compile so Keras scales the loss);",
        "the data holds NaN/inf values or labels outside the model's classes (check the input files).",
    )

    def __init__(self, print_fn=print):
        super().__init__()
        self.print_fn = print_fn
        self.stopped_at = None

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or np.isfinite(float(loss)):
            return
        self.stopped_at = batch
        self.model.stop_training = True
        causes = "\n  - ".join(self.CAUSES)
        self.print_fn(f"kerastune: training stopped at batch {batch}: the loss is {float(loss)}. "
                      f"Likely causes:\n  - {causes}")
