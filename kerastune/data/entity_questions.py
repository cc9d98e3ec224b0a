"""Named-entity recognition as reading comprehension: one question per sentence and entity type.

Li et al. 2020, "A Unified MRC Framework for Named Entity Recognition" (ACL), recast NER as
extractive question answering: for each entity type a natural-language query ("Which person is named
in the text?") is asked of the sentence, and the answers are the spans of that type. An extractive QA
model then tags entities, and the query carries what the type means.

Here each sentence of `TaggedSentences` (from `read_conll`) becomes its words joined by single
spaces, and each entity of the type asked is an answer: its words joined by spaces at their character
offset in that context. A sentence without an entity of the type gives an unanswerable question, as
in SQuAD 2.0. Entities are read from the BIO tags as seqeval reads them in its default (non-strict)
mode: an `I-` tag after `O` or after another type starts a new entity.
"""

from seqeval.metrics.sequence_labeling import get_entities

from kerastune.data.question_answers import QuestionAnswers

# Li et al. 2020 write their queries from annotation guidelines; these are short ones for CoNLL-2003's types.
DEFAULT_QUESTIONS = {
    "PER": "Which person is named in the text?",
    "LOC": "Which location is named in the text?",
    "ORG": "Which organization is named in the text?",
    "MISC": "Which nationality, event or other named thing is named in the text?",
}


def entity_spans(tags):
    """The entities in one sentence's BIO tags as `(type, first word, last word)`, last word included, read by
    seqeval's `get_entities` (non-strict: `B-X` starts an entity, `I-X` continues an `X` entity and otherwise
    starts one, `O` or another type ends it), as `sequence_labelling_report` scores them.

    Example:

    >>> entity_spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"])
    [('PER', 0, 1), ('LOC', 3, 3), ('LOC', 4, 4)]
    """
    return [tuple(span) for span in get_entities(list(tags))]


def entity_questions(tagged_sentences, questions=None, types=None):
    """One extractive question per sentence and entity type, the type's entities its gold answers.

    Questions are ordered sentence by sentence, types in `types` order within a sentence; ids are
    `f"{sentence_index}-{type}"` (sentence index from 0). A type of the tag set that is not asked is
    an error unless `types` names the types to ask, so no entity is left out unnoticed.

    Args:
        tagged_sentences: `TaggedSentences`, e.g. from `read_conll`.
        questions: dict of entity type -> question text, or None for `DEFAULT_QUESTIONS`.
        types: list of entity types to ask, or None for every key of `questions`.

    Returns:
        `QuestionAnswers` with `len(tagged_sentences) * len(types)` questions, `source` that of the sentences.

    Example:

    >>> from kerastune.data.conll import tagged_sentences
    >>> qa = entity_questions(tagged_sentences([["Peter", "Blackburn", "visits", "Paris"]],
    ...                                        [["B-PER", "I-PER", "O", "B-LOC"]]), types=["PER", "LOC", "ORG"])
    >>> qa.ids, qa.answers, qa.answer_starts
    (['0-PER', '0-LOC', '0-ORG'], [['Peter Blackburn'], ['Paris'], []], [[0], [23], []])
    """
    questions = dict(DEFAULT_QUESTIONS if questions is None else questions)
    asked = list(questions if types is None else types)
    unknown = [t for t in asked if t not in questions]
    if unknown:
        raise ValueError(f"types {unknown} have no question; questions has {list(questions)}: add them to questions "
                         f"or leave them out. Received: types={types!r}")
    if not asked or len(set(asked)) != len(asked):
        raise ValueError(f"types must name at least one entity type, each once. Received: types={types!r}")
    empty = [t for t in asked if not isinstance(questions[t], str) or not questions[t].strip()]
    if empty:
        raise ValueError(f"the questions for {empty} are empty; every type asked needs a question text")
    unasked = sorted({name[2:] for name in tagged_sentences.tag_names if name != "O"} - set(asked))
    if types is None and unasked:
        raise ValueError(f"the tag set {tagged_sentences.tag_names} has entity types {unasked} with no question, so "
                         "their entities would be left out: pass questions= with a question for each, or types= "
                         "naming the types to ask")
    result = {"questions": [], "contexts": [], "answers": [], "answer_starts": [], "ids": []}
    for index, (words, tags) in enumerate(zip(tagged_sentences.words, tagged_sentences.tag_strings())):
        context = " ".join(words)
        offsets, position = [], 0  # offsets[i]: the character where word i starts in context
        for word in words:
            offsets.append(position)
            position += len(word) + 1
        spans = entity_spans(tags)
        for kind in asked:
            found = [(first, last) for span_type, first, last in spans if span_type == kind]
            result["questions"].append(questions[kind])
            result["contexts"].append(context)
            result["answers"].append([" ".join(words[first:last + 1]) for first, last in found])
            result["answer_starts"].append([offsets[first] for first, _ in found])
            result["ids"].append(f"{index}-{kind}")
    return QuestionAnswers(**result, source=tagged_sentences.source)
