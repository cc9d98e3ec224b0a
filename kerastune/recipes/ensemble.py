"""Ensembles of fine-tuned text classifiers: one run that evaluates and exports the mean of their probabilities."""

import copy

from kerastune.models.ensemble_classifier import EnsembleClassifier
from kerastune.recipes.text_classifier import TextClassifierRun


def ensemble(runs, name=None):
    """A `TextClassifierRun` whose model averages the probabilities of `runs`' models.

    `predict`, `evaluate` and `export` work as for one run (the export is one string-in SavedModel
    holding every member, LoRA merged into each). The runs must share labels and tokenizer (the same
    backbone vocabulary); the ensemble reads the first run's data.

    Args:
        runs: list of >= 2 `TextClassifierRun`s (e.g. one recipe fine-tuned with other seeds).
        name: str or None, the export name (default: the first run's name + `_ensemble`).

    Example:

    >>> runs = [text_classifier(backbone, train, dev, seed=s) for s in range(3)]  # doctest: +SKIP
    >>> for run in runs: run.fit()  # doctest: +SKIP
    >>> ensemble(runs).evaluate()["accuracy"]  # doctest: +SKIP
    """
    runs = list(runs)
    first = runs[0]
    for run in runs[1:]:
        if run.label_names != first.label_names:
            raise ValueError(f"Ensemble members must share their labels. Received: {first.label_names} and "
                             f"{run.label_names}")
        if run.config.truncate != first.config.truncate:
            raise ValueError("Ensemble members are served one tokenisation, so they must cut long texts alike. "
                             f"Received: truncate={first.config.truncate!r} ({first.config.name!r}) and "
                             f"truncate={run.config.truncate!r} ({run.config.name!r})")
        if run.tokenizer.get_vocabulary() != first.tokenizer.get_vocabulary():
            raise ValueError("Ensemble members must share one tokenizer vocabulary (the same backbone family); "
                             f"{run.config.name!r} and {first.config.name!r} differ.")
    config = copy.copy(first.config)
    config.name = name or f"{first.config.name}_ensemble"
    with first.strategy.scope():
        model = EnsembleClassifier([run.model for run in runs], name=config.name)
        model.compile()
    return TextClassifierRun(
        model, first.tokenizer, first.train_data, first.validation_data, config, first.strategy,
        min(run.sequence_length for run in runs),
        label_names=first.label_names, validation_labels=first.validation_labels,
    )
