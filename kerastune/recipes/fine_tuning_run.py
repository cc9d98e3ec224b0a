"""What the fine-tuning recipes share: `fit` over length-bucketed training batches."""


class FineTuningRun:
    """Base of `TextClassifierRun` and `TokenClassifierRun`: holds `model`, `train_data`,
    `validation_data` (objects with `.dataset` and, for training, `.steps_per_epoch`) and `config`."""

    def fit(self, callbacks=None, epochs=None, validate=True, **kwargs):
        """`model.fit` on the training batches (validating each epoch when `validate`); returns History.

        The learning-rate schedule was sized for `config.epochs`; a different `epochs` here trains
        on (the rate stays at its end value) or stops early. Any Keras callbacks work.
        """
        kwargs.setdefault("shuffle", False)  # the training batches shuffle themselves (seeded); Keras would warn
        validation = self.validation_data.dataset if validate and self.validation_data is not None else None
        return self.model.fit(
            self.train_data.dataset,
            validation_data=validation,
            epochs=epochs or self.config.epochs,
            steps_per_epoch=self.train_data.steps_per_epoch,
            callbacks=callbacks,
            **kwargs,
        )
