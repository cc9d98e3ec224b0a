"""Semantic-search metrics of sentence embeddings: precision/recall/hit rate at k, MRR and MAP, as JSON.

Queries rank documents by cosine similarity; a document is relevant to a query when their labels are equal.
The definitions are the usual information-retrieval ones (Manning, Raghavan and Schuetze, "Introduction to
Information Retrieval", 2008, section 8.4), written with numpy only so the report runs without TensorFlow.
"""

import numbers

import numpy as np


def retrieval_report(
    query_embeddings,
    document_embeddings,
    query_labels,
    document_labels,
    k=(1, 10),
    exclude_self=False,
    query_batch_size=1024,
):
    """Returns a JSON-ready dict of retrieval metrics for `query_embeddings` searching `document_embeddings`.

    Rows are compared by cosine similarity; for each query the documents are ranked by descending similarity,
    ties broken by the lower document index. A document is relevant to a query when
    `document_labels[j] == query_labels[i]`. For paired data (query `i` belongs with document `i` only) pass
    `np.arange(n)` as both label arrays. Queries with no relevant document are left out of every mean and
    counted in `queries_without_relevant`.

    Args:
        query_embeddings: float array, shape (num_queries, dim).
        document_embeddings: float array, shape (num_documents, dim).
        query_labels: array of hashable labels (e.g. int ids), shape (num_queries,).
        document_labels: array of hashable labels, shape (num_documents,).
        k: a positive int, or a non-empty sequence of them: the cut-offs of the `*_at_{k}` metrics.
        exclude_self: if True, queries and documents are the same rows (leave-one-out search within one
            set): document `i` is removed from query `i`'s ranking. Needs as many queries as documents.
        query_batch_size: how many queries are scored at once; memory grows as
            `query_batch_size * num_documents`.

    Returns:
        dict of plain floats and ints. For each `k`:
        `precision_at_{k}` (mean fraction of the top `k` that is relevant; the denominator is `k` even when
        fewer than `k` documents can be ranked), `recall_at_{k}` (mean fraction of a query's relevant
        documents found in its top `k`) and `hit_rate_at_{k}` (fraction of queries with a relevant document
        in the top `k`). Then `mrr` (mean reciprocal rank of the first relevant document),
        `mean_average_precision` (mean over queries of the mean, over the query's relevant documents, of
        the precision at that document's rank), `num_queries` (queries scored), `num_documents` (all
        documents given, including the one each query excludes with `exclude_self`) and
        `queries_without_relevant`.

    Example:

    >>> queries = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> documents = np.array([[1.0, 0.1], [0.1, 1.0], [1.0, 1.0]])
    >>> report = retrieval_report(queries, documents, [0, 1], [0, 0, 1], k=1)
    >>> report["precision_at_1"], report["mrr"], report["num_queries"]
    (0.5, 0.75, 2)
    """
    queries = _unit_rows(query_embeddings, "query_embeddings")
    documents = _unit_rows(document_embeddings, "document_embeddings")
    if queries.shape[1] != documents.shape[1]:
        raise ValueError(
            "query_embeddings and document_embeddings must have the same embedding width; embed both with "
            f"the same model. Received: query_embeddings.shape={queries.shape}, "
            f"document_embeddings.shape={documents.shape}"
        )
    query_codes, document_codes = _label_codes(query_labels, queries.shape[0], document_labels, documents.shape[0])
    cutoffs = _cutoffs(k)
    if not isinstance(exclude_self, (bool, np.bool_)):
        raise ValueError(f"exclude_self must be True or False. Received: exclude_self={exclude_self!r}")
    if exclude_self and queries.shape[0] != documents.shape[0]:
        raise ValueError(
            "exclude_self=True searches one set against itself, so it needs as many queries as documents; "
            "pass the same rows as queries and documents, or set exclude_self=False. "
            f"Received: num_queries={queries.shape[0]}, num_documents={documents.shape[0]}"
        )
    if not _is_int(query_batch_size) or query_batch_size < 1:
        raise ValueError(f"query_batch_size must be a positive int. Received: query_batch_size={query_batch_size!r}")

    num_queries, num_documents = queries.shape[0], documents.shape[0]
    per_query = {name: [] for name in ("relevant", "first_hit", "average_precision")}
    per_query["hits"] = {c: [] for c in cutoffs}
    ranks = np.arange(1, num_documents + 1)  # (num_documents,), 1-based rank of each sorted position
    for start in range(0, num_queries, query_batch_size):
        rows = np.arange(start, min(start + query_batch_size, num_queries))
        negative_similarity = queries[rows] @ documents.T  # (batch, num_documents)
        np.negative(negative_similarity, out=negative_similarity)  # ascending sort ranks the most similar first
        relevant = query_codes[rows, None] == document_codes[None, :]  # (batch, num_documents)
        if exclude_self:
            negative_similarity[np.arange(rows.size), rows] = np.inf  # ranked last; never counted as relevant
            relevant[np.arange(rows.size), rows] = False
        relevant = _rank_order(negative_similarity, relevant)  # (batch, num_documents), best match first
        del negative_similarity
        found = np.cumsum(relevant, axis=1, dtype=np.int32)  # (batch, num_documents): relevant within the top r
        total = found[:, -1].copy()  # copies, so that `found` is freed after this batch
        per_query["relevant"].append(total)
        per_query["first_hit"].append(np.argmax(relevant, axis=1) + 1)
        # Average precision: sum of precision@r over the ranks r that hold a relevant document, in place.
        precision = found / ranks  # (batch, num_documents)
        precision *= relevant
        per_query["average_precision"].append(precision.sum(axis=1) / np.maximum(total, 1))
        del precision
        for c in cutoffs:
            per_query["hits"][c].append(found[:, min(c, num_documents) - 1].copy())

    total = np.concatenate(per_query["relevant"])
    scored = total > 0
    if not scored.any():
        raise ValueError(
            "no query has a relevant document (one whose label equals the query's label"
            f"{', other than itself' if exclude_self else ''}), so no metric can be computed; check that "
            "query_labels and document_labels use the same label values. "
            f"Received: query_labels[:5]={np.asarray(query_labels)[:5].tolist()}, "
            f"document_labels[:5]={np.asarray(document_labels)[:5].tolist()}"
        )
    total = total[scored]
    report = {}
    for c in cutoffs:
        hits = np.concatenate(per_query["hits"][c])[scored]
        report[f"precision_at_{c}"] = float(np.mean(hits / c))
        report[f"recall_at_{c}"] = float(np.mean(hits / total))
        report[f"hit_rate_at_{c}"] = float(np.mean(hits > 0))
    report["mrr"] = float(np.mean(1.0 / np.concatenate(per_query["first_hit"])[scored]))
    report["mean_average_precision"] = float(np.mean(np.concatenate(per_query["average_precision"])[scored]))
    report["num_queries"] = int(scored.sum())
    report["num_documents"] = int(num_documents)
    report["queries_without_relevant"] = int(num_queries - scored.sum())
    return report


def _rank_order(keys, relevant):
    """Returns `relevant` (batch, num_documents) reordered by ascending `keys`, equal keys by lower index.

    A stable argsort of every row is about twice as slow as numpy's default one, and the order within a run
    of equal keys only changes a metric when the run mixes relevant and irrelevant documents; so rows are
    sorted fast, and only rows holding such a mixed run are sorted again, stably.
    """
    order = np.argsort(keys, axis=1)
    sorted_keys = np.take_along_axis(keys, order, axis=1)
    ranked = np.take_along_axis(relevant, order, axis=1)
    del order
    mixed_tie = (sorted_keys[:, 1:] == sorted_keys[:, :-1]) & (ranked[:, 1:] != ranked[:, :-1])
    del sorted_keys
    redo = np.flatnonzero(mixed_tie.any(axis=1))
    if redo.size:
        order = np.argsort(keys[redo], axis=1, kind="stable")
        ranked[redo] = np.take_along_axis(relevant[redo], order, axis=1)
    return ranked


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _unit_rows(embeddings, name):
    """Checks `embeddings` is a finite, non-empty 2-D float array and returns its rows scaled to unit L2 norm."""
    try:
        embeddings = np.asarray(embeddings, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a 2-D array of numbers; {error}. Received: {name}={embeddings!r}") from None
    if embeddings.ndim != 2 or embeddings.shape[0] == 0 or embeddings.shape[1] == 0:
        raise ValueError(
            f"{name} must be a 2-D array of shape (num_rows, dim) with at least one row and one column; "
            f"stack one embedding per row. Received: {name}.shape={embeddings.shape}"
        )
    finite = np.isfinite(embeddings).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        column = int(np.flatnonzero(~np.isfinite(embeddings[row]))[0])
        raise ValueError(
            f"{name} row {row} has a non-finite value (nan or inf); cosine similarity needs finite embeddings, "
            f"so fix or drop that row. Received: {name}[{row}, {column}]={embeddings[row, column]}"
        )
    # Divide by the largest |value| first so squaring neither overflows nor underflows.
    scale = np.abs(embeddings).max(axis=1, keepdims=True)  # (num_rows, 1)
    if not scale.all():
        row = int(np.flatnonzero(scale[:, 0] == 0)[0])
        raise ValueError(
            f"{name} row {row} is all zeros, so its cosine similarity is undefined; drop that row or embed "
            f"its text again. Received: norm({name}[{row}])=0.0"
        )
    embeddings = embeddings / scale
    return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)


def _label_codes(query_labels, num_queries, document_labels, num_documents):
    """Maps both label arrays to shared int codes (equal labels get equal codes), one int64 array each."""
    codes = {}
    arrays = []
    for name, labels, expected in (
        ("query_labels", query_labels, num_queries),
        ("document_labels", document_labels, num_documents),
    ):
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.shape[0] != expected:
            embeddings = "query_embeddings" if name == "query_labels" else "document_embeddings"
            raise ValueError(
                f"{name} must be 1-D with one label per row of {embeddings} ({expected} rows). "
                f"Received: {name}.shape={labels.shape}"
            )
        try:
            arrays.append(np.array([codes.setdefault(label, len(codes)) for label in labels.tolist()], np.int64))
        except TypeError as error:
            raise ValueError(
                f"{name} must hold hashable labels such as ints or strings; {error}. "
                f"Received: {name}[:3]={labels[:3].tolist()}"
            ) from None
    return arrays


def _cutoffs(k):
    """Returns `k` as a tuple of distinct positive ints, in the order given."""
    values = (k,) if _is_int(k) else k
    if isinstance(values, (str, bytes)):
        values = None
    try:
        values = list(values)
    except TypeError:
        values = None
    if not values or not all(_is_int(c) and c > 0 for c in values):
        raise ValueError(f"k must be a positive int or a non-empty sequence of positive ints. Received: k={k!r}")
    return tuple(dict.fromkeys(int(c) for c in values))
