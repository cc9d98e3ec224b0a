import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerastune.data.masked_lm_dataset import (MaskedLMDataset, hold_out_documents, next_sentence_pairs,
                                              split_documents)

WORDS = [f"w{i}" for i in range(40)]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS


def test_split_documents_at_wikitext_titles():
    text = " \n = Lobster = \n \n A big one . It is blue ! \n = = Habitat = = \n Sea floor .\n = Crab = \n Small .\n"
    assert split_documents(text) == [["A big one .", "It is blue !", "Sea floor ."], ["Small ."]]
    assert split_documents("a b . c d\n\ne f\n") == [["a b .", "c d"], ["e f"]]


def test_nsp_pairs_half_true_next_half_random_other_document():
    documents = [[f"d{d}s{i}" for i in range(5)] for d in range(50)]
    first, second, labels, weights = next_sentence_pairs(documents, seed=0)
    real = [(a, b, l) for a, b, l, w in zip(first, second, labels, weights) if w]
    assert len(real) == 50 * 4 and sum(weights) == len(real)  # last sentences have no next: weight 0
    assert 0.4 < np.mean([l for _, _, l in real]) < 0.6
    for a, b, label in real:
        same_doc = a.split("s")[0] == b.split("s")[0]
        assert (label == 1) == (same_doc and int(b.split("s")[1]) == int(a.split("s")[1]) + 1)
        assert label == 1 or not same_doc


def test_masking_rates_and_dynamic_padding():
    tf.random.set_seed(0)
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB)
    rng = np.random.default_rng(0)
    documents = [[" ".join(rng.choice(WORDS, rng.integers(5, 30))) for _ in range(4)] for _ in range(100)]
    data = MaskedLMDataset.from_documents(documents, tokenizer, batch_size=400, sequence_length=64,
                                          mask_selection_length=20, training=False)
    x, y, w = next(iter(data.dataset))
    assert x["token_ids"].shape[1] % 8 == 0 and x["token_ids"].shape[1] <= 64
    mask = w["mlm"].numpy() > 0
    selectable = (x["padding_mask"].numpy().sum() - 400 * 2 - int(w["nsp"].numpy().sum()))  # minus [CLS]/[SEP]s
    assert abs(mask.sum() / selectable - 0.15) < 0.02
    positions = x["mask_positions"].numpy()
    at = np.take_along_axis(x["token_ids"].numpy(), positions, 1)[mask]
    original = y["mlm"].numpy()[mask]
    assert abs((at == 4).mean() - 0.8) < 0.04  # [MASK]
    assert abs((at == original).mean() - 0.1) < 0.04  # kept (a random draw may also hit the original)
    assert set(original) <= set(range(5, len(VOCAB)))  # special tokens never selected


def test_validation_documents_are_a_seeded_draw_across_the_corpus():
    # 100 single-sentence documents (one file) then 100 multi-sentence ones (another file).
    documents = [[f"short {i}."] for i in range(100)] + [[f"long {i} a.", f"long {i} b."] for i in range(100)]
    train, validation = hold_out_documents(documents, 0.1, seed=3)
    assert len(validation) == 20 and len(train) == 180
    assert sorted(map(str, train + validation)) == sorted(map(str, documents))  # a partition
    assert any(len(d) == 1 for d in validation) and any(len(d) == 2 for d in validation)  # not just the head
    assert hold_out_documents(documents, 0.1, seed=3) == (train, validation)
    assert hold_out_documents(documents, 0.1, seed=4)[1] != validation
    assert [documents.index(d) for d in validation] == sorted(documents.index(d) for d in validation)
    with pytest.raises(ValueError, match="validation_fraction must be in"):
        hold_out_documents(documents, 1.0)


def test_pack_token_ids_fills_the_budget_in_order_and_drops_nothing():
    from kerastune.data.masked_lm_dataset import pack_token_ids

    rng = np.random.default_rng(0)
    sentences = [list(rng.integers(5, 40, rng.integers(1, 30))) for _ in range(300)]
    rows = pack_token_ids(sentences, 20)
    assert [t for r in rows for t in r] == [t for s in sentences for t in s]  # same tokens, same order
    assert max(map(len, rows)) == 20
    for row, following in zip(rows, rows[1:]):
        # greedy: a row ends early only when the next sentence would not fit
        assert len(row) == 20 or len(row) + min(len(following), 21) > 20
    with pytest.raises(ValueError, match="budget must be a positive"):
        pack_token_ids(sentences, 0)


def test_packed_examples_are_full_single_segments_of_all_sentences():
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB)
    documents = [[" ".join(WORDS[i % 30: i % 30 + 3])] for i in range(200)]  # 200 three-word phrases
    data = MaskedLMDataset.from_documents(documents, tokenizer, batch_size=8, sequence_length=32,
                                          next_sentence=False, pack_sentences=True, training=False)
    assert data.num_examples == 20 and data.num_pairs == 0  # 600 tokens: 10 phrases (30 tokens) per row
    seen = []
    for x, y, w in data.dataset:
        ids, mask = x["token_ids"].numpy(), x["padding_mask"].numpy()
        assert (ids[:, 0] == 2).all() and not x["segment_ids"].numpy().any() and set(w) == {"mlm"}
        restored = ids.copy()
        positions, selected = x["mask_positions"].numpy(), w["mlm"].numpy() > 0
        np.put_along_axis(restored, positions, np.where(selected, y["mlm"].numpy(), np.take_along_axis(ids, positions, 1)), 1)
        for row, m in zip(restored, mask):
            row = row[m == 1]
            assert row[-1] == 3 and len(row) <= 32
            seen += list(row[1:-1])
    assert seen == [VOCAB.index(t) for d in documents for t in d[0].split()]
    with pytest.raises(ValueError, match="pass next_sentence=False"):
        MaskedLMDataset.from_documents(documents, tokenizer, pack_sentences=True)
