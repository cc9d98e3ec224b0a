"""What `kerastune run` does with each recipe kind: build, train, report, export, and draw.

Every run logs: TensorBoard logs and the run's pictures (training curves; a confusion matrix or entity
F1 bars) go to `logging_dir/name/` (`logs/name/` unless `logging_dir` is set), and the pictures are
copied beside the export.
"""

import copy
import json
import os

from kerastune.distribute import training_loop
from kerastune.recipe_files import recipe_parts

REPORTED = ("accuracy", "macro_f1", "precision", "recall", "f1", "mrr", "mean_average_precision", "exact_match",
            "has_answer_f1", "no_answer_f1", "best_f1")
REPORTED_AT_K = ("precision_at_", "hit_rate_at_")  # a sentence encoder's search at each depth
REPORTED_TEXT_TO_TEXT = ("exact_match", "character_error_rate", "word_error_rate", "bleu", "num_examples")
DEFAULT_LOGGING_DIR = "logs"


def _draw(history, report, config, export_path=None):
    from kerastune.plots import draw_run_pictures

    paths = draw_run_pictures(history, report, os.path.join(config.logging_dir, config.name), copy_to=export_path)
    if paths:
        print(f"pictures: {', '.join(paths)}" + (" (copied beside the export)" if export_path else ""))


def _export(run, report=None):
    """`run.export(report=...)` (the causal LM's takes no report), its path printed; returns the path."""
    path = run.export() if report is None else run.export(report=report)
    print(f"exported SavedModel for TF Serving to {path}")
    return path


def _causal_lm(recipe, config):
    from kerastune.recipes.causal_lm import UNMERGED_METHODS

    run = recipe(config)
    c = run.config
    print(f"kerastune: training {c.name} ({run.model.count_params():,} parameters, "
          f"{c.epochs} x {c.steps_per_epoch} steps) on {c.data!r}", flush=True)
    history = run.train()
    if run.val_ds is not None:  # validation_fraction=0 leaves none
        val_loss = training_loop(run.model, run.strategy).evaluate(run.val_ds, verbose=0, return_dict=True)["loss"]
        print(f"validation loss {val_loss:.4f}, perplexity {run.model.perplexity(run.val_ds):.2f}")
    if run.chat_template is None:
        sample = run.model.generate(run.sample_prompt, max_new_tokens=c.sample_tokens, **run.sampler_arguments())
        print(f"sample ({c.sampler}):\n{sample}")
    else:  # answered as the export answers: wrapped in the chat template, cut at its end marker
        response = run.respond(run.sample_prompt, sampler=c.export_sampler)
        print(f"prompt: {run.sample_prompt!r}\nresponse ({c.export_sampler}): {response!r}")
    path = _export(run)
    if c.peft in UNMERGED_METHODS:
        saved = os.path.join(run.run_dir(), "adapter.safetensors")
        print(f"saved the {c.peft} weights ({run.save_adapter(saved):,} bytes) to {saved}")
    else:  # a plain GPT (LoRA merged in): what `--init_from` fine-tunes
        saved = run.save(os.path.join(run.run_dir(), "gpt.keras"))
        print(f"saved the GPT to {saved} (--init_from={saved} fine-tunes it on new text)")
    _draw(history, None, c, path)
    return path


def _fine_tuning(recipe, config):
    run = recipe(config)
    print(f"kerastune: fine-tuning {config.backbone!r} on {config.train!r} for {config.epochs} epochs "
          f"({run.train_data.steps_per_epoch} steps each{f'; names {run.names}' if run.names else ''})", flush=True)
    return finish_fine_tuning(run, run.fit())


def finish_fine_tuning(run, history):
    """Reports, exports and draws a fitted fine-tuning `run` (and saves its adapter when `config.peft` is
    set), as `kerastune run` does after `fit`; returns the export path. `kerastune tune` calls it on the
    best trial's run."""
    config = run.config = _logged(run.config)
    report = run.evaluate() if run.validation_data is not None else None
    if report is not None:
        print(json.dumps({key: value for key, value in report.items()
                          if key in REPORTED or key.startswith(REPORTED_AT_K)}))
    path = _export(run, report)
    _draw(history, report, config, path)
    if config.peft:  # what fine-tuning trained, alone: kerastune.peft.load_adapter puts it back on the base
        size = run.save_adapter(os.path.join(path, "adapter.safetensors"))
        print(f"saved the {config.peft} weights ({size:,} bytes, {run.trainable_summary()['trainable_percent']:.2f}% "
              f"of the model) to {os.path.join(path, 'adapter.safetensors')}")
    return path


def _masked_lm(recipe, config):
    run = recipe(config)
    c = run.config
    print(f"kerastune: pretraining {c.name} ({run.model.count_params():,} parameters, masked LM"
          f"{' + next sentence' if c.next_sentence else ''}) on {c.data!r}", flush=True)
    history = run.fit().history
    report = {key: float(values[-1]) for key, values in history.items()}
    print(json.dumps(report))
    path = run.export(report=report)
    print(f"saved the backbone directory to {path}; fine-tune it with --backbone={path}")
    _draw(history, None, c)  # the backbone directory holds only what loading it reads
    return path


def _image_classifier(recipe, config):
    run = recipe(config)
    kind = "Vision Transformer" if config.model == "vit" else "MLP"
    print(f"kerastune: training the {kind} ({run.model.count_params():,} parameters) on {config.dataset!r} "
          f"({len(run.train[1])} training, {len(run.test[1])} test images) for {config.epochs} epochs", flush=True)
    history = run.fit()
    report = run.evaluate()
    print(json.dumps({"test_" + key: report[key] for key in REPORTED if key in report}))
    path = _export(run, report)
    _draw(history, report, config, path)
    return path


def _sequence_to_sequence(recipe, config):
    run = recipe(config)
    pairs = f"{config.noise} made from texts of {config.train!r}" if config.noise else repr(config.train)
    print(f"kerastune: training the encoder-decoder Transformer ({run.model.count_params():,} parameters) on "
          f"{len(run.train_pairs)} pairs ({pairs}) for {config.epochs} epochs of {run.steps_per_epoch} steps",
          flush=True)
    history = run.fit()
    report = run.evaluate()
    print(json.dumps({key: report[key] for key in REPORTED_TEXT_TO_TEXT if key in report}))
    source, written = run.validation_pairs.prompts[0], run.generate(run.validation_pairs.prompts[:1])[0]
    print(f"source: {source!r}\nwritten: {written!r}\ntarget: {run.validation_pairs.responses[0]!r}")
    path = _export(run, report)
    _draw(history, None, config, path)
    return path


def _preset_causal_lm(recipe, config):
    run = recipe(config)
    return _preset_task(run, config, "instruction-tuning", run.respond, ("prompt", "response", "reference"))


def _preset_seq2seq(recipe, config):
    run = recipe(config)
    return _preset_task(run, config, "fine-tuning", run.generate, ("source", "written", "target"))


def _preset_task(run, config, doing, answer, words):
    """Trains a pretrained-preset run, prints its report and one validation answer (`answer(text)`, labelled
    `words`: the input, the answer, the reference), exports it and saves its LoRA factors beside the export."""
    summary = run.trainable_summary()
    print(f"kerastune: {doing} {config.preset!r} ({summary['total']:,} parameters, "
          f"{summary['trainable']:,} trained{f' by {config.peft}' if config.peft else ''}) on "
          f"{len(run.train_data.examples)} pairs of {config.data!r} for {config.epochs} epochs of "
          f"{run.train_data.steps_per_epoch} steps", flush=True)
    history = run.fit()
    report = run.evaluate() if run.validation_data is not None else None
    if report is not None:
        print(json.dumps({key: report[key] for key in ("loss", "token_accuracy", *REPORTED_TEXT_TO_TEXT)
                          if key in report}))
        given = run.validation_pairs.prompts[0]
        print(f"{words[0]}: {given!r}\n{words[1]}: {answer(given)!r}\n"
              f"{words[2]}: {run.validation_pairs.responses[0]!r}")
    path = _export(run, report)
    if config.peft and not config.peft_train_norms:  # the factors alone (save_adapter says how to put them back)
        adapter = run.save_adapter(os.path.join(path, "adapter.lora.h5"))
        print(f"saved the LoRA weights ({summary['trainable_percent']:.2f}% of the model) to {adapter}")
    _draw(history, None, config, path)
    return path


JOBS = {"causal_lm": _causal_lm, "text_classifier": _fine_tuning, "token_classifier": _fine_tuning,
        "masked_lm": _masked_lm, "image_classifier": _image_classifier, "sentence_encoder": _fine_tuning,
        "question_answering": _fine_tuning, "sequence_to_sequence": _sequence_to_sequence,
        "preset_causal_lm": _preset_causal_lm, "preset_seq2seq": _preset_seq2seq}


def run_recipe(kind, config):
    """Builds, trains, reports, exports and draws the recipe `kind` with its resolved `config`; returns the
    export path. TensorBoard logs and pictures go to `logging_dir/name/`, `logs/name/` when it is unset."""
    _, recipe = recipe_parts(kind)
    return JOBS[kind](recipe, _logged(config))


def _logged(config):
    """`config`, or a copy of it with `logging_dir` set to `DEFAULT_LOGGING_DIR` when it is unset."""
    if config.logging_dir:
        return config
    config = copy.copy(config)
    config.logging_dir = DEFAULT_LOGGING_DIR
    return config
