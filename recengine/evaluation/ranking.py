"""Ranked-retrieval metrics: Recall@K and AP@K / mAP@K of ranked item ids against each query's relevant ids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from recengine.errors import InvalidInputError
from recengine.evaluation.metrics import IntArray, Rankings, RelevantIds, _id_array, _positive_int


def _relevant_ids(relevant: RelevantIds, name: str) -> IntArray:
    """Distinct relevant ids; a query with none has no defined recall or AP, so it is refused."""
    ids = np.unique(_id_array(relevant, name))
    if ids.size == 0:
        raise InvalidInputError(f"{name} is empty: a query needs at least one relevant item")
    return ids


def _top_k_hits(ranked: npt.ArrayLike, relevant: IntArray, k: int, name: str) -> npt.NDArray[np.bool_]:
    """Hit flags of the first k positions; a repeated id is a miss, so duplicates never earn twice."""
    top = _id_array(ranked, name)[:k]
    first_occurrence = np.zeros(top.size, dtype=bool)
    first_occurrence[np.unique(top, return_index=True)[1]] = True
    return first_occurrence & np.isin(top, relevant)


def _recall(hits: npt.NDArray[np.bool_], n_relevant: int) -> float:
    return float(hits.sum()) / n_relevant


def _average_precision(hits: npt.NDArray[np.bool_], n_relevant: int, k: int) -> float:
    precision_at_i = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float(precision_at_i[hits].sum()) / min(n_relevant, k)


def recall_at_k(ranked: npt.ArrayLike, relevant: RelevantIds, k: int) -> float:
    """Recall@K of one query: |relevant ∩ top-k| / |relevant|.

    Duplicates in ``ranked`` count once: a position holding an id already seen higher up is a miss (it still
    takes one of the k slots). A ranking shorter than k is scored on what it has.

    Args:
        ranked: (L,) int array of item ids, best first; L may be more or less than k, or 0.
        relevant: A set or (R,) int array of relevant item ids, R >= 1 (duplicates ignored).
        k: Cut-off, >= 1.

    Returns:
        Recall in [0, 1]; below 1 whenever more than k items are relevant.

    Raises:
        InvalidInputError: k < 1 or not an integer; ``relevant`` empty; either input not 1-D integer ids.
    """
    cutoff = _positive_int(k, "k")
    ids = _relevant_ids(relevant, "relevant")
    return _recall(_top_k_hits(ranked, ids, cutoff, "ranked"), ids.size)


def average_precision_at_k(ranked: npt.ArrayLike, relevant: RelevantIds, k: int) -> float:
    """AP@K of one query: (1 / min(|relevant|, k)) Σ_{i<=k} P@i · rel_i.

    P@i is the fraction of the first i positions that are hits and rel_i is 1 when position i is a hit. The
    min(|relevant|, k) normaliser is the standard one (RecBole, implicit, ml_metrics), so a ranking that fills
    its top k with relevant items scores 1 even when more than k are relevant. Duplicates in ``ranked`` count
    once, as in :func:`recall_at_k`. With exactly one relevant item this is 1 / its rank (0 beyond k).

    Args:
        ranked: (L,) int array of item ids, best first; L may be more or less than k, or 0.
        relevant: A set or (R,) int array of relevant item ids, R >= 1 (duplicates ignored).
        k: Cut-off, >= 1.

    Returns:
        Average precision in [0, 1].

    Raises:
        InvalidInputError: As for :func:`recall_at_k`.
    """
    cutoff = _positive_int(k, "k")
    ids = _relevant_ids(relevant, "relevant")
    return _average_precision(_top_k_hits(ranked, ids, cutoff, "ranked"), ids.size, cutoff)


def _per_query_hits(
    rankings: Rankings, relevants: Sequence[RelevantIds], k: int
) -> list[tuple[npt.NDArray[np.bool_], int]]:
    """(hit flags, number relevant) of every query, checking the two sequences line up."""
    if len(rankings) != len(relevants):
        raise InvalidInputError(f"rankings has {len(rankings)} queries but relevants has {len(relevants)}")
    if len(rankings) == 0:
        raise InvalidInputError("rankings is empty: no queries to average over")
    out = []
    for i, (ranked, relevant) in enumerate(zip(rankings, relevants, strict=True)):
        ids = _relevant_ids(relevant, f"relevants[{i}]")
        out.append((_top_k_hits(ranked, ids, k, f"rankings[{i}]"), int(ids.size)))
    return out


def mean_recall_at_k(rankings: Rankings, relevants: Sequence[RelevantIds], k: int) -> float:
    """Recall@K averaged over queries (each query weighs the same; see :func:`recall_at_k`).

    Args:
        rankings: N rankings, each an (L_i,) int array of item ids best first; an (N, L) int array also works.
        relevants: N sets or 1-D int arrays of relevant ids, each non-empty.
        k: Cut-off, >= 1.

    Returns:
        Mean recall in [0, 1].

    Raises:
        InvalidInputError: No queries, the two lengths differ, k < 1, or a query fails :func:`recall_at_k`'s
            checks (the message names the query index).
    """
    cutoff = _positive_int(k, "k")
    return float(np.mean([_recall(hits, n) for hits, n in _per_query_hits(rankings, relevants, cutoff)]))


def map_at_k(rankings: Rankings, relevants: Sequence[RelevantIds], k: int) -> float:
    """mAP@K: :func:`average_precision_at_k` averaged over queries (each query weighs the same).

    Args:
        rankings: N rankings, each an (L_i,) int array of item ids best first; an (N, L) int array also works.
        relevants: N sets or 1-D int arrays of relevant ids, each non-empty.
        k: Cut-off, >= 1.

    Returns:
        Mean average precision in [0, 1].

    Raises:
        InvalidInputError: As for :func:`mean_recall_at_k`.
    """
    cutoff = _positive_int(k, "k")
    per_query = _per_query_hits(rankings, relevants, cutoff)
    return float(np.mean([_average_precision(hits, n, cutoff) for hits, n in per_query]))
