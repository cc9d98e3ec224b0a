import math

import numpy as np
import keras
import pytest
from keras import ops

from kerastune.data import CharacterTokenizer
from kerastune.models import GPT
from kerastune.models.text_generation import generate_token_ids, make_sampler
from tests.helpers import assert_keras_save_load, randomize_weights, token_cross_entropy


def tiny_gpt(**kwargs):
    args = dict(vocabulary_size=11, sequence_length=8, num_layers=2, num_heads=2, hidden_dim=16)
    args.update(kwargs)
    return GPT(**args)


def reference_greedy(model, prompt, max_new_tokens):
    """Independent loop: run the model on the cropped context, append argmax, repeat."""
    ids = list(prompt)
    for _ in range(max_new_tokens):
        context = np.asarray([ids[-model.sequence_length:]], "int32")
        logits = np.asarray(model(context))[0, -1]
        ids.append(int(np.argmax(logits)))
    return ids


def test_logits_shape_dtype_and_parameter_count():
    model = tiny_gpt()
    logits = model(np.zeros((3, 8), "int32"))
    assert logits.shape == (3, 8, 11) and logits.dtype == "float32"
    h, v, t, L = 16, 11, 8, 2
    per_block = (4 * h * h + 4 * h) + (2 * h * 4 * h + 4 * h + h)  # attention, feed-forward (+ biases)
    per_block += 2 * 2 * h  # two layer norms
    assert model.count_params() == v * h + t * h + L * per_block + 2 * h  # tied head adds nothing


def test_untied_head_adds_a_matrix():
    assert tiny_gpt(tie_embeddings=False).count_params() == tiny_gpt().count_params() + 16 * 11


def test_output_at_t_ignores_later_tokens():
    model = tiny_gpt()
    a = np.array([[1, 2, 3, 4, 5, 6, 7, 8]], "int32")
    b = a.copy()
    b[0, 5:] = [0, 0, 0]
    np.testing.assert_allclose(np.asarray(model(a))[:, :5], np.asarray(model(b))[:, :5], atol=1e-6)


def test_greedy_generation_matches_a_reference_loop_including_context_crop():
    model = tiny_gpt()
    prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9]]
    out = model.generate(prompts, max_new_tokens=7)  # 6 + 7 > sequence_length: the context is cropped
    for prompt, row in zip(prompts, out):
        assert row == reference_greedy(model, prompt, 7)


def test_string_generation_uses_the_tokenizer():
    tokenizer = CharacterTokenizer.from_corpus("abcdefghij ")
    model = tiny_gpt(tokenizer=tokenizer)
    text = model.generate("abc", max_new_tokens=5)
    ids = reference_greedy(model, tokenizer.encode_text("abc").tolist(), 5)
    assert text == tokenizer.decode_text(ids)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.generate("xyz!", max_new_tokens=2)


def test_seeded_sampling_is_reproducible_and_seed_dependent():
    model = tiny_gpt()
    a = model.generate([[1, 2]], max_new_tokens=20, sampler="top_k", k=5, seed=1)
    b = model.generate([[1, 2]], max_new_tokens=20, sampler="top_k", k=5, seed=1)
    c = model.generate([[1, 2]], max_new_tokens=20, sampler="top_k", k=5, seed=2)
    assert a == b and a != c


class FixedNextToken:
    """A stand-in causal LM: every position predicts `probabilities`, a distribution we know."""

    sequence_length = 4

    def __init__(self, probabilities):
        self.logits = np.log(np.asarray(probabilities, "float32"))

    def __call__(self, token_ids, training=False):
        batch, length = ops.shape(token_ids)[0], ops.shape(token_ids)[1]
        return ops.broadcast_to(self.logits, (batch, length, len(self.logits)))  # (batch, length, vocab)


def draw(probabilities, draws=2000, **sampler):
    """`draws` next tokens after a one-token prompt, one per batch row, from one sampler call."""
    ids, _ = generate_token_ids(
        FixedNextToken(probabilities), np.zeros((draws, 1), "int32"), np.ones((draws, 1), bool), 1,
        make_sampler(seed=3, **sampler),
    )
    return np.asarray(ids)[:, 1]


def test_top_k_and_top_p_draw_only_from_their_sets_in_proportion():
    # A known distribution over 7 tokens, in shuffled order so the sets are not simply the first ids.
    probabilities = np.array([0.10, 0.30, 0.05, 0.15, 0.08, 0.20, 0.12])
    order = np.argsort(-probabilities)  # most likely first: 1, 5, 3, 6, 4, 0, 2
    mass = np.cumsum(probabilities[order])  # 0.30, 0.50, 0.65, 0.77, ...
    top_k_set = set(order[:3].tolist())  # {1, 5, 3}
    p = 0.7
    top_p_set = set(order[: int(np.argmax(mass > p)) + 1].tolist())  # smallest set holding mass > p
    assert top_p_set == {1, 5, 3, 6} and np.min(np.abs(mass - p)) > 1e-3  # no tie at the cut
    for tokens, members in ((draw(probabilities, sampler="top_k", k=3), top_k_set),
                            (draw(probabilities, sampler="top_p", p=p), top_p_set)):
        assert set(tokens.tolist()) == members  # inside the set, and every member is drawn
        members = sorted(members)
        expected = probabilities[members] / probabilities[members].sum()  # renormalised within the set
        observed = np.array([np.mean(tokens == t) for t in members])
        np.testing.assert_allclose(observed, expected, atol=0.04)  # 2000 draws: one s.d. <= 0.011
    # The check can fail: unrestricted sampling leaves the top-k set about a third of the time.
    assert not set(draw(probabilities, sampler="random").tolist()) <= top_k_set


def test_sampler_settings_are_checked():
    with pytest.raises(ValueError, match=r"p must be a float in \(0, 1\]. Received: p=1.5"):
        make_sampler("top_p", p=1.5)
    with pytest.raises(ValueError, match="k must be an int >= 1. Received: k=0"):
        make_sampler("top_k", k=0)
    with pytest.raises(ValueError, match="sampler='greedy' takes no settings besides temperature. Received: k=3"):
        make_sampler("greedy", k=3)
    with pytest.raises(ValueError, match="temperature must be a positive float. Received: temperature=0"):
        make_sampler("random", temperature=0)


def test_generation_rejects_bad_prompts():
    model = tiny_gpt()
    with pytest.raises(ValueError, match="prompt 1 is empty"):
        model.generate([[1], []], max_new_tokens=2)
    with pytest.raises(ValueError, match="outside"):
        model.generate([[1, 99]], max_new_tokens=2)
    with pytest.raises(ValueError, match="need a tokenizer"):
        model.generate("abc")
    with pytest.raises(ValueError, match="sampler must be one of"):
        model.generate([[1]], sampler="beam_me_up")


def test_perplexity_is_exp_of_mean_cross_entropy():
    model = tiny_gpt()
    rng = np.random.default_rng(0)
    batches = [(rng.integers(0, 11, (2, 8)).astype("int32"), rng.integers(0, 11, (2, 8)).astype("int32")) for _ in range(3)]
    losses = [token_cross_entropy(model(x), y) for x, y in batches]
    assert model.perplexity(batches) == pytest.approx(math.exp(np.mean(losses)), rel=1e-5)


def test_initialisation_follows_gpt2():
    model = GPT(vocabulary_size=50, sequence_length=16, num_layers=8, num_heads=4, hidden_dim=128)
    std = np.std(np.asarray(model.blocks[0].feed_forward_intermediate.kernel))
    residual_std = np.std(np.asarray(model.blocks[0].feed_forward_output.kernel))
    assert std == pytest.approx(0.02, rel=0.05)
    assert residual_std == pytest.approx(0.02 / math.sqrt(16), rel=0.05)


def test_rejects_bad_hyperparameters():
    with pytest.raises(ValueError, match="num_layers must be a positive integer; received 0"):
        tiny_gpt(num_layers=0)
    with pytest.raises(ValueError, match="not divisible by num_heads=3"):
        tiny_gpt(num_heads=3)


def test_keras_save_load_keeps_outputs_and_tokenizer(tmp_path):
    tokenizer = CharacterTokenizer.from_corpus("abcdefghij ")
    model = tiny_gpt(tokenizer=tokenizer, dropout=0.1)
    x = np.array([[1, 2, 3, 4]], "int32")
    loaded = assert_keras_save_load(model, x, tmp_path)
    assert loaded.tokenizer.get_vocabulary() == tokenizer.get_vocabulary()
    assert loaded.generate("abc", max_new_tokens=4) == model.generate("abc", max_new_tokens=4)


def test_keras_save_load_with_a_sentencepiece_tokenizer(tmp_path):
    from kerastune.data import train_sentencepiece_tokenizer
    from kerastune.data.text_corpus import default_corpus

    tokenizer = train_sentencepiece_tokenizer(default_corpus()[:20_000], vocabulary_size=400)
    model = tiny_gpt(vocabulary_size=400, tokenizer=tokenizer)  # its vocabulary is an asset, loaded after the model
    loaded = assert_keras_save_load(model, np.array([[1, 2, 3, 4]], "int32"), tmp_path)
    assert loaded.tokenizer.get_vocabulary() == tokenizer.get_vocabulary()
    assert loaded.generate("The ", max_new_tokens=4) == model.generate("The ", max_new_tokens=4)
    with pytest.raises(ValueError, match="tokenizer has 400 tokens but vocabulary_size=11"):
        tiny_gpt(tokenizer=tokenizer)


def test_perplexity_weighs_tokens_by_a_loss_mask():
    model = tiny_gpt()
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 11, (2, 8)).astype("int32"), rng.integers(0, 11, (2, 8)).astype("int32")
    weight = (rng.random((2, 8)) < 0.4).astype("float32")
    losses = token_cross_entropy(model(x), y)
    expected = math.exp((losses * weight).sum() / weight.sum())  # the counted tokens only
    assert model.perplexity([(x, y, weight)]) == pytest.approx(expected, rel=1e-5)


def test_trains_under_mixed_bfloat16():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = tiny_gpt(num_layers=1)  # one block: XLA compile time grows with depth
    # jit_compile=True: the causal LM recipe's default, and GPT's one XLA-compiled train step in the suite
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True)
    x = np.random.default_rng(0).integers(0, 11, (4, 8)).astype("int32")
    history = model.fit(x, x, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model(x).dtype == "float32"


def test_without_bias_has_no_bias_or_layer_norm_offset():
    model = tiny_gpt(use_bias=False)
    names = [v.path for v in model.weights]
    assert not any(n.endswith(("bias", "beta")) for n in names)
    h, v, t, L = 16, 11, 8, 2
    assert model.count_params() == v * h + t * h + L * (4 * h * h + 2 * h * 4 * h + 2 * h) + h


def test_rotary_positions_replace_the_position_table_and_stay_causal(tmp_path):
    model = tiny_gpt(position_encoding="rotary")
    assert model.position_embedding is None
    assert model.count_params() == tiny_gpt().count_params() - 8 * 16  # no (sequence, hidden) table
    x = np.random.default_rng(0).integers(0, 11, (2, 8)).astype("int32")
    changed = x.copy()
    changed[:, 5:] = (changed[:, 5:] + 1) % 11
    np.testing.assert_allclose(np.asarray(model(changed))[:, :5], np.asarray(model(x))[:, :5], atol=1e-6)
    # Order matters: without positions, causal attention at the last token would see the same set
    # of keys for [1, 2, 3] and [2, 1, 3] and give the same logits.
    last = lambda ids: np.asarray(model(np.asarray([ids], "int32")))[0, -1]
    assert not np.allclose(last([1, 2, 3]), last([2, 1, 3]), atol=1e-5)
    assert_keras_save_load(model, x, tmp_path)
    assert reference_greedy(model, [1, 2, 3], 10) == model.generate([[1, 2, 3]], max_new_tokens=10)[0]
    with pytest.raises(ValueError, match="position_encoding must be one of"):
        tiny_gpt(position_encoding="alibi")


@pytest.mark.parametrize("position_encoding", ["learned", "rotary"])
def test_call_with_cache_gives_the_full_pass_logits_step_by_step(position_encoding):
    model = tiny_gpt(position_encoding=position_encoding)
    randomize_weights(model.weights, np.random.default_rng(0), 0.3)  # far from uniform logits
    ids = np.random.default_rng(1).integers(0, 11, (2, 8)).astype("int32")
    expected = np.asarray(model(ids))
    logits, cache = model.call_with_cache(ids[:, :3], model.empty_cache(2, 8), 0)
    steps = [np.asarray(logits)]
    for t in range(3, 8):
        logits, cache = model.call_with_cache(ids[:, t:t + 1], cache, t)
        steps.append(np.asarray(logits))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="a cache holds 1 to sequence_length=8 positions"):
        model.empty_cache(2, 9)


@pytest.mark.parametrize("position_encoding", ["learned", "rotary"])
def test_cached_generation_gives_the_reference_tokens_and_runs_one_token_per_step(position_encoding):
    model = tiny_gpt(position_encoding=position_encoding)
    # Weights (seed 5) whose greedy text varies and that tell a cache at the wrong position apart (checked).
    randomize_weights(model.weights, np.random.default_rng(5), 1.0)
    prompts = [[1, 2], [3, 4, 5, 6, 7]]  # ragged prompts; 5 + 6 > sequence_length: the crop takes over
    out = model.generate(prompts, max_new_tokens=6)
    assert out == [reference_greedy(model, p, 6) for p in prompts]
    assert out == model.generate(prompts, max_new_tokens=6, use_cache=False)
    with pytest.raises(ValueError, match="use_cache must be True or False. Received: use_cache='no'"):
        model.generate(prompts, use_cache="no")
    # Eagerly, count what runs: one prefill of the 2 tokens both prompts have, one token per step while
    # the text fits (positions 2..7), then the cropped window of sequence_length for the rest.
    seen = {"cached": [], "full": []}
    call_with_cache, call = model.call_with_cache, model.call

    def counting_cached(token_ids, cache, index):
        seen["cached"].append(int(ops.shape(token_ids)[1]))
        return call_with_cache(token_ids, cache, index)

    def counting_full(token_ids, *args, **kwargs):
        seen["full"].append(int(ops.shape(token_ids)[1]))
        return call(token_ids, *args, **kwargs)

    object.__setattr__(model, "call_with_cache", counting_cached)
    object.__setattr__(model, "call", counting_full)
    token_ids = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 7]], "int32")
    ids, lengths = generate_token_ids(model, token_ids, token_ids > 0, 6, make_sampler("greedy"))
    assert seen == {"cached": [2] + [1] * 6, "full": [8] * 3}
    assert [np.asarray(ids)[i, :n].tolist() for i, n in enumerate(np.asarray(lengths))] == out
