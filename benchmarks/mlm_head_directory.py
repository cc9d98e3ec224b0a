"""Builds a kerastune backbone directory for all-MiniLM-L6-v2 with a masked-LM head trained for it.

all-MiniLM-L6-v2 ships without an MLM head. This copies its weights into kerastune's `BertEncoder`
(`BertEncoder.from_bert_backbone`), then trains a `TiedMaskedLMHead` (transform, layer norm and
output bias; the output matrix is the tied word-piece table) on unlabelled text with the
`masked_lm` recipe, the encoder frozen (`--full-steps` then trains everything at `--full-learning-rate`),
and saves `save_backbone_directory(encoder, tokenizer, DIR, masked_lm_head)`.

    python benchmarks/few_shot.py --build-mlm-head /tmp/minilm_mlm [--head-steps 800] [--full-steps 0]

Unlabelled text: WikiText-2 valid + the SST-2 train and AG News train texts (labels unused).
"""

import os
import shutil
import time

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")
MINILM = os.path.join(SHARED, "models", "all-MiniLM-L6-v2")
UNLABELLED = ("data/wikitext2/valid.txt", "data/sst2/train.tsv", "data/agnews/train_subset.tsv")


def build_mlm_head_directory(path, head_steps=800, full_steps=0, batch_size=32, sequence_length=64, seed=0,
                             full_learning_rate=2e-5):
    """Writes the backbone directory `path` (MiniLM + trained MLM head); returns a dict of what it measured."""
    from kerastune.models.backbone_directory import save_backbone_directory
    from kerastune.models.backbones import load_backbone
    from kerastune.models.bert_encoder import BertEncoder
    from kerastune.recipes.masked_lm import masked_lm
    from kerastune.recipes.training_setup import compile_for_training
    import dataclasses

    start = time.time()
    backbone, tokenizer = load_backbone(MINILM)
    encoder = BertEncoder.from_bert_backbone(backbone)
    plain = path.rstrip(os.sep) + ".no_head"
    if os.path.exists(plain):
        shutil.rmtree(plain)
    save_backbone_directory(encoder, tokenizer, plain)
    data = ",".join(os.path.join(SHARED, p) for p in UNLABELLED)
    results = {}
    run = masked_lm(backbone=plain, data=data, next_sentence=False, sequence_length=sequence_length,
                    batch_size=batch_size, steps_per_epoch=head_steps, epochs=1, learning_rate=1e-3,
                    warmup_ratio=0.05, dropout=0.0, seed=seed, validation_fraction=0.01, jit_compile=True)
    run.encoder.trainable = False  # head only: W, b, layer norm, output bias
    compile_for_training(run.model, run.config, head_steps)
    print(f"training the MLM head over the frozen encoder: {head_steps} steps of {batch_size}", flush=True)
    history = run.fit(verbose=2)
    results["head_mlm_accuracy"] = float(history.history["mlm_accuracy"][-1])
    results["head_val_mlm_accuracy"] = float(history.history.get("val_mlm_accuracy", [float("nan")])[-1])
    if full_steps:
        run.encoder.trainable = True
        config = dataclasses.replace(run.config, learning_rate=full_learning_rate, steps_per_epoch=full_steps)
        compile_for_training(run.model, config, full_steps)
        run.config = config
        print(f"full training: {full_steps} steps at lr {full_learning_rate:g}", flush=True)
        history = run.fit(verbose=2)
        results["full_mlm_accuracy"] = float(history.history["mlm_accuracy"][-1])
        results["full_val_mlm_accuracy"] = float(history.history.get("val_mlm_accuracy", [float("nan")])[-1])
    run.encoder.trainable = True
    run.save_backbone(path)
    shutil.rmtree(plain)
    results["build_seconds"] = round(time.time() - start, 1)
    return results
