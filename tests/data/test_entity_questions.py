import collections

import pytest
from seqeval.metrics.sequence_labeling import get_entities

from kerastune.data.conll import read_conll, tagged_sentences
from kerastune.data.entity_questions import DEFAULT_QUESTIONS, entity_questions, entity_spans
from kerastune.data.question_answers import read_question_answers, write_squad_json
from tests.conftest import shared_path
from tests.data.test_conll import write

CONLL = ("EU\tB-ORG\nrejects\tO\nGerman\tB-MISC\ncall\tO\nto\tO\nboycott\tO\nBritish\tB-MISC\nlamb\tO\n.\tO\n\n"
         "Peter\tB-PER\nBlackburn\tI-PER\n\n"
         "BRUSSELS\tB-LOC\n1996-08-22\tO\n")


def test_spans_read_bio_as_the_ner_report_does():
    # an I- after O or after another type starts an entity (seqeval's default, the NER report's reading)
    assert entity_spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG", "I-ORG", "B-MISC", "I-PER"]) == [
        ("PER", 0, 1), ("LOC", 3, 3), ("LOC", 4, 4), ("ORG", 5, 6), ("MISC", 7, 7), ("PER", 8, 8)]
    assert entity_spans([]) == [] and entity_spans(("O", "O")) == []


def test_one_question_per_sentence_and_type(tmp_path):
    qa = entity_questions(read_conll(write(tmp_path, CONLL)))
    assert len(qa) == 3 * 4 and qa.source.endswith("x.txt")
    assert qa.ids[:4] == ["0-PER", "0-LOC", "0-ORG", "0-MISC"] and qa.ids[-1] == "2-MISC"
    assert qa.questions[:4] == [DEFAULT_QUESTIONS[t] for t in ("PER", "LOC", "ORG", "MISC")]
    assert qa.contexts[0] == "EU rejects German call to boycott British lamb ." and qa.contexts[4] == "Peter Blackburn"
    assert qa.answers[:4] == [[], [], ["EU"], ["German", "British"]]  # every entity of the type, in order
    assert qa.answer_starts[:4] == [[], [], [0], [11, 34]]
    assert qa.answers[4:8] == [["Peter Blackburn"], [], [], []] and qa.answers[9] == ["BRUSSELS"]
    assert qa.has_answer == [False, False, True, True, True, False, False, False, False, True, False, False]


def test_chosen_types_and_questions():
    sentences = tagged_sentences([["Ann", "met", "Bob", "Lee", "in", "Rome"]],
                                 [["B-PER", "O", "B-PER", "I-PER", "O", "B-LOC"]])
    qa = entity_questions(sentences, types=["LOC", "PER"])
    assert (qa.ids, qa.answers, qa.answer_starts) == (["0-LOC", "0-PER"], [["Rome"], ["Ann", "Bob Lee"]],
                                                      [[19], [0, 8]])
    custom = entity_questions(sentences, questions={"PER": "Who?", "LOC": "Where?"})
    assert (custom.questions, custom.ids) == (["Who?", "Where?"], ["0-PER", "0-LOC"])
    with pytest.raises(ValueError, match=r"types \['PERSON'\] have no question"):
        entity_questions(sentences, types=["PERSON"])
    with pytest.raises(ValueError, match="each once"):
        entity_questions(sentences, types=["PER", "PER"])
    with pytest.raises(ValueError, match=r"questions for \['LOC'\] are empty"):
        entity_questions(sentences, questions={"PER": "Who?", "LOC": " "})
    dated = tagged_sentences([["Ann", "left", "Monday"]], [["B-PER", "O", "B-DATE"]])
    with pytest.raises(ValueError, match=r"entity types \['DATE'\] with no question, so their entities would be left"):
        entity_questions(dated)
    assert entity_questions(dated, types=["PER"]).answers == [["Ann"]]  # the types asked are chosen


def test_shared_conll2003_valid():
    sentences = read_conll(shared_path("data", "conll2003", "valid.txt"))
    qa = entity_questions(sentences)
    assert len(qa) == len(sentences) * 4 == 3250 * 4
    for context, texts, starts in zip(qa.contexts, qa.answers, qa.answer_starts):
        assert [context[s:s + len(t)] for t, s in zip(texts, starts)] == texts
    counts = collections.Counter()
    for qid, texts in zip(qa.ids, qa.answers):
        counts[qid.split("-", 1)[1]] += len(texts)
    reference = collections.Counter(kind for tags in sentences.tag_strings() for kind, _, _ in get_entities(tags))
    assert counts == reference
    # the answers are seqeval's entities' words, sentence by sentence
    by_id = dict(zip(qa.ids, qa.answers))
    for index, (words, tags) in enumerate(zip(sentences.words, sentences.tag_strings())):
        for kind in DEFAULT_QUESTIONS:
            expected = [" ".join(words[first:last + 1]) for span_type, first, last in get_entities(tags)
                        if span_type == kind]
            assert by_id[f"{index}-{kind}"] == expected


def test_shared_conll2003_questions_round_trip_through_squad_json(tmp_path):
    qa = entity_questions(read_conll(shared_path("data", "conll2003", "valid.txt")))
    assert read_question_answers(write_squad_json(qa, str(tmp_path / "conll_valid_qa.json"))) == qa
