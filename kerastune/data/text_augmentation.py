"""Seeded text augmentation for classification training sets (EDA-style: Wei & Zou, 2019; n-gram sampling and
word replacement as in Tang et al., 2019, whose transfer sets a teacher labels for distillation)."""

import random

import numpy as np

AUGMENTATIONS = ("delete", "swap", "synonym", "ngram")
MAX_NGRAM = 5


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


def write_synonyms(path, synonyms):
    """Writes `{word: [synonym, ...]}` as `read_synonyms` reads it (one `word<TAB>syn1,syn2` line per word)."""
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{word}\t{','.join(words)}\n" for word, words in synonyms.items())


def embedding_neighbours(vocabulary, table, k=8, batch_size=2048):
    """`{word: [its k nearest words]}` by the cosine of their rows in an embedding `table`.

    Only whole alphabetic words of two letters or more take part (no `##` word pieces, no `[CLS]`-style
    tokens), so a replacement stays one word. Neighbours in a model's own table are words the model
    treats alike, not always synonyms ("good" sits near "bad"); a teacher that labels the augmented
    texts makes that harmless. Tang et al. (2019) replace words by part of speech instead.

    Args:
        vocabulary: list of str, the tokens of the table's rows, in order.
        table: array `(len(vocabulary), dim)`.
        k: int >= 1, neighbours per word.
        batch_size: rows compared at a time (memory: `batch_size` x words floats).

    Example:

    >>> embedding_neighbours(["good", "great", "bad", "##s"], [[1, 0], [0.9, 0.1], [0, 1], [1, 0]], k=1)
    {'good': ['great'], 'great': ['good'], 'bad': ['great']}
    """
    table = np.asarray(table, dtype="float32")
    if table.ndim != 2 or table.shape[0] != len(vocabulary):
        raise ValueError(f"table needs one row per vocabulary token ({len(vocabulary)}). "
                         f"Received: table of shape {table.shape}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1. Received: k={k!r}")
    rows = [i for i, token in enumerate(vocabulary) if len(token) >= 2 and token.isalpha()]
    if len(rows) <= k:
        raise ValueError(f"The vocabulary has {len(rows)} whole words, too few for k={k} neighbours each.")
    words = [vocabulary[i] for i in rows]
    vectors = table[rows] / np.maximum(np.linalg.norm(table[rows], axis=1, keepdims=True), 1e-12)
    neighbours = {}
    for start in range(0, len(rows), batch_size):
        similarity = vectors[start:start + batch_size] @ vectors.T
        similarity[np.arange(len(similarity)), np.arange(start, start + len(similarity))] = -np.inf  # not itself
        nearest = np.argpartition(-similarity, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(similarity, nearest, axis=1), axis=1)
        for i, row in enumerate(np.take_along_axis(nearest, order, axis=1)):
            neighbours[words[start + i]] = [words[j] for j in row]
    return neighbours


def augment_text(text, operations, probability, rng, synonyms=None, min_words=4):
    """One augmented copy of `text`: each operation applied to about `probability` of its words.

    `delete` drops words (never all of them), `swap` exchanges random pairs of words, `synonym`
    replaces words found in `synonyms`, `ngram` (with `probability`, once per text) keeps only a random
    run of 1 to `MAX_NGRAM` consecutive words. Texts of fewer than `min_words` words back off to the
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
        elif operation == "ngram" and not short and rng.random() < probability:
            n = rng.randint(1, MAX_NGRAM)
            start = rng.randrange(max(1, len(words) - n + 1))
            words = words[start:start + n]
    return " ".join(words)


def augment_examples(texts, labels, operations=("delete", "swap"), probability=0.1, copies=1, synonyms=None,
                     min_words=4, seed=0):
    """`(texts, labels)`: the originals, then `copies` augmented copies of each (same labels).

    Args:
        texts: list of str.
        labels: list, one per text.
        operations: names from `AUGMENTATIONS`, applied in order.
        probability: float in [0, 1], the share of words each operation touches (`ngram`: of texts).
        copies: int >= 1, augmented copies per example.
        synonyms: dict `{word: [synonyms]}` (`read_synonyms`, `embedding_neighbours`), needed by `"synonym"`.
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
