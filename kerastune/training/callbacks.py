"""Keras callbacks kerastune adds to `fit`."""

import time

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


class ProgressLines(keras.callbacks.Callback):
    """Prints a line of training progress at most every `every_seconds` within an epoch.

    Keras prints one line per epoch when its bar is off (`verbose=2`, a log file, a notebook run
    from a script): an epoch of a large data set then shows nothing for many minutes. This adds a line
    such as `epoch 1/3: step 200/623 (32%), loss 0.4321, 3.1 steps/s, 1m05s` in between.

    Args:
        every_seconds: float, the least time between two lines.
        print_fn: callable that receives each line (default `print`, flushed).

    Example:

    >>> model.fit(ds, epochs=3, verbose=2, callbacks=[ProgressLines(every_seconds=30)])  # doctest: +SKIP
    """

    def __init__(self, every_seconds=60.0, print_fn=None):
        super().__init__()
        self.every_seconds = every_seconds
        self.print_fn = print_fn or (lambda line: print(line, flush=True))

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.epoch_start = self.last_line = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if now - self.last_line < self.every_seconds:
            return
        self.last_line = now
        steps, epochs = self.params.get("steps"), self.params.get("epochs")
        done = batch + 1
        elapsed = now - self.epoch_start
        of = f"/{steps} ({100 * done / steps:.0f}%)" if steps else ""
        loss = (logs or {}).get("loss")
        loss = "" if loss is None else f", loss {float(loss):.4f}"
        minutes, seconds = divmod(int(elapsed), 60)
        self.print_fn(f"epoch {self.epoch + 1}/{epochs}: step {done}{of}{loss}, {done / elapsed:.1f} steps/s, "
                      f"{minutes}m{seconds:02d}s")
