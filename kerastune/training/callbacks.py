"""Keras callbacks kerastune adds to `fit`."""

import keras


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
