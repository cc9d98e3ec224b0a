import numpy as np
import pytest

from kerastune.data.character_tokenizer import CharacterTokenizer
from kerastune.data.chat_template import ChatTemplate
from kerastune.data.text_encoding import encode_texts
from kerastune.data.subword_tokenizer import train_sentencepiece_tokenizer
from kerastune.data.text_corpus import default_corpus

PROMPTS = ["add 2 and 3", "name a {colour}", "x"]
RESPONSES = ["5", "blue, say", "yz z"]


@pytest.fixture(scope="module")
def subword_tokenizer():
    return train_sentencepiece_tokenizer(default_corpus()[:20_000], vocabulary_size=400)


def test_render_and_cut_a_response():
    template = ChatTemplate("<user>{prompt}</user>\n<bot>", end_marker="</bot>")
    assert template.render("hi", "hello") == ("<user>hi</user>\n<bot>", "hello</bot>")
    assert template.render("hi") == ("<user>hi</user>\n<bot>", None)
    assert template.response_from("hello</bot><user>more</bot>") == "hello"
    assert template.response_from("never ended") == "never ended"
    assert ChatTemplate("{x} {prompt}:").render("p")[0] == "{x} p:"  # other braces are literal text
    assert ChatTemplate.from_config(template.get_config()) == template


@pytest.mark.parametrize("loss_on_prompt", [False, True])
def test_encode_pairs_marks_exactly_the_response_characters(loss_on_prompt):
    template = ChatTemplate("Q: {prompt}\nA: ", end_marker="\n\n")
    whole = "".join(f"Q: {p}\nA: {r}\n\n" for p, r in zip(PROMPTS, RESPONSES))
    tokenizer = CharacterTokenizer.from_corpus(whole)
    ids, mask, starts = template.encode_pairs(PROMPTS, RESPONSES, tokenizer, loss_on_prompt=loss_on_prompt)
    np.testing.assert_array_equal(ids, tokenizer.encode_text(whole))  # the pairs in turn, nothing between
    expected = np.zeros(len(whole))
    offset = 0
    for prompt, response in zip(PROMPTS, RESPONSES):
        assert starts.tolist()[PROMPTS.index(prompt)] == offset
        begin = whole.index(f"\nA: {response}\n\n", offset) + 4  # independent of the template's own rendering
        expected[begin: begin + len(response) + 2] = 1  # the response and its end marker
        offset = begin + len(response) + 2
    np.testing.assert_array_equal(mask, np.ones(len(whole)) if loss_on_prompt else expected)
    assert ids.dtype == np.int32 and mask.dtype == np.float32


def test_encode_pairs_with_a_subword_tokenizer_splits_at_the_response(subword_tokenizer):
    template, tokenizer = ChatTemplate(), subword_tokenizer
    ids, mask, starts = template.encode_pairs(PROMPTS, RESPONSES, tokenizer)
    for i, (prompt, response) in enumerate(zip(PROMPTS, RESPONSES)):
        prompt_text, response_text = template.render(prompt, response)
        prompt_ids, response_ids = (np.asarray(tokenizer.tokenize(t)) for t in (prompt_text, response_text))
        begin = starts[i] + len(prompt_ids)
        np.testing.assert_array_equal(ids[starts[i]: begin], prompt_ids)
        np.testing.assert_array_equal(ids[begin: begin + len(response_ids)], response_ids)
        assert not mask[starts[i]: begin].any() and mask[begin: begin + len(response_ids)].all()


def test_encode_texts_matches_the_tokenizer_one_text_at_a_time(subword_tokenizer):
    texts = ["the cat", "sat on the mat.", "t"]
    for encoded, text in zip(encode_texts(subword_tokenizer, texts), texts):
        assert encoded.dtype == np.int32
        np.testing.assert_array_equal(encoded, np.asarray(subword_tokenizer.tokenize(text)))


def test_bad_templates_and_pairs_are_clear_errors():
    with pytest.raises(ValueError, match=r"exactly one '\{prompt\}'.*Received: prompt_format='Q: '"):
        ChatTemplate("Q: ")
    with pytest.raises(ValueError, match="exactly one"):
        ChatTemplate("{prompt} {prompt}")
    with pytest.raises(ValueError, match=r"must have text after \{prompt\} .* Received: prompt_format='Q: \{prompt\}'"):
        ChatTemplate("Q: {prompt}")
    with pytest.raises(ValueError, match="end_marker must be a str"):
        ChatTemplate(end_marker=None)
    with pytest.raises(ValueError, match="end_marker is empty, and a token stream of pairs has no end token"):
        ChatTemplate(end_marker="").encode_pairs(["a"], ["b"], CharacterTokenizer.from_corpus("ab"))
    template = ChatTemplate(end_marker="\n\n")
    tokenizer = CharacterTokenizer.from_corpus("abc \n:InstructionRespe")
    with pytest.raises(ValueError, match=r"pairs.jsonl, line 7: the response contains the end marker '\\n\\n'"):
        template.encode_pairs(["a", "b"], ["a", "b\n\nc"], tokenizer, source="pairs.jsonl", lines=[3, 7])
    with pytest.raises(ValueError, match=r"pair 1: the response contains the end marker .*or ends with part of it"):
        template.encode_pairs(["a", "b"], ["a", "print(1)\n"], tokenizer)  # + "\n\n" would be served as "print(1)"
    with pytest.raises(ValueError, match="2 prompts and 1 responses"):
        template.encode_pairs(["a", "b"], ["a"], tokenizer)
    with pytest.raises(ValueError, match="no prompt/response pair"):
        template.encode_pairs([], [], tokenizer)


def test_an_empty_end_marker_leaves_the_end_to_the_model_and_takes_any_response():
    template = ChatTemplate("Q: {prompt}\nA: ", end_marker="")
    assert template.render("2+2?", "4\n\nfour") == ("Q: 2+2?\nA: ", "4\n\nfour")
    template.check_responses(["a\n\nb", ""])  # nothing to collide with
    assert template.response_from("4\n\nfour") == "4\n\nfour"
    import tensorflow as tf

    assert template.responses_from(tf.constant(["4\n\nfour", ""])).numpy().tolist() == [b"4\n\nfour", b""]
    cut = ChatTemplate(end_marker="\n\n").responses_from(tf.constant(["4\n\nfour", "", "no marker"]))
    assert cut.numpy().tolist() == [b"4", b"", b"no marker"]

