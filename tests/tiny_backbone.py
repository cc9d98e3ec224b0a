"""A 1-layer, 16-wide kerastune backbone directory standing in for a pretrained encoder (MiniLM) where a test
only needs the recipe's wiring: it builds in about a second and fine-tunes a step in well under one."""

import pathlib

WORDS = ("the a an film movie was is it good great bad dull mess fun plot long and of to not worth seeing twice "
         "gripping beautifully acted far too eu rejects german call peter blackburn brussels paris big").split()


def write_tiny_backbone(directory, words=WORDS):
    """Saves a random-initialised `BertEncoder` (1 layer, 2 heads, hidden 16) + WordPiece vocabulary; returns its path."""
    from kerastune.models.backbone_directory import save_backbone_directory
    from kerastune.models.backbones import load_backbone

    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "'", "-"] + list(words)
    (directory / "vocab.txt").write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    encoder, tokenizer = load_backbone("kerastune_bert", vocabulary=str(directory / "vocab.txt"), num_layers=1,
                                       num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=32)
    return save_backbone_directory(encoder, tokenizer, str(directory / "backbone"))
