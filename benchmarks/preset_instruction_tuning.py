"""Instruction tuning a KerasHub causal LM through `preset_causal_lm`, scored by its generated answers on SST-2.

    python benchmarks/preset_instruction_tuning.py [--data-dir ../shared/data/sst2] [--pretrain-steps 1500]
        [--train-examples 16000] [--arms pretrained_lora pretrained_lora_all pretrained_lora_all_norms
        pretrained_full random_lora] [--presets-dir DIR]

No pretrained causal LM is on disk (the weights of GPT-2, Gemma or Llama are downloads), so this script
makes one the way they were made, small: a KerasHub `LlamaCausalLM` (`--num-layers` x `--hidden-dim`,
grouped-query attention, rotary positions) with a SentencePiece vocabulary (`--vocabulary-size` pieces,
byte fallback) learned from SST-2's training phrases, pretrained on those phrases as plain text with
KerasHub's own `fit` (`--pretrain-steps` batches of `--pretrain-batch-size` phrases; no labels), and saved
with `save_to_preset` (into `--presets-dir` when given, where a later run of the same settings reuses them). The same
architecture, untrained, is saved too. Each arm then runs the recipe as a user would:
`preset_causal_lm(preset=DIR, data=train.jsonl, validation=dev.jsonl, ...)`, `fit()`, `evaluate()`:

- `pretrained_lora`: LoRA (rank 8, KerasHub's default targets: the query and value projections) over the
  frozen pretrained model;
- `pretrained_lora_all`: the same on every projection of every block (`peft_targets="all-linear"`);
- `pretrained_lora_all_norms`: that, with the layer norms' scales trained too (`peft_train_norms=True`);
- `pretrained_full`: every weight of the pretrained model tuned;
- `random_lora`: LoRA over the untrained model (the control: what LoRA learns with no pretraining).

The pairs are `--train-examples` SST-2 training phrases (a seeded sample) as prompt/response pairs,
`"review: {prompt}\\nsentiment:\\n"` answered `negative` or `positive` and ended by the end token,
one epoch; the score is the exact match of the greedy answer with the label word on all 872 dev sentences.

Prints progress, then as its last line one JSON object: `dev_accuracy_<arm>`, `dev_loss_<arm>`,
`train_seconds_<arm>`, `ms_per_step_<arm>`, `trainable_parameters_<arm>`, `majority_baseline`,
`dev_examples`, `train_examples`, `pretrain_seconds`, `pretrain_loss`, `parameters`, `cpu`, `cpu_cores`.
"""

import argparse
import io
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from peers.side_by_side import cpu_cores, cpu_model  # noqa: E402
from sst2_label_pairs import (load_or_build_presets, pretraining_progress, score_arm, sst2_pairs,  # noqa: E402
                              write_train_and_dev)

PRESET_SETTINGS = ("pretrain_steps", "vocabulary_size", "num_layers", "hidden_dim", "sequence_length",
                   "pretrain_batch_size", "pretrain_learning_rate", "seed")  # what the presets are built from
ARMS = ("pretrained_lora", "pretrained_lora_all", "pretrained_lora_all_norms", "pretrained_full", "random_lora")
PROMPT_FORMAT = "review: {prompt}\nsentiment:\n"  # ends in a newline, as the recipe's default: no lone space token


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.path.join("..", "shared", "data", "sst2"))
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--pretrain-steps", type=int, default=1500)
    parser.add_argument("--train-examples", type=int, default=16000)
    parser.add_argument("--max-dev-examples", type=int, default=None)
    parser.add_argument("--vocabulary-size", type=int, default=2000)
    parser.add_argument("--num-layers", type=int, default=4)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--sequence-length", type=int, default=128)  # the longest pair takes 106 tokens
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--pretrain-learning-rate", type=float, default=1e-3)
    parser.add_argument("--pretrain-batch-size", type=int, default=64, help="phrases per pretraining step")
    parser.add_argument("--lora-learning-rate", type=float, default=2e-3)
    parser.add_argument("--full-learning-rate", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--presets-dir", default=None,
                        help="keep the pretrained and untrained presets here, and reuse them when a run of the same "
                             "settings left them (default: a temporary directory)")
    args = parser.parse_args(argv)
    if min(args.pretrain_steps, args.train_examples, args.batch_size, args.sequence_length) < 1:
        parser.error("--pretrain-steps, --train-examples, --batch-size and --sequence-length must be positive")
    return args


def build_models(args, sentences, work):
    """Saves the pretrained and the untrained presets under `work`; returns (their paths, seconds, loss, params)."""
    import keras
    import keras_hub
    import sentencepiece

    proto = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=proto, vocab_size=args.vocabulary_size,
        model_type="unigram", pad_id=0, bos_id=1, eos_id=2, unk_id=3, byte_fallback=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False, minloglevel=2)
    keras.utils.set_random_seed(args.seed)
    tokenizer = keras_hub.models.LlamaTokenizer(proto=proto.getvalue())
    backbone = keras_hub.models.LlamaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=args.num_layers, num_query_heads=4,
        num_key_value_heads=2, hidden_dim=args.hidden_dim, intermediate_dim=int(8 / 3 * args.hidden_dim))
    preprocessor = keras_hub.models.LlamaCausalLMPreprocessor(tokenizer, sequence_length=args.sequence_length)
    model = keras_hub.models.LlamaCausalLM(backbone, preprocessor)
    paths = {"random": os.path.join(work, "random_preset"), "pretrained": os.path.join(work, "pretrained_preset")}
    model.save_to_preset(paths["random"])
    parameters = backbone.count_params()
    print(f"Llama-architecture model: {parameters:,} parameters, {tokenizer.vocabulary_size()} SentencePiece pieces",
          flush=True)
    model.compile(optimizer=keras.optimizers.AdamW(args.pretrain_learning_rate, weight_decay=0.1), sampler="greedy",
                  # the mean over the phrases' tokens (KerasHub's default also divides by the padding)
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                                  reduction="mean_with_sample_weight"))
    import tensorflow as tf

    texts = tf.data.Dataset.from_tensor_slices(sentences).shuffle(len(sentences), seed=args.seed).repeat()
    epochs = 5
    start = time.perf_counter()
    history = model.fit(texts.batch(args.pretrain_batch_size), epochs=epochs,
                        steps_per_epoch=args.pretrain_steps // epochs,
                        verbose=0, callbacks=[pretraining_progress(epochs)])
    seconds = time.perf_counter() - start
    model.save_to_preset(paths["pretrained"])
    return paths, seconds, float(history.history["loss"][-1]), parameters


def main(argv=None):
    args = parse_args(argv)
    from kerastune.recipes.preset_causal_lm import preset_causal_lm

    train, dev, sample, result = sst2_pairs(args)
    with tempfile.TemporaryDirectory() as work:
        presets = load_or_build_presets(args, PRESET_SETTINGS,
                                        lambda directory: build_models(args, train.texts, directory), work, result)
        data, validation = write_train_and_dev(work, train, dev, sample)
        for arm in args.arms:
            lora = "lora" in arm
            run = preset_causal_lm(
                name=arm, seed=args.seed, preset=presets["random" if arm.startswith("random") else "pretrained"],
                data=data, validation=validation, prompt_format=PROMPT_FORMAT,
                sequence_length=args.sequence_length, batch_size=args.batch_size, epochs=1,
                max_new_tokens=8,  # "negative" takes 5 of this vocabulary's pieces, then the end token
                peft="lora" if lora else None, peft_targets="all-linear" if "_all" in arm else None,
                peft_train_norms=arm.endswith("_norms"),
                learning_rate=args.lora_learning_rate if lora else args.full_learning_rate,
                export_dir=os.path.join(work, "exports"))
            score_arm(run, arm, result)
    result.update(cpu=cpu_model(), cpu_cores=cpu_cores())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
