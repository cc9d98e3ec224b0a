"""Fine-tuning a KerasHub encoder-decoder (BART) through `preset_seq2seq`, scored by what it writes for SST-2.

    python benchmarks/preset_seq2seq.py [--data-dir ../shared/data/sst2] [--vocabulary-size 2000 | 0]
        [--pretrain-steps 1500] [--train-examples 16000] [--arms pretrained_lora pretrained_lora_all
        pretrained_full random_full random_lora] [--presets-dir DIR]

No pretrained BART or T5 is on disk (their weights are downloads), so this script makes one the way BART was
made, small: a KerasHub `BartSeq2SeqLM` (`--num-layers` encoder and decoder layers, `--hidden-dim` wide) over
a byte-level vocabulary (BART's special tokens and a `<mask>` token, then BART's byte-to-unicode table with
one merge, or with `--vocabulary-size N` a byte-level BPE of N pieces learned from the phrases, as BART's own
was: Hugging Face `tokenizers`, in the `peers` extra), pretrained as a denoising autoencoder on SST-2's
training phrases with KerasHub's own `fit`: BART's text infilling (spans of Poisson(3) lengths covering
`--mask-ratio` of each phrase's tokens, each span replaced by one `<mask>`, a span of length 0 inserting one)
in the encoder, the phrase to write in the decoder, laid out by `kerastune.data.Seq2SeqLayout`
(`--pretrain-steps` batches of `--pretrain-batch-size` phrases; no labels). It is saved with `save_to_preset`
(into `--presets-dir` when given, where a later run of the same settings reuses it), and the same architecture
untrained too. Each arm then runs the recipe as a user would: `preset_seq2seq(preset=DIR, data=train.jsonl,
validation=dev.jsonl, ...)`, `fit()`, `evaluate()`:

- `pretrained_lora`: LoRA (rank 8, KerasHub's default targets: the query and value projections) over the
  frozen pretrained model;
- `pretrained_lora_all`: the same on every projection of every block (`peft_targets="all-linear"`);
- `pretrained_full`: every weight of the pretrained model tuned;
- `random_full`: every weight of the untrained model tuned (training from scratch on the labelled pairs);
- `random_lora`: LoRA over the untrained model (the control: what LoRA learns with no pretraining).

The pairs are `--train-examples` SST-2 training phrases (a seeded sample), each phrase the source and its
label word (`negative` or `positive`) the target, one epoch; the score is the exact match of the greedy
written target with the label word on all 872 dev sentences.

Prints progress, then as its last line one JSON object: `dev_accuracy_<arm>`, `dev_loss_<arm>`,
`train_seconds_<arm>`, `ms_per_step_<arm>`, `trainable_parameters_<arm>`, `majority_baseline`,
`dev_examples`, `train_examples`, `pretrain_seconds`, `pretrain_loss`, `parameters`, `cpu`, `cpu_cores`.
"""

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from peers.side_by_side import cpu_cores, cpu_model  # noqa: E402
from sst2_label_pairs import (load_or_build_presets, pretraining_progress, score_arm, sst2_pairs,  # noqa: E402
                              write_train_and_dev)

PRESET_SETTINGS = ("pretrain_steps", "vocabulary_size", "num_layers", "hidden_dim", "max_source_length", "mask_ratio",
                   "pretrain_batch_size", "pretrain_learning_rate", "seed")  # what the presets are built from
ARMS = ("pretrained_lora", "pretrained_lora_all", "pretrained_full", "random_full", "random_lora")
MASK = "<mask>"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.path.join("..", "shared", "data", "sst2"))
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--pretrain-steps", type=int, default=1500)
    parser.add_argument("--train-examples", type=int, default=16000)
    parser.add_argument("--max-dev-examples", type=int, default=None)
    parser.add_argument("--vocabulary-size", type=int, default=2000,
                        help="byte-level BPE pieces learned from the phrases (Hugging Face `tokenizers`, in the "
                             "peers extra); 0: bytes alone (no arm learned in one epoch with them)")
    parser.add_argument("--num-layers", type=int, default=2, help="encoder layers, and as many decoder layers")
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--max-source-length", type=int, default=320)  # SST-2's longest sentence: 267 bytes
    parser.add_argument("--mask-ratio", type=float, default=0.3)
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
    if min(args.pretrain_steps, args.train_examples, args.batch_size, args.max_source_length) < 1:
        parser.error("--pretrain-steps, --train-examples, --batch-size and --max-source-length must be positive")
    return args


def byte_tokenizer(sentences=None, vocabulary_size=0):
    """A `BartTokenizer`: BART's special tokens and `<mask>`, then BART's byte-to-unicode table with one merge (a
    space and `t`: KerasHub's tokenizer needs at least one), or with `vocabulary_size` > 0 a byte-level BPE
    vocabulary of that size learned from `sentences` (as BART's and GPT-2's were; Hugging Face `tokenizers`)."""
    import keras_hub
    from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

    special = ["<s>", "<pad>", "</s>", MASK]
    if vocabulary_size:
        try:
            import tokenizers
        except ImportError:
            raise SystemExit("--vocabulary-size needs Hugging Face's tokenizers: pip install -e '.[peers]'") from None
        bpe = tokenizers.ByteLevelBPETokenizer()
        bpe.train_from_iterator(sentences, vocab_size=vocabulary_size, special_tokens=special, show_progress=False)
        vocabulary = bpe.get_vocab()
        learned = json.loads(bpe._tokenizer.to_str())["model"]["merges"]  # "a b" strings or [a, b] pairs
        merges = [m if isinstance(m, str) else " ".join(m) for m in learned]
        return keras_hub.models.BartTokenizer(vocabulary=vocabulary, merges=merges)
    vocabulary = {token: i for i, token in enumerate(special)}
    for piece in [(c if isinstance(c, str) else chr(c)) for c in bytes_to_unicode()[1]] + ["\u0120t"]:
        vocabulary[piece] = len(vocabulary)
    return keras_hub.models.BartTokenizer(vocabulary=vocabulary, merges=["\u0120 t"])


def text_infilling(ids, mask_id, ratio, rng):
    """BART's text infilling: spans of Poisson(3) lengths, about `ratio` of the tokens, each replaced by one
    mask id (a span of length 0 inserts one)."""
    budget, out, i = int(round(ratio * len(ids))), [], 0
    starts = set(rng.choice(len(ids), size=min(len(ids), max(1, budget // 3)), replace=False).tolist())
    while i < len(ids):
        if i in starts and budget > 0:
            length = min(int(rng.poisson(3.0)), budget, len(ids) - i)
            out.append(mask_id)
            budget -= length
            if length:
                i += length
                continue
        out.append(ids[i])
        i += 1
    return np.asarray(out, np.int32)


def build_models(args, sentences, work):
    """Saves the pretrained and the untrained presets under `work`; returns (their paths, seconds, loss, params)."""
    import keras
    import keras_hub

    from kerastune.data import Seq2SeqLayout
    from kerastune.data.sequence_pairs import encoder_decoder_batches
    from kerastune.data.text_encoding import encode_texts

    keras.utils.set_random_seed(args.seed)
    tokenizer = byte_tokenizer(sentences, args.vocabulary_size)
    backbone = keras_hub.models.BartBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=args.num_layers, num_heads=4,
        hidden_dim=args.hidden_dim, intermediate_dim=4 * args.hidden_dim, dropout=0.1,
        max_sequence_length=args.max_source_length + 2)
    preprocessor = keras_hub.models.BartSeq2SeqLMPreprocessor(tokenizer)
    model = keras_hub.models.BartSeq2SeqLM(backbone, preprocessor)
    paths = {"random": os.path.join(work, "random_preset"), "pretrained": os.path.join(work, "pretrained_preset")}
    model.save_to_preset(paths["random"])
    parameters = backbone.count_params()
    print(f"BART-architecture model: {parameters:,} parameters, {tokenizer.vocabulary_size()} byte-level tokens "
          f"({'BPE' if args.vocabulary_size else 'bytes'})", flush=True)

    layout = Seq2SeqLayout.from_preprocessor(preprocessor)
    mask_id = tokenizer.token_to_id(MASK)
    rng = np.random.default_rng(args.seed)
    texts = [ids for ids in encode_texts(tokenizer, sentences) if 0 < len(ids) <= args.max_source_length]
    order = rng.permutation(len(texts))
    needed = args.pretrain_steps * args.pretrain_batch_size
    picks = [texts[order[i % len(texts)]] for i in range(needed)]  # passes over the phrases, new noise each time
    encoder = [layout.encoder_ids(text_infilling(ids, mask_id, args.mask_ratio, rng)) for ids in picks]
    decoder, labels = zip(*[layout.decoder_ids(ids) for ids in picks])
    batches, steps = encoder_decoder_batches(encoder, list(decoder), list(labels), args.pretrain_batch_size,
                                             seed=args.seed, pad_to_multiple_of=16, training=True)
    model.preprocessor = None
    model.compile(optimizer=keras.optimizers.AdamW(args.pretrain_learning_rate, weight_decay=0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                                  reduction="mean_with_sample_weight"))
    epochs = 5
    start = time.perf_counter()
    history = model.fit(batches, epochs=epochs, steps_per_epoch=args.pretrain_steps // epochs, verbose=0,
                        callbacks=[pretraining_progress(epochs)])
    seconds = time.perf_counter() - start
    model.preprocessor = preprocessor
    model.save_to_preset(paths["pretrained"])
    return paths, seconds, float(history.history["loss"][-1]), parameters


def main(argv=None):
    args = parse_args(argv)
    from kerastune.recipes.preset_seq2seq import preset_seq2seq

    train, dev, sample, result = sst2_pairs(args)
    with tempfile.TemporaryDirectory() as work:
        presets = load_or_build_presets(args, PRESET_SETTINGS,
                                        lambda directory: build_models(args, train.texts, directory), work, result)
        data, validation = write_train_and_dev(work, train, dev, sample, columns=("source", "target"))
        for arm in args.arms:
            lora = "lora" in arm
            run = preset_seq2seq(
                name=arm, seed=args.seed, preset=presets["random" if arm.startswith("random") else "pretrained"],
                data=data, validation=validation, max_source_length=args.max_source_length, max_target_length=8,
                batch_size=args.batch_size, epochs=1, pad_to_multiple_of=16,
                peft="lora" if lora else None, peft_targets="all-linear" if "_all" in arm else None,
                learning_rate=args.lora_learning_rate if lora else args.full_learning_rate,
                export_dir=os.path.join(work, "exports"))
            score_arm(run, arm, result, batch_size=64)
    result.update(cpu=cpu_model(), cpu_cores=cpu_cores())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
