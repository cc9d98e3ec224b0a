"""Instruction tuning a GPT on SST-2 as prompt/response pairs, scored by its generated answers.

    python benchmarks/instruction_tuning.py [--data-dir ../shared/data/sst2] [--steps 1200] [--pretrain-steps 1200]
        [--tokenizer character|sentencepiece] [--vocabulary-size 2000] [--sequence-length 256]
        [--arms scratch_response_loss scratch_full_loss pretrained_lora]

Each SST-2 training phrase becomes a pair (`kerastune.data.pairs_from_labelled_text`): the prompt is
the phrase, the response its label word, `negative` or `positive`; the chat template is
`"review: {prompt}\\nsentiment: "` with the end marker `"\\n"` (lower case: SST-2's text is, and a
character vocabulary learned from it has no capitals). The tokenizer is learned from the training
text: characters (nanoGPT's), or `--tokenizer sentencepiece` (lossless, `--vocabulary-size` pieces).
The pairs go to a JSONL file and `causal_lm(data_format="instructions")` trains on it, as a user would.
The score is the exact match of the generated response (`run.respond`, greedy, cut at the end
marker) with the label word on all 872 SST-2 dev sentences; `well_formed` is the share of responses
that are one of the two words at all. Arms, each `--steps` updates of the same GPT size:

- `scratch_response_loss`: a new GPT, the loss on the responses only (the default of the recipe);
- `scratch_full_loss`: the same with `loss_on_prompt=True` (the loss on every token);
- `pretrained_lora`: a GPT first pretrained `--pretrain-steps` on the training phrases as plain
  text (no labels), then LoRA (rank 8) over it, frozen, on the pairs, responses only;
- `pretrained_full` (not run unless named): the same pretrained GPT, every weight tuned, responses only.

Dev characters outside a character vocabulary (learned from the training phrases: `%`, `a` with a
grave, `o` with an umlaut in 3 sentences) are replaced by spaces, and counted; SentencePiece's byte
pieces take them as they are.

Prints progress, then as its last line one JSON object: `dev_accuracy_<arm>`, `well_formed_<arm>`,
`train_seconds_<arm>`, `ms_per_step_<arm>`, `trainable_parameters_<arm>`, `majority_baseline`
(the dev accuracy of always answering the commoner training label), `dev_examples`,
`replaced_dev_characters`, `pretrain_seconds`, `cpu`, `cpu_cores`.
"""

import argparse
import json
import math
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from peers.side_by_side import cpu_cores, cpu_model  # noqa: E402

ARMS = ("scratch_response_loss", "scratch_full_loss", "pretrained_lora", "pretrained_full")
DEFAULT_ARMS = ARMS[:3]
LABEL_WORDS = ["negative", "positive"]
PROMPT_FORMAT = "review: {prompt}\nsentiment: "
END_MARKER = "\n"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.path.join("..", "shared", "data", "sst2"))
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(DEFAULT_ARMS))
    parser.add_argument("--steps", type=int, default=1200, help="updates of each instruction-tuning arm")
    parser.add_argument("--pretrain-steps", type=int, default=1200, help="plain-text updates before pretrained_lora")
    parser.add_argument("--tokenizer", choices=("character", "sentencepiece"), default="character")
    parser.add_argument("--vocabulary-size", type=int, default=2000, help="sentencepiece only")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--sequence-length", type=int, default=256)
    parser.add_argument("--num-layers", type=int, default=4)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--lora-learning-rate", type=float, default=3e-3)
    parser.add_argument("--max-train-examples", type=int, default=None)
    parser.add_argument("--max-dev-examples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args(argv)
    if min(args.steps, args.pretrain_steps, args.batch_size, args.sequence_length) < 1:
        parser.error("--steps, --pretrain-steps, --batch-size and --sequence-length must be positive")
    return args


def model_settings(args, work, name):
    return dict(name=name, seed=args.seed, tokenizer=args.tokenizer, vocabulary_size=args.vocabulary_size,
                sequence_length=args.sequence_length, batch_size=args.batch_size,
                num_layers=args.num_layers, num_heads=args.num_heads, hidden_dim=args.hidden_dim,
                intermediate_dim=4 * args.hidden_dim, warmup_steps=min(100, args.steps // 10),
                validation_fraction=0.02, validation_batches=20, sample_tokens=0, max_new_tokens=12,
                run_dir=os.path.join(work, "runs"), export_dir=os.path.join(work, "saved_models"))


def fit(run, steps, label):
    """`steps` updates in up to 6 epochs (one progress line each); returns (seconds, ms per step)."""
    epochs = max(1, min(6, steps // 50))
    per_epoch = max(1, steps // epochs)
    import keras

    report = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: print(
        f"{label}: epoch {epoch + 1}/{epochs}, loss {logs['loss']:.3f}, validation loss {logs['val_loss']:.3f}, "
        f"{time.perf_counter() - start:.0f} s", flush=True))
    start = time.perf_counter()
    history = run.model.fit(run.train_ds, epochs=epochs, steps_per_epoch=per_epoch, validation_data=run.val_ds,
                            verbose=0, shuffle=False, callbacks=[report])
    seconds = time.perf_counter() - start
    losses = ", ".join(f"{loss:.3f}" for loss in history.history["loss"])
    print(f"{label}: {epochs * per_epoch} steps in {seconds:.0f} s, training loss by epoch {losses}, "
          f"validation loss {history.history['val_loss'][-1]:.3f}", flush=True)
    return seconds, 1000 * seconds / (epochs * per_epoch)


def in_vocabulary(texts, tokenizer):
    """The texts with characters outside a character vocabulary replaced by spaces, and how many were
    (SentencePiece's byte pieces take any character)."""
    if not hasattr(tokenizer, "encode_text"):
        return texts, 0
    known = set(tokenizer.get_vocabulary())
    replaced = sum(character not in known for text in texts for character in text)
    return ["".join(c if c in known else " " for c in text) for text in texts], replaced


def score(run, sentences, labels, chunk=128):
    """(accuracy, well-formed share, characters replaced) of the greedy responses to `sentences`."""
    prompts, replaced = in_vocabulary(sentences, run.tokenizer)
    responses = []
    for begin in range(0, len(prompts), chunk):
        responses += run.respond(prompts[begin: begin + chunk], sampler="greedy")
    words = [LABEL_WORDS[label] for label in labels]
    accuracy = sum(r == w for r, w in zip(responses, words)) / len(words)
    well_formed = sum(r in LABEL_WORDS for r in responses) / len(words)
    return accuracy, well_formed, replaced


def trainable_parameters(model):
    return sum(math.prod(weight.shape) for weight in model.trainable_weights)


def main(argv=None):
    args = parse_args(argv)
    from kerastune.data import pairs_from_labelled_text, read_labelled_text
    from kerastune.recipes import causal_lm

    train = read_labelled_text(os.path.join(args.data_dir, "train.tsv")).head(args.max_train_examples)
    dev = read_labelled_text(os.path.join(args.data_dir, "dev.tsv"), label_names=train.label_names,
                             label_values=train.label_values).head(args.max_dev_examples)
    pairs = pairs_from_labelled_text(train, LABEL_WORDS)
    majority = max(set(train.labels), key=train.labels.count)
    result = {"dev_examples": len(dev), "majority_baseline": round(dev.labels.count(majority) / len(dev), 4)}
    print(f"{len(pairs)} training pairs, {len(dev)} dev sentences; majority baseline "
          f"{result['majority_baseline']:.4f}; CPU {cpu_model()}, {cpu_cores()} cores", flush=True)

    with tempfile.TemporaryDirectory() as work:
        pairs_path = os.path.join(work, "sst2_pairs.jsonl")
        with open(pairs_path, "w", encoding="utf-8") as f:
            for prompt, response in zip(pairs.prompts, pairs.responses):
                f.write(json.dumps({"prompt": prompt, "response": response}) + "\n")
        instructions = dict(data=pairs_path, data_format="instructions", prompt_format=PROMPT_FORMAT,
                            end_marker=END_MARKER)
        for arm in args.arms:
            settings = model_settings(args, work, arm)
            if arm.startswith("pretrained"):
                base = result.get("pretrained_path") or pretrained_gpt(args, work, train.texts, result)
                tuning = dict(peft="lora", lora_rank=8, learning_rate=args.lora_learning_rate) if arm.endswith("lora") \
                    else dict(learning_rate=args.learning_rate)  # pretrained_full: every weight
                run = causal_lm(**settings, **instructions, init_from=base, total_steps=args.steps, **tuning)
            else:
                run = causal_lm(**settings, **instructions, loss_on_prompt=arm == "scratch_full_loss",
                                learning_rate=args.learning_rate, total_steps=args.steps)
            seconds, ms_per_step = fit(run, args.steps, arm)
            accuracy, well_formed, replaced = score(run, dev.texts, dev.labels)
            print(f"{arm}: dev accuracy {accuracy:.4f}, well-formed responses {well_formed:.4f} "
                  f"({replaced} dev characters outside the vocabulary replaced)", flush=True)
            result.update({f"dev_accuracy_{arm}": round(accuracy, 4), f"well_formed_{arm}": round(well_formed, 4),
                           f"train_seconds_{arm}": round(seconds, 1), f"ms_per_step_{arm}": round(ms_per_step, 1),
                           f"trainable_parameters_{arm}": trainable_parameters(run.model),
                           "replaced_dev_characters": replaced})
    result.update({"steps": args.steps, "tokenizer": args.tokenizer, "sequence_length": args.sequence_length,
                   "batch_size": args.batch_size,
                   "cpu": cpu_model(), "cpu_cores": cpu_cores()})
    result.pop("pretrained_path", None)  # a temporary file, gone with `work`
    print(json.dumps(result))
    return result


def pretrained_gpt(args, work, texts, result):
    """A GPT trained `--pretrain-steps` on the training phrases as plain text (one per line), saved as `.keras`."""
    from kerastune.recipes import causal_lm

    corpus = os.path.join(work, "sst2_phrases.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(texts) + "\n")
    run = causal_lm(**model_settings(args, work, "pretrained"), data=corpus, learning_rate=args.learning_rate,
                    total_steps=args.pretrain_steps)
    result["pretrain_seconds"] = round(fit(run, args.pretrain_steps, "pretraining on the phrases")[0], 1)
    result["pretrained_path"] = run.save(os.path.join(work, "pretrained.keras"))  # one pretraining for both arms
    return result["pretrained_path"]


if __name__ == "__main__":
    main()
