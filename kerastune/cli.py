"""kerastune's command line.

    kerastune run RECIPE_FILE [--key=value ...]   train, report and export a recipe file
    kerastune tune RECIPE_FILE --search key=a,b [--search ...] [--tuner random] [--max_trials 4] [--key=value ...]
                                                   search settings with KerasTuner, then run the best
    kerastune predict EXPORT_DIR "text" ...        answer texts with any kerastune export
    kerastune list [DIR]                           the recipe files in DIR (default recipes/)
    kerastune prepare SOURCE DIRECTORY [--validation SOURCE] [--tokenizer sentencepiece] [--vocabulary_size 8192]
                                                   tokenize a corpus once into DIRECTORY (train.bin, val.bin),
                                                   streamed; `--data=DIRECTORY` trains a causal_lm on it

Every recipe kind (`kerastune list` shows a file of each) takes the same run settings: export_dir,
logging_dir, seed, strategy, mixed_precision. Bad input (a missing file, an
unknown key, a wrong type, a directory that is not a SavedModel) prints what was wrong and how to
fix it, and exits with status 2.
"""

import argparse
import sys

from kerastune.recipe_files import RECIPE_KINDS, list_recipe_files, load_recipe_file


def parse_overrides(args):
    """`["--epochs=3", "--data=x.txt"]` -> `{"epochs": "3", "data": "x.txt"}` (types checked later)."""
    overrides = {}
    for arg in args:
        if not arg.startswith("--") or "=" not in arg:
            raise ValueError(f"Settings are given as --key=value. Received: {arg!r}")
        key, value = arg[2:].split("=", 1)
        overrides[key.replace("-", "_")] = value
    return overrides


def _run(args, extra):
    kind, config = load_recipe_file(args.recipe_file, parse_overrides(extra))
    from kerastune.recipe_jobs import run_recipe  # TensorFlow starts here, once the file checked out

    run_recipe(kind, config)


def _tune(args, extra):
    kind, config = load_recipe_file(args.recipe_file, parse_overrides(extra))
    from kerastune.recipes.hyperparameter_search import hyperparameter_search, parse_search_space

    space = parse_search_space(kind, args.search)
    print(f"kerastune: searching {', '.join(space)} for {config.name} ({args.tuner}, "
          f"{args.max_trials} trials at most)", flush=True)
    result = hyperparameter_search(kind, config, space, tuner=args.tuner, max_trials=args.max_trials)
    print(result.table())
    print(f"trials written to {result.csv_path}; best {result.objective} {result.best_score:.4f}: "
          f"{ {key: getattr(result.best_config, key) for key in space} }; exporting its trained model", flush=True)
    from kerastune.recipe_jobs import finish_fine_tuning

    finish_fine_tuning(result.best_run, result.best_history)


def _predict(args, extra):
    from kerastune.saved_model_predict import predict_lines

    for line in predict_lines(args.export_dir, list(args.texts) + list(extra)):
        print(line)


def _prepare(args, extra):
    from kerastune.data.token_directory import prepare_token_directory

    tokens = prepare_token_directory(
        args.directory, args.source, validation=args.validation, tokenizer=args.tokenizer,
        vocabulary_size=args.vocabulary_size, validation_fraction=args.validation_fraction, data_dir=args.data_dir,
    )
    m = tokens.metadata
    print(f"kerastune: wrote {args.directory}: {m['train_tokens']:,} training and {m['validation_tokens']:,} "
          f"validation tokens ({m['dtype']}, {m['tokenizer']} of {m['vocabulary_size']:,} tokens)")


def _list(args, extra):
    for line in list_recipe_files(args.directory):
        print(line)


def build_parser():
    parser = argparse.ArgumentParser(prog="kerastune", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train, report and export a recipe file "
                              "(e.g. kerastune run recipes/pydoc_gpt.toml --epochs=2)")
    run.add_argument("recipe_file")
    run.set_defaults(action=_run, extra_allowed=True)
    tune = commands.add_parser("tune", help="search recipe settings with KerasTuner, then train and export the best "
                               "(e.g. kerastune tune recipes/sst2_minilm.toml --search learning_rate=5e-5,1e-4)")
    tune.add_argument("recipe_file")
    tune.add_argument("--search", action="append", required=True, metavar="KEY=CHOICE1,CHOICE2",
                      help="a setting and its choices; repeat for several settings")
    tune.add_argument("--tuner", default="random", choices=["random", "bayesian", "hyperband"])
    tune.add_argument("--max_trials", "--max-trials", type=int, default=4)
    tune.set_defaults(action=_tune, extra_allowed=True)
    predict = commands.add_parser("predict", help="answer texts with a kerastune export (SavedModel)")
    predict.add_argument("export_dir", help="saved_models/NAME (latest version) or saved_models/NAME/VERSION")
    predict.add_argument("texts", nargs="*", help="texts to answer (pair classifiers: 'first<TAB>second')")
    predict.set_defaults(action=_predict, extra_allowed=True)
    prepare = commands.add_parser("prepare", help="tokenize a corpus into a token directory, streamed "
                                  "(e.g. kerastune prepare input.txt tokens/shakespeare --tokenizer character)")
    prepare.add_argument("source", help="a text file, tfds:NAME or a .tsv/.csv/.jsonl labelled-text file")
    prepare.add_argument("directory", help="the token directory to create (must not exist)")
    prepare.add_argument("--validation", default=None, help="a validation corpus (default: split off the source)")
    prepare.add_argument("--validation_fraction", "--validation-fraction", type=float, default=None,
                         help="without --validation, the share of the tokens kept for validation (default 0.1)")
    prepare.add_argument("--tokenizer", default="sentencepiece", choices=["character", "sentencepiece"])
    prepare.add_argument("--vocabulary_size", "--vocabulary-size", type=int, default=8192)
    prepare.add_argument("--data_dir", "--data-dir", default=None, help="TFDS data_dir for tfds: sources")
    prepare.set_defaults(action=_prepare, extra_allowed=False)
    listing = commands.add_parser("list", help=f"list the recipe files, one line each ({', '.join(RECIPE_KINDS)})")
    listing.add_argument("directory", nargs="?", default="recipes")
    listing.set_defaults(action=_list, extra_allowed=False)
    return parser


def main(argv=None):
    """Runs a command; returns the exit status (0, or 2 for bad input, with the reason on stderr)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not args.extra_allowed:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        args.action(args, extra)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
            ConnectionError) as error:
        print(f"kerastune {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0  # the console script passes this to sys.exit


if __name__ == "__main__":
    sys.exit(main())
