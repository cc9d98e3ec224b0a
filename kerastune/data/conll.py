"""CoNLL-2003 style BIO-tagged sentences (`token<TAB>tag`, a blank line between sentences), validated.

Every problem a long run would otherwise meet later is raised here as a `ConllError` naming the
file and the line: a line without a tag, an unknown tag, a tag sequence that is not valid BIO, an
empty token, a file without sentences, bytes that are not UTF-8.

Format: one token per line; the token is the first field and the tag the last, split on a tab (or,
for the original four-column CoNLL files `EU NNP B-NP B-ORG`, on spaces). Blank lines end a
sentence (several in a row are one separator); `-DOCSTART-` lines are document separators and are
skipped.

Tags are BIO (IOB2): `O`, `B-TYPE`, `I-TYPE`. `I-TYPE` must continue a `B-TYPE` or `I-TYPE` of the
same type. Policy for an `I-TYPE` that does not (after `O`, after another type, or first in a
sentence): `invalid_bio="error"` (default) refuses with the file and line; `invalid_bio="repair"`
rewrites it to `B-TYPE` (what conlleval and seqeval do when they score such a sequence: the `I-`
starts a new entity) and warns with the count. IOB1 files (the original CoNLL-2003 `eng.train`)
are therefore read with `invalid_bio="repair"`.
"""

import dataclasses
import re
import warnings

from kerastune.data.labelled_text import LabelledTextError, _decoded_lines

TAG_PATTERN = re.compile(r"^(O|[BI]-\S+)$")
INVALID_BIO = ("error", "repair")
# TFDS `conll2003` NER feature names, in its label-id order.
TFDS_CONLL2003_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


class ConllError(LabelledTextError):
    """A problem in a CoNLL file, located by file and line (1-based)."""


@dataclasses.dataclass
class TaggedSentences:
    """Validated tagged sentences.

    Attributes:
        words: list of lists of str, one list per sentence.
        tags: list of lists of int tag ids (indices into `tag_names`), aligned with `words`.
        tag_names: list of str, `"O"` first, then the `B-`/`I-` tags sorted by type.
        source: str, where they came from.
        lines: list of int, the 1-based line of each sentence's first token.
        num_repaired: int, `I-` tags rewritten to `B-` (with `invalid_bio="repair"`).
    """

    words: list
    tags: list
    tag_names: list
    source: str = ""
    lines: list = None
    num_repaired: int = 0

    def __len__(self):
        return len(self.words)

    def head(self, n):
        """The first `n` sentences (all of them when `n` is None), tag names unchanged."""
        if n is None:
            return self
        lines = self.lines[:n] if self.lines else None
        return dataclasses.replace(self, words=self.words[:n], tags=self.tags[:n], lines=lines)

    def tag_strings(self):
        """The tags as lists of str (seqeval's input)."""
        return [[self.tag_names[t] for t in sentence] for sentence in self.tags]


def default_tag_names(tags):
    """`["O", "B-LOC", "I-LOC", "B-MISC", ...]`: O first, then B/I per entity type, types sorted."""
    types = sorted({t[2:] for t in tags if t != "O"})
    return ["O"] + [f"{prefix}-{entity}" for entity in types for prefix in ("B", "I")]


def check_bio(tags, invalid_bio="error", path=None, lines=None):
    """Returns `(tags, num_repaired)` for one sentence of str tags; see the module doc for the policy."""
    if invalid_bio not in INVALID_BIO:
        raise ValueError(f"invalid_bio must be one of {INVALID_BIO}; received {invalid_bio!r}")
    fixed, repaired, previous = list(tags), 0, "O"
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            if invalid_bio == "error":
                after = "at the start of the sentence" if i == 0 else f"after {previous!r}"
                raise ConllError(
                    f"tag {tag!r} {after} is not valid BIO: an I- tag continues a B-/I- tag of the same type. "
                    f"Fix the file, or pass invalid_bio='repair' to read it as {'B-' + tag[2:]!r} "
                    "(IOB1 files such as the original CoNLL-2003 need this)",
                    path,
                    lines[i] if lines else None,
                )
            fixed[i] = "B-" + tag[2:]
            repaired += 1
        previous = fixed[i]
    return fixed, repaired


def _sentences(path):
    """Yields lists of (line number, token, tag str) from a CoNLL file."""
    sentence = []
    for number, line in _decoded_lines(path):
        if not line.strip():
            if sentence:
                yield sentence
            sentence = []
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        token, tag = fields[0], fields[-1].strip()
        if token.startswith("-DOCSTART-"):
            continue
        if len(fields) < 2:
            raise ConllError(
                f"{line.strip()!r} has no tag; expected token<TAB>tag (e.g. 'EU\\tB-ORG')", path, number
            )
        if not token.strip():
            raise ConllError(f"empty token before tag {tag!r}; every line needs a token and a tag", path, number)
        if not TAG_PATTERN.match(tag):
            raise ConllError(f"unknown tag {tag!r} for token {token!r}; expected O, B-TYPE or I-TYPE", path, number)
        sentence.append((number, token.strip(), tag))
    if sentence:
        yield sentence


def read_conll(path, tag_names=None, invalid_bio="error"):
    """Reads and validates a CoNLL-style BIO file.

    Args:
        path: str, the file.
        tag_names: list of str or None. Given (the training set's `tag_names`), every tag must be
            one of them; otherwise they are inferred (`default_tag_names`).
        invalid_bio: `"error"` or `"repair"`, for an `I-` tag that continues nothing.

    Returns:
        `TaggedSentences`.

    Example:

    >>> data = read_conll("../shared/data/conll2003/valid.txt")  # doctest: +SKIP
    >>> len(data), data.tag_names[:3]  # doctest: +SKIP
    (3250, ['O', 'B-LOC', 'I-LOC'])
    """
    path = str(path)
    if invalid_bio not in INVALID_BIO:
        raise ValueError(f"invalid_bio must be one of {INVALID_BIO}; received {invalid_bio!r}")
    words, tags, lines, repaired = [], [], [], 0
    for sentence in _sentences(path):
        numbers = [n for n, _, _ in sentence]
        fixed, count = check_bio([t for _, _, t in sentence], invalid_bio, path, numbers)
        repaired += count
        words.append([w for _, w, _ in sentence])
        tags.append(list(zip(numbers, fixed)))
        lines.append(numbers[0])
    if not words:
        raise ConllError("the file holds no sentences; expected token<TAB>tag lines", path)
    if repaired:
        warnings.warn(f"{path}: {repaired} I- tags that continued no entity were read as B- (invalid_bio='repair')", stacklevel=2)
    if tag_names is None:
        tag_names = default_tag_names({t for sentence in tags for _, t in sentence})
    index = {name: i for i, name in enumerate(tag_names)}
    ids = []
    for sentence in tags:
        for number, tag in sentence:
            if tag not in index:
                raise ConllError(f"unknown tag {tag!r}; the tag set (from training) is {list(tag_names)}", path, number)
        ids.append([index[t] for _, t in sentence])
    return TaggedSentences(words, ids, list(tag_names), path, lines, repaired)


def tagged_sentences(words, tags, tag_names=None, invalid_bio="error", source="<memory>"):
    """`TaggedSentences` from lists (TFDS `conll2003`, user data), with the reader's checks.

    `tags` are lists of str tags or of int ids into `tag_names`. An empty sentence raises.
    """
    if len(words) != len(tags):
        raise ValueError(f"{len(words)} sentences of words but {len(tags)} of tags")
    str_tags = []
    for i, (w, t) in enumerate(zip(words, tags)):
        if not len(w):
            raise ConllError(f"sentence {i} is empty; every sentence needs at least one token", source)
        if len(w) != len(t):
            raise ConllError(f"sentence {i} has {len(w)} words but {len(t)} tags", source)
        t = [tag_names[int(x)] if not isinstance(x, str) else x for x in t]
        for tag in t:
            if not TAG_PATTERN.match(tag):
                raise ConllError(f"sentence {i}: unknown tag {tag!r}; expected O, B-TYPE or I-TYPE", source)
        str_tags.append(check_bio(t, invalid_bio, f"{source} sentence {i}")[0])
    tag_names = list(tag_names) if tag_names is not None else default_tag_names({t for s in str_tags for t in s})
    index = {name: i for i, name in enumerate(tag_names)}
    for i, t in enumerate(str_tags):
        unknown = [tag for tag in t if tag not in index]
        if unknown:
            raise ConllError(f"sentence {i}: unknown tag {unknown[0]!r}; the tag set is {tag_names}", source)
    ids = [[index[tag] for tag in t] for t in str_tags]
    return TaggedSentences([list(map(str, w)) for w in words], ids, tag_names, source)


def read_tfds_conll(split, data_dir=None, name="conll2003"):
    """TFDS `conll2003` (online, or cached in `data_dir`) as `TaggedSentences` with its tag order."""
    import tensorflow_datasets as tfds

    words, tags = [], []
    for example in tfds.as_numpy(tfds.load(name, split=split, data_dir=data_dir)):
        words.append([t.decode("utf-8") for t in example["tokens"]])
        tags.append([int(t) for t in example["ner"]])
    return tagged_sentences(words, tags, list(TFDS_CONLL2003_TAGS), source=f"tfds:{name}:{split}")
