import json
import math

import numpy as np
import pytest
from sklearn.metrics import label_ranking_average_precision_score

from kerastune.evaluation.retrieval_report import retrieval_report


def brute_force_report(queries, documents, query_labels, document_labels, ks, exclude_self=False):
    """Every metric from its definition, one query at a time, in plain Python."""
    def unit(row):
        norm = math.sqrt(sum(float(x) * float(x) for x in row))
        return [float(x) / norm for x in row]

    documents = [unit(row) for row in documents]
    sums = {name: 0.0 for name in ("mrr", "mean_average_precision")}
    for c in ks:
        sums.update({f"precision_at_{c}": 0.0, f"recall_at_{c}": 0.0, f"hit_rate_at_{c}": 0.0})
    scored = without = 0
    for i, query in enumerate(queries):
        query = unit(query)
        candidates = [j for j in range(len(documents)) if not (exclude_self and j == i)]
        similarity = {j: sum(a * b for a, b in zip(query, documents[j])) for j in candidates}
        ranking = sorted(candidates, key=lambda j: (-similarity[j], j))
        relevant = [document_labels[j] == query_labels[i] for j in ranking]
        total = sum(relevant)
        if total == 0:
            without += 1
            continue
        scored += 1
        for c in ks:
            hits = sum(relevant[:c])
            sums[f"precision_at_{c}"] += hits / c
            sums[f"recall_at_{c}"] += hits / total
            sums[f"hit_rate_at_{c}"] += float(hits > 0)
        sums["mrr"] += 1 / (relevant.index(True) + 1)
        precisions = [sum(relevant[: r + 1]) / (r + 1) for r in range(len(relevant)) if relevant[r]]
        sums["mean_average_precision"] += sum(precisions) / total
    report = {name: value / scored for name, value in sums.items()}
    report.update(num_queries=scored, num_documents=len(documents), queries_without_relevant=without)
    return report


def assert_reports_equal(report, expected):
    assert set(report) == set(expected)
    for name, value in expected.items():
        assert report[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name


def random_set(seed, num_queries=12, num_documents=30, dim=6, num_labels=4):
    rng = np.random.default_rng(seed)
    queries = rng.normal(size=(num_queries, dim))
    documents = rng.normal(size=(num_documents, dim))
    query_labels = rng.integers(0, num_labels, num_queries)
    query_labels[-1] = 99  # no document has this label
    document_labels = rng.integers(0, num_labels, num_documents)
    return queries, documents, query_labels, document_labels


def one_hot_set(seed, num_queries=10, num_documents=40):
    """Embeddings from 3 directions only: similarities are exactly 0 or 1, so most documents tie."""
    rng = np.random.default_rng(seed)
    queries = np.eye(3)[rng.integers(0, 3, num_queries)]
    documents = np.eye(3)[rng.integers(0, 3, num_documents)]
    return queries, documents, rng.integers(0, 3, num_queries), rng.integers(0, 3, num_documents)


def test_matches_a_hand_computation():
    # d0 = [1, 0] "a", d1 = [0, 1] "b", d2 = [1, 1] "a", d3 = [2, 0] "b" (same direction as d0: exact ties).
    documents = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    queries = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, 1.0]])
    # q0 "a": similarities 1, 0, .71, 1 -> ranking d0, d3 (tie: lower index first), d2, d1 -> relevant 1 0 1 0;
    #   P@1 1, P@2 1/2, P@5 2/5 (denominator 5 though only 4 documents), R@1 1/2, R@2 1/2, R@5 1, RR 1,
    #   AP (1/1 + 2/3) / 2 = 5/6.
    # q1 "a": similarities 0, 1, .71, 0 -> ranking d1, d2, d0, d3 -> relevant 0 1 1 0;
    #   P@1 0, P@2 1/2, P@5 2/5, R@1 0, R@2 1/2, R@5 1, RR 1/2, AP (1/2 + 2/3) / 2 = 7/12.
    # q2 "b": similarities -1, 0, -.71, -1 -> ranking d1, d2, d0, d3 -> relevant 1 0 0 1;
    #   P@1 1, P@2 1/2, P@5 2/5, R@1 1/2, R@2 1/2, R@5 1, RR 1, AP (1/1 + 2/4) / 2 = 3/4.
    # q3 "c": no document is labelled "c": left out of the means, counted in queries_without_relevant.
    report = retrieval_report(queries, documents, ["a", "a", "b", "c"], ["a", "b", "a", "b"], k=(1, 2, 5))
    assert report == {
        "precision_at_1": pytest.approx(2 / 3),
        "recall_at_1": pytest.approx(1 / 3),
        "hit_rate_at_1": pytest.approx(2 / 3),
        "precision_at_2": pytest.approx(1 / 2),
        "recall_at_2": pytest.approx(1 / 2),
        "hit_rate_at_2": 1.0,
        "precision_at_5": pytest.approx(2 / 5),
        "recall_at_5": 1.0,
        "hit_rate_at_5": 1.0,
        "mrr": pytest.approx((1 + 1 / 2 + 1) / 3),
        "mean_average_precision": pytest.approx((5 / 6 + 7 / 12 + 3 / 4) / 3),
        "num_queries": 3,
        "num_documents": 4,
        "queries_without_relevant": 1,
    }
    assert json.loads(json.dumps(report)) == report
    assert all(type(value) in (float, int) for value in report.values())


def test_paired_data_with_arange_labels():
    # Query i's one relevant document is document i; q1 finds its pair second, behind d0.
    queries = np.array([[1.0, 0.0], [1.0, 0.2]])
    documents = np.array([[1.0, 0.1], [0.0, 1.0]])
    report = retrieval_report(queries, documents, np.arange(2), np.arange(2), k=1)
    assert report["precision_at_1"] == 0.5
    assert report["mrr"] == 0.75
    assert report["mean_average_precision"] == 0.75


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_data_matches_brute_force_and_sklearn(seed):
    queries, documents, query_labels, document_labels = random_set(seed)
    ks = (1, 3, 10, 35)
    report = retrieval_report(queries, documents, query_labels, document_labels, k=ks)
    expected = brute_force_report(queries, documents, query_labels.tolist(), document_labels.tolist(), ks)
    assert_reports_equal(report, expected)
    assert report["queries_without_relevant"] >= 1

    # Label ranking average precision equals mean average precision for binary relevance without ties.
    relevance = query_labels[:, None] == document_labels[None, :]
    scores = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ (
        documents / np.linalg.norm(documents, axis=1, keepdims=True)
    ).T
    keep = relevance.any(axis=1)  # sklearn scores a query without relevant documents as 1; the report skips it
    lrap = label_ranking_average_precision_score(relevance[keep], scores[keep])
    assert report["mean_average_precision"] == pytest.approx(lrap, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_ties_rank_the_lower_document_index_first(seed):
    queries, documents, query_labels, document_labels = one_hot_set(seed)
    ks = (1, 5, 20)
    report = retrieval_report(queries, documents, query_labels, document_labels, k=ks)
    expected = brute_force_report(queries, documents, query_labels.tolist(), document_labels.tolist(), ks)
    assert_reports_equal(report, expected)


def test_exclude_self_removes_the_diagonal():
    rng = np.random.default_rng(3)
    embeddings = rng.normal(size=(15, 5))
    labels = rng.integers(0, 3, 15)
    labels[4] = 7  # unique: once the query itself is excluded, nothing is relevant to it
    ks = (1, 4, 15, 20)
    report = retrieval_report(embeddings, embeddings, labels, labels, k=ks, exclude_self=True)
    expected = brute_force_report(embeddings, embeddings, labels.tolist(), labels.tolist(), ks, exclude_self=True)
    assert_reports_equal(report, expected)
    assert report["queries_without_relevant"] == 1
    assert report["num_queries"] == 14
    assert report["num_documents"] == 15
    # Without exclusion each query finds itself first.
    assert retrieval_report(embeddings, embeddings, labels, labels, k=1)["precision_at_1"] == 1.0
    assert report["precision_at_1"] < 1.0


@pytest.mark.parametrize("make_set", [random_set, one_hot_set])
def test_query_batch_size_does_not_change_the_result(make_set):
    queries, documents, query_labels, document_labels = make_set(4)
    reports = [
        retrieval_report(queries, documents, query_labels, document_labels, k=(1, 5), query_batch_size=size)
        for size in (1, 3, len(queries) + 10)
    ]
    assert reports[0] == reports[1] == reports[2]
    embeddings = np.concatenate([queries, documents])
    labels = np.concatenate([query_labels, document_labels])
    leave_one_out = [
        retrieval_report(embeddings, embeddings, labels, labels, exclude_self=True, query_batch_size=size)
        for size in (1, 3, len(labels) + 10)
    ]
    assert leave_one_out[0] == leave_one_out[1] == leave_one_out[2]


def test_scaling_rows_does_not_change_the_result():
    queries, documents, query_labels, document_labels = random_set(5)
    rng = np.random.default_rng(6)
    report = retrieval_report(queries, documents, query_labels, document_labels, k=(1, 5))
    scaled = retrieval_report(
        queries * rng.uniform(1e-3, 1e3, (len(queries), 1)),
        documents * rng.uniform(1e-3, 1e3, (len(documents), 1)),
        query_labels,
        document_labels,
        k=(1, 5),
    )
    assert scaled == report
    # Huge and tiny rows neither overflow nor underflow.
    assert retrieval_report(queries * 1e300, documents * 1e-300, query_labels, document_labels, k=(1, 5)) == report


def _unhashable_labels():
    labels = np.empty(2, dtype=object)
    labels[0], labels[1] = [0], [1]
    return labels


GOOD = dict(
    query_embeddings=np.array([[1.0, 0.0], [0.0, 1.0]]),
    document_embeddings=np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
    query_labels=np.array([0, 1]),
    document_labels=np.array([0, 1, 1]),
)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(query_embeddings=np.array([1.0, 0.0])), "query_embeddings.shape=\\(2,\\)"),
        (dict(query_embeddings=np.zeros((0, 2)), query_labels=np.array([])), "query_embeddings.shape=\\(0, 2\\)"),
        (dict(document_embeddings=np.ones((3, 4))), "same embedding width.*document_embeddings.shape=\\(3, 4\\)"),
        (dict(document_embeddings=[["a", "b"]] * 3), "document_embeddings must be a 2-D array of numbers"),
        (dict(document_embeddings=np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])), "document_embeddings row 1"),
        (dict(query_embeddings=np.array([[1.0, 0.0], [np.nan, 1.0]])), "query_embeddings row 1 .*\\[1, 0\\]=nan"),
        (dict(query_embeddings=np.array([[np.inf, 0.0], [0.0, 1.0]])), "query_embeddings row 0"),
        (dict(query_labels=np.array([0, 1, 1])), "query_labels must be 1-D.*query_labels.shape=\\(3,\\)"),
        (dict(document_labels=np.array([[0], [1], [1]])), "document_labels.shape=\\(3, 1\\)"),
        (dict(query_labels=_unhashable_labels()), "query_labels must hold hashable labels"),
        (dict(query_labels=np.array([5, 6])), "no query has a relevant document"),
        (dict(k=0), "k=0"),
        (dict(k=True), "k=True"),
        (dict(k=2.0), "k=2.0"),
        (dict(k=[]), "k=\\[\\]"),
        (dict(k=[1, -3]), "k=\\[1, -3\\]"),
        (dict(k="5"), "k='5'"),
        (dict(query_batch_size=0), "query_batch_size=0"),
        (dict(query_batch_size=False), "query_batch_size=False"),
        (dict(query_batch_size=2.5), "query_batch_size=2.5"),
        (dict(exclude_self="yes"), "exclude_self='yes'"),
        (dict(exclude_self=True), "exclude_self=True .*num_queries=2, num_documents=3"),
    ],
)
def test_invalid_arguments_raise_clear_errors(change, message):
    with pytest.raises(ValueError, match=message):
        retrieval_report(**{**GOOD, **change})


def test_numpy_ints_and_sequences_are_accepted_for_k():
    by_int = retrieval_report(**GOOD, k=np.int64(2), query_batch_size=np.int32(1))
    by_array = retrieval_report(**GOOD, k=np.array([2, 2]))
    assert by_int == by_array
    assert "precision_at_2" in by_int and "precision_at_1" not in by_int
