"""Hyperparameter search over any recipe setting with KerasTuner, then the best setting re-trained.

Each trial builds the recipe with the trial's values (`config_from`, so every value is type-checked
as a flag would be), fits it and scores it on the validation set with the recipe's own `evaluate`
(accuracy for the text classifier, entity F1 for the token classifier, the search's mean average
precision for the sentence encoder). KerasTuner's oracles choose
the values: `"random"` (RandomSearch), `"bayesian"` (BayesianOptimization) or `"hyperband"` (which
also chooses each trial's `epochs`, up to the config's). The table of trials is printed and written as
CSV. The best trial's fitted run is kept (`SearchResult.best_run`): `kerastune tune` reports and exports
that model as `kerastune run` does, without training it again.

Example:

>>> from kerastune.recipes import TextClassifierConfig  # doctest: +SKIP
>>> base = TextClassifierConfig(backbone="../shared/models/all-MiniLM-L6-v2",  # doctest: +SKIP
...     train="../shared/data/sst2/train.tsv", validation="../shared/data/sst2/dev.tsv",
...     max_train_examples=2000, epochs=1)
>>> result = hyperparameter_search("text_classifier", base,  # doctest: +SKIP
...     {"learning_rate": [5e-5, 1e-4, 3e-4], "warmup_ratio": [0.0, 0.1]}, max_trials=4)
>>> result.best_config.learning_rate, result.best_score  # doctest: +SKIP
"""

import csv
import dataclasses
import os

from kerastune.recipe_files import recipe_parts
from kerastune.recipes.config import coerce, config_from

# kind -> (the report key the search maximises, its name as an objective)
OBJECTIVES = {"text_classifier": ("accuracy", "val_accuracy"), "token_classifier": ("f1", "val_f1"),
              "sentence_encoder": ("mean_average_precision", "val_mean_average_precision"),
              "question_answering": ("f1", "val_f1")}
TUNERS = ("random", "bayesian", "hyperband")


@dataclasses.dataclass
class SearchResult:
    """What `hyperparameter_search` found.

    Args:
        best_config: the recipe config with the best trial's values (its `name` the base config's).
        best_score: float, the best trial's objective.
        objective: str, e.g. `"val_accuracy"`.
        trials: list of dicts, one per trial: `trial_id`, each searched key, the objective, `status`.
        csv_path: str, where the trials were written as CSV.
        best_run: the best trial's fitted run (`TextClassifierRun`, `TokenClassifierRun`, `SentenceEncoderRun`), its
            `config` set to `best_config`: evaluate or export it as it is.
        best_history: the Keras `History` of the best trial's `fit`.
    """

    best_config: object
    best_score: float
    objective: str
    trials: list
    csv_path: str
    best_run: object = None
    best_history: object = None

    def table(self):
        """The trials as aligned text, best first."""
        keys = list(self.trials[0]) if self.trials else []
        rows = sorted(self.trials, key=lambda t: -(t[self.objective] if t[self.objective] is not None else -1e9))
        cells = [keys] + [[_cell(row[k]) for k in keys] for row in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(keys))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def _cell(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def parse_search_space(kind, items):
    """`["learning_rate=1e-4,3e-4", "peft=none,lora"]` -> `{"learning_rate": [1e-4, 3e-4], ...}`, each
    value parsed by the field's type (unknown keys and bad values raise `ValueError`, as flags do)."""
    config_class, _ = recipe_parts(kind)
    space = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        choices = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key or not choices:
            raise ValueError(f"A search is given as key=choice1,choice2 (e.g. learning_rate=1e-4,3e-4). "
                             f"Received: {item!r}")
        space[key] = [coerce(config_class, key, choice, "search key") for choice in choices]
    return check_search_space(kind, space)


def check_search_space(kind, space):
    """Checks a `{key: [choices]}` search space for recipe `kind`; returns it with typed choices."""
    if kind not in OBJECTIVES:
        raise ValueError(f"Hyperparameter search scores a trial on its validation set: it takes the recipe kinds "
                         f"{', '.join(OBJECTIVES)}. Received: kind={kind!r}")
    if not space:
        raise ValueError("There is nothing to search: give at least one key=choice1,choice2. Received: no search keys")
    config_class, _ = recipe_parts(kind)
    checked = {}
    for key, choices in space.items():
        choices = [coerce(config_class, key, choice, "search key") for choice in choices]
        if len(choices) < 2:
            raise ValueError(f"A searched key needs at least two choices. Received: {key}={choices!r}")
        if len({type(c) for c in choices}) > 1 or any(c is None for c in choices):
            raise ValueError("KerasTuner's Choice takes values of one type and no None; search an Optional "
                             f"setting with explicit values. Received: {key}={choices!r}")
        if len(set(choices)) != len(choices):
            raise ValueError(f"A searched key's choices must differ. Received: {key}={choices!r}")
        checked[key] = choices
    return checked


def _oracle(tuner, objective, max_trials, max_epochs, seed):
    import keras_tuner

    goal = keras_tuner.Objective(objective, direction="max")
    if tuner == "random":
        return keras_tuner.oracles.RandomSearchOracle(objective=goal, max_trials=max_trials, seed=seed)
    if tuner == "bayesian":
        return keras_tuner.oracles.BayesianOptimizationOracle(objective=goal, max_trials=max_trials, seed=seed)
    if tuner == "hyperband":
        if max_epochs < 2:
            raise ValueError("Hyperband trains trials for different numbers of epochs, up to the config's epochs: "
                             f"set epochs >= 2. Received: epochs={max_epochs}")
        return keras_tuner.oracles.HyperbandOracle(objective=goal, max_epochs=max_epochs, factor=2,
                                                   hyperband_iterations=1, seed=seed)
    raise ValueError(f"tuner must be one of {', '.join(TUNERS)}. Received: tuner={tuner!r}")


def hyperparameter_search(kind, config, space, tuner="random", max_trials=4, directory=None, verbose=0):
    """Searches `space` for recipe `kind` from base `config`; returns a `SearchResult`.

    Args:
        kind: `"text_classifier"`, `"token_classifier"` or `"sentence_encoder"` (scored by the validation
            search's mean average precision).
        config: the recipe's config: every setting not searched (it needs a `validation` set).
        space: dict of setting -> list of choices (at least two each), e.g. `{"learning_rate": [1e-4, 3e-4]}`.
        tuner: `"random"`, `"bayesian"` or `"hyperband"`.
        max_trials: int, trials for random and Bayesian search (Hyperband sets its own from `epochs`).
        directory: str or None: KerasTuner's state and `trials.csv`; default `logging_dir/name/search/`
            (`logs/name/search/`). A new search starts afresh there.
        verbose: Keras `fit` verbosity of each trial.
    """
    import keras
    import keras_tuner

    space = check_search_space(kind, space)
    if not isinstance(max_trials, int) or isinstance(max_trials, bool) or max_trials < 1:
        raise ValueError(f"max_trials must be an int >= 1. Received: max_trials={max_trials!r}")
    if getattr(config, "validation", None) is None:
        raise ValueError("Each trial is scored on the validation set: set validation= in the config "
                         f"(a file or a split). Received: validation={config.validation!r}")
    metric, objective = OBJECTIVES[kind]
    _, recipe = recipe_parts(kind)
    directory = directory or os.path.join(config.logging_dir or "logs", config.name, "search")

    kept = {}  # the best trial so far (the first of equal scores): its id, run, History and score

    class RecipeTuner(keras_tuner.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            hp = trial.hyperparameters
            settings = {key: hp.Choice(key, choices) for key, choices in space.items()}
            if "tuner/epochs" in hp.values:  # Hyperband's budget for this trial
                settings["epochs"] = hp.values["tuner/epochs"]
            keras.utils.clear_session()
            run = recipe(config_from(type(config), config, {**settings, "name": f"{config.name}_trial_{trial.trial_id}"}))
            history = run.fit(verbose=verbose)
            score = float(run.evaluate()[metric])
            print(f"trial {trial.trial_id}: {settings} -> {objective} {score:.4f}", flush=True)
            if not kept or score > kept["score"]:
                kept.update(trial_id=trial.trial_id, run=run, history=history, score=score)
            return {objective: score}

    search = RecipeTuner(oracle=_oracle(tuner, objective, max_trials, config.epochs, config.seed),
                         directory=directory, project_name="trials", overwrite=True)
    search.search()
    trials = []
    for trial in search.oracle.trials.values():
        score = trial.score
        trials.append({"trial_id": trial.trial_id, **{k: trial.hyperparameters.values.get(k) for k in space},
                       **({"epochs": trial.hyperparameters.values["tuner/epochs"]} if tuner == "hyperband" else {}),
                       objective: None if score is None else float(score), "status": str(trial.status)})
    done = [t for t in trials if t[objective] is not None]
    if not done:
        raise RuntimeError(f"No trial finished; KerasTuner's logs are under {directory}")
    best = next(t for t in done if t["trial_id"] == kept["trial_id"])  # the trial whose run was kept
    best_values = {k: best[k] for k in space}
    if tuner == "hyperband":
        best_values["epochs"] = best["epochs"]
    csv_path = _write_csv(trials, os.path.join(directory, "trials.csv"))
    best_config = config_from(type(config), config, best_values)
    kept["run"].config = best_config  # the trial's settings under the search's name: exports as `name`
    return SearchResult(best_config, best[objective], objective, trials, csv_path, kept["run"], kept["history"])


def _write_csv(trials, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(trials[0]))
        writer.writeheader()
        writer.writerows(trials)
    return path

