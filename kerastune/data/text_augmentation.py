"""Seeded text augmentation for classification training sets (EDA-style: Wei & Zou, 2019)."""

import random

AUGMENTATIONS = ("delete", "swap", "synonym")


def read_synonyms(path):
    """`{word: [synonym, ...]}` from a UTF-8 file with one group per line: `word<TAB>syn1,syn2` or
    `word syn1 syn2` (lower-cased; blank lines and lines starting with `#` are skipped)."""
    synonyms = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            head, _, rest = line.partition("\t") if "\t" in line else line.partition(" ")
            words = [w.strip().lower() for w in rest.replace(",", " ").split() if w.strip()]
            if not words:
                raise ValueError(f"{path}, line {number}: {head!r} has no synonym; write `word<TAB>syn1,syn2`. "
                                 f"Received: {line!r}")
            synonyms.setdefault(head.lower(), []).extend(words)
    return synonyms


def augment_text(text, operations, probability, rng, synonyms=None, min_words=4):
    """One augmented copy of `text`: each operation applied to about `probability` of its words.

    `delete` drops words (never all of them), `swap` exchanges random pairs of words, `synonym`
    replaces words found in `synonyms`. Texts of fewer than `min_words` words back off to the
    synonym replacement alone (deleting or swapping in a 3-word text often changes its meaning).
    """
    words = text.split()
    short = len(words) < min_words
    for operation in operations:
        if operation == "synonym" and synonyms:
            words = [rng.choice(synonyms[w.lower()]) if w.lower() in synonyms and rng.random() < probability else w
                     for w in words]
        elif operation == "delete" and not short:
            kept = [w for w in words if rng.random() >= probability]
            words = kept or [rng.choice(words)]
        elif operation == "swap" and not short:
            for _ in range(max(1, round(probability * len(words)))):
                i, j = rng.randrange(len(words)), rng.randrange(len(words))
                words[i], words[j] = words[j], words[i]
    return " ".join(words)


def augment_examples(texts, labels, operations=("delete", "swap"), probability=0.1, copies=1, synonyms=None,
                     min_words=4, seed=0):
    """`(texts, labels)`: the originals, then `copies` augmented copies of each (same labels).

    Args:
        texts: list of str.
        labels: list, one per text.
        operations: names from `AUGMENTATIONS`, applied in order.
        probability: float in [0, 1], the share of words each operation touches.
        copies: int >= 1, augmented copies per example.
        synonyms: dict `{word: [synonyms]}` (`read_synonyms`), needed by `"synonym"`.
        min_words: int, shorter texts are only given synonym replacements.
        seed: int; the same arguments always give the same copies.

    Example:

    >>> augment_examples(["a very long and dull film"], [0], seed=1)[1]
    [0, 0]
    """
    unknown = [op for op in operations if op not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"augment takes operations from {AUGMENTATIONS}. Received: augment={','.join(operations)!r}")
    if "synonym" in operations and not synonyms:
        raise ValueError("augment='synonym' needs a synonym list: pass synonyms= a file of `word<TAB>syn1,syn2` lines.")
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"augment_probability must be in [0, 1]. Received: augment_probability={probability!r}")
    if not isinstance(copies, int) or copies < 1:
        raise ValueError(f"augment_copies must be an int >= 1. Received: augment_copies={copies!r}")
    rng = random.Random(seed)
    new_texts, new_labels = list(texts), list(labels)
    for _ in range(copies):
        for text, label in zip(texts, labels):
            new_texts.append(augment_text(text, operations, probability, rng, synonyms, min_words))
            new_labels.append(label)
    return new_texts, new_labels
