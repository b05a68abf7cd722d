"""Evaluation metrics on hand-made cases whose answers are known exactly, plus brute-force cross-checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from recengine.errors import InvalidInputError
from recengine.evaluation import (
    average_precision_at_k,
    candidate_sets,
    compatibility_auc,
    fitb_accuracy,
    fitb_per_question,
    map_at_k,
    mean_recall_at_k,
    recall_at_k,
    retrieval_accuracy,
)

TIGHT = 1e-12


def _brute_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """O(n m) pair count: a positive above a negative wins 1, a tie 1/2."""
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins) / (pos.size * neg.size)


def _sorted_count_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """An independent O((n + m) log m) count by binary search, for inputs too big for the pair count."""
    ordered = np.sort(neg)
    below = np.searchsorted(ordered, pos, side="left")
    tied = np.searchsorted(ordered, pos, side="right") - below
    return float(below.sum() + 0.5 * tied.sum()) / (pos.size * neg.size)


# --- FITB ---------------------------------------------------------------------------------------------------------


def test_fitb_three_questions_two_right() -> None:
    scores = [[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.7, 0.6, 0.5]]
    assert fitb_per_question(scores).tolist() == [1.0, 0.0, 1.0]
    assert fitb_accuracy(scores) == pytest.approx(2 / 3, rel=TIGHT)


def test_fitb_constant_scorer_gets_exactly_one_over_c() -> None:
    assert fitb_accuracy(np.full((7, 4), 0.3)) == 0.25
    assert fitb_accuracy(np.zeros((5, 3))) == pytest.approx(1 / 3, rel=TIGHT)
    assert fitb_per_question(np.ones((2, 5))).tolist() == [0.2, 0.2]


def test_fitb_ties_give_fractional_credit() -> None:
    scores = [
        [0.5, 0.5, 0.1, 0.2],  # true tied with one other: 1/2
        [0.4, 0.4, 0.4, 0.1],  # true tied with two others: 1/3
        [0.1, 0.5, 0.5, 0.0],  # others tie for the maximum, true below: 0
        [0.9, 0.1, 0.1, 0.1],  # ties below the maximum do not matter: 1
    ]
    np.testing.assert_allclose(fitb_per_question(scores), [0.5, 1 / 3, 0.0, 1.0], rtol=TIGHT, atol=0)
    assert fitb_accuracy(scores) == pytest.approx((0.5 + 1 / 3 + 1.0) / 4, rel=TIGHT)


def test_fitb_correct_indices_outside_column_zero() -> None:
    scores = np.array([[0.1, 0.9, 0.3], [0.8, 0.2, 0.5], [0.4, 0.4, 0.1]])
    credit = fitb_per_question(scores, correct=[1, 2, 0])
    assert credit.tolist() == [1.0, 0.0, 0.5]
    assert credit.dtype == np.float64
    assert fitb_accuracy(scores, np.array([1, 2, 0])) == 0.5
    # The default is column 0 for every row.
    assert fitb_per_question(scores).tolist() == fitb_per_question(scores, [0, 0, 0]).tolist() == [0.0, 1.0, 0.5]


def test_fitb_infinities_order_normally_and_int_scores_work() -> None:
    assert fitb_per_question([[-np.inf, -np.inf], [np.inf, 1.0], [1.0, np.inf]]).tolist() == [0.5, 1.0, 0.0]
    assert fitb_accuracy(np.array([[3, 1], [2, 2]], dtype=np.int32)) == 0.75


def test_fitb_single_candidate_is_always_right() -> None:
    assert fitb_accuracy([[0.1], [-3.0]]) == 1.0


# --- retrieval accuracy -------------------------------------------------------------------------------------------


def test_retrieval_accuracy_five_candidates() -> None:
    similarities = np.array(
        [
            [0.9, 0.2, 0.3, 0.1, 0.0],  # ground truth most similar
            [0.5, 0.6, 0.3, 0.1, 0.0],  # a distractor wins
            [0.7, 0.7, 0.1, 0.1, 0.1],  # tied with one distractor: 1/2
            [0.2, 0.2, 0.2, 0.2, 0.2],  # constant: 1/5
        ]
    )
    assert retrieval_accuracy(similarities) == pytest.approx((1 + 0 + 0.5 + 0.2) / 4, rel=TIGHT)
    assert retrieval_accuracy(np.full((3, 5), 0.7)) == pytest.approx(0.2, rel=TIGHT)
    assert retrieval_accuracy(similarities, correct=[1, 1, 1, 4]) == pytest.approx((0 + 1 + 0.5 + 0.2) / 4, rel=TIGHT)


def test_retrieval_accuracy_needs_two_candidates() -> None:
    with pytest.raises(InvalidInputError, match=r"at least 2 candidates.*\(3, 1\)"):
        retrieval_accuracy(np.ones((3, 1)))


# --- compatibility AUC --------------------------------------------------------------------------------------------


def test_auc_extremes() -> None:
    assert compatibility_auc([0.9, 0.8, 0.7], [0.1, 0.2]) == 1.0
    assert compatibility_auc([0.1, 0.2], [0.9, 0.8, 0.7]) == 0.0
    assert compatibility_auc([0.4, 0.4, 0.4], [0.4, 0.4]) == 0.5
    assert compatibility_auc([1.0], [1.0]) == 0.5


def test_auc_small_cases_by_hand() -> None:
    # Pairs: 0.9>0.5, 0.9>0.1, 0.5=0.5 (1/2), 0.5>0.1.
    assert compatibility_auc([0.9, 0.5], [0.5, 0.1]) == 0.875
    # Pairs: 3 beats 2, 2, 0; 1 loses to 2, 2 and beats 0: 4 of 6.
    assert compatibility_auc([3, 1], [2, 2, 0]) == pytest.approx(2 / 3, rel=TIGHT)
    # inf beats -inf and ties inf.
    assert compatibility_auc([np.inf], [-np.inf, np.inf]) == 0.75


@pytest.mark.parametrize("seed", range(20))
def test_auc_matches_brute_force_with_many_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pos = rng.integers(0, 5, size=rng.integers(1, 40)).astype(np.float64)
    neg = rng.integers(0, 4, size=rng.integers(1, 40)).astype(np.float64)
    expected = _brute_auc(pos, neg)
    assert compatibility_auc(pos, neg) == pytest.approx(expected, rel=TIGHT, abs=TIGHT)
    # Swapping the classes mirrors the AUC, and the order of the scores does not matter.
    assert compatibility_auc(neg, pos) == pytest.approx(1 - expected, rel=TIGHT, abs=TIGHT)
    assert compatibility_auc(rng.permutation(pos), rng.permutation(neg)) == pytest.approx(expected, abs=TIGHT)


def test_auc_on_large_inputs_matches_a_binary_search_count() -> None:
    rng = np.random.default_rng(7)
    pos = np.round(rng.normal(0.3, 1.0, size=200_000), 2)
    neg = np.round(rng.normal(0.0, 1.0, size=150_000), 2)
    assert compatibility_auc(pos, neg) == pytest.approx(_sorted_count_auc(pos, neg), rel=TIGHT)


def test_auc_agrees_with_scipy_mann_whitney() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    pos = rng.integers(0, 10, size=57).astype(np.float64)
    neg = rng.integers(0, 8, size=43).astype(np.float64)
    u_statistic = stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic
    assert compatibility_auc(pos, neg) == pytest.approx(u_statistic / (57 * 43), rel=TIGHT)


# --- Recall@K and AP@K --------------------------------------------------------------------------------------------


def test_single_relevant_at_rank_three() -> None:
    ranked = np.array([10, 20, 30, 40])
    assert recall_at_k(ranked, {30}, 2) == 0.0
    assert recall_at_k(ranked, {30}, 3) == 1.0
    assert average_precision_at_k(ranked, {30}, 2) == 0.0
    assert average_precision_at_k(ranked, {30}, 3) == pytest.approx(1 / 3, rel=TIGHT)
    assert average_precision_at_k(ranked, [30], 10) == pytest.approx(1 / 3, rel=TIGHT)


def test_two_relevant_at_ranks_one_and_three() -> None:
    ranked = [10, 20, 30, 40]
    assert average_precision_at_k(ranked, {10, 30}, 3) == pytest.approx((1 + 2 / 3) / 2, rel=TIGHT)
    assert recall_at_k(ranked, {10, 30}, 3) == 1.0
    assert recall_at_k(ranked, {10, 30}, 2) == 0.5
    # Normaliser min(|relevant|, k) = 2: one hit with P@1 = 1.
    assert average_precision_at_k(ranked, {10, 30}, 2) == 0.5


def test_more_relevant_than_k() -> None:
    ranked = [1, 2, 3, 4]
    assert recall_at_k(ranked, {1, 2, 3}, 2) == pytest.approx(2 / 3, rel=TIGHT)
    assert average_precision_at_k(ranked, {1, 2, 3}, 2) == 1.0


def test_missing_relevant_and_short_or_empty_rankings() -> None:
    assert recall_at_k([1, 2, 3], {9}, 3) == 0.0
    assert average_precision_at_k([1, 2, 3], {9}, 3) == 0.0
    assert recall_at_k([5], {5, 6}, 10) == 0.5
    assert average_precision_at_k([5], {5, 6}, 10) == 0.5
    assert recall_at_k([], {5}, 3) == 0.0
    assert average_precision_at_k(np.array([], dtype=np.int64), {5}, 3) == 0.0


def test_duplicates_in_ranked_count_once() -> None:
    # The repeated 5 takes the second slot but earns nothing.
    assert recall_at_k([5, 5, 7], {5, 7}, 2) == 0.5
    assert average_precision_at_k([5, 5, 7], {5, 7}, 2) == 0.5
    assert recall_at_k([5, 5, 7], {5, 7}, 3) == 1.0
    assert average_precision_at_k([5, 5, 7], {5, 7}, 3) == pytest.approx((1 + 2 / 3) / 2, rel=TIGHT)
    assert recall_at_k([5, 5, 5], {5}, 3) == 1.0
    assert average_precision_at_k([5, 5, 5], {5}, 3) == 1.0


def test_relevant_forms_are_equivalent() -> None:
    ranked = np.array([3, 1, 2], dtype=np.int32)
    for relevant in ({1}, frozenset({1}), [1], np.array([1, 1]), {np.int64(1)}, np.array([1], dtype=np.uint16)):
        assert average_precision_at_k(ranked, relevant, np.int64(2)) == 0.5


def test_mean_recall_and_map() -> None:
    rankings = [[1, 2, 3], [4, 5, 6]]
    relevants: list[Any] = [{2}, {7}]
    assert mean_recall_at_k(rankings, relevants, 3) == 0.5
    assert map_at_k(rankings, relevants, 3) == 0.25
    # An (N, L) array and rankings of different lengths both work.
    assert map_at_k(np.array(rankings), relevants, 3) == 0.25
    assert map_at_k([[1, 2, 3], [7]], relevants, 3) == 0.75
    assert mean_recall_at_k([[1], [9, 7]], [{1, 5}, {7}], 1) == 0.25


def test_map_equals_mean_of_per_query_ap() -> None:
    rng = np.random.default_rng(11)
    rankings = [rng.integers(0, 30, size=rng.integers(0, 15)) for _ in range(25)]
    relevants = [set(rng.integers(0, 30, size=rng.integers(1, 5)).tolist()) for _ in range(25)]
    expected_ap = np.mean([average_precision_at_k(r, s, 5) for r, s in zip(rankings, relevants, strict=True)])
    expected_recall = np.mean([recall_at_k(r, s, 5) for r, s in zip(rankings, relevants, strict=True)])
    assert map_at_k(rankings, relevants, 5) == pytest.approx(expected_ap, rel=TIGHT)
    assert mean_recall_at_k(rankings, relevants, 5) == pytest.approx(expected_recall, rel=TIGHT)


# --- candidate sets -----------------------------------------------------------------------------------------------


def test_candidate_sets_shape_truth_and_distractors() -> None:
    true_ids = np.array([100, 200, 300])
    pools = [np.arange(90, 110), np.arange(200, 260), np.array([300, 301, 302, 303, 304])]
    rows = candidate_sets(np.random.default_rng(0), true_ids, pools, 5)
    assert rows.shape == (3, 5)
    assert rows.dtype == np.int64
    assert rows[:, 0].tolist() == [100, 200, 300]
    for row, true_id, pool in zip(rows, true_ids, pools, strict=True):
        assert true_id not in row[1:]
        assert len(set(row.tolist())) == 5
        assert set(row[1:].tolist()) <= set(pool.tolist())
    # The third pool has exactly four ids besides the truth, so all of them are drawn.
    assert sorted(rows[2, 1:].tolist()) == [301, 302, 303, 304]


def test_candidate_sets_ignore_repeats_and_the_true_id_in_pools() -> None:
    rows = candidate_sets(np.random.default_rng(5), [7], [np.array([7, 7, 8, 8, 9, 7])], 3)
    assert rows[0, 0] == 7
    assert sorted(rows[0, 1:].tolist()) == [8, 9]


def test_candidate_sets_deterministic_per_seed() -> None:
    true_ids = np.arange(10)
    pools = [np.arange(1000) for _ in range(10)]
    first = candidate_sets(np.random.default_rng(42), true_ids, pools, 5)
    again = candidate_sets(np.random.default_rng(42), true_ids, pools, 5)
    other = candidate_sets(np.random.default_rng(43), true_ids, pools, 5)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    # Only the pool's ids matter, not their order.
    shuffled = [np.random.default_rng(i).permutation(pool) for i, pool in enumerate(pools)]
    np.testing.assert_array_equal(first, candidate_sets(np.random.default_rng(42), true_ids, shuffled, 5))


def test_candidate_sets_single_column() -> None:
    rows = candidate_sets(np.random.default_rng(0), [4, 5], [[], [5]], 1)
    assert rows.tolist() == [[4], [5]]


def test_candidate_sets_pool_too_small_names_the_question() -> None:
    pools = [np.arange(10), np.array([7, 8, 7])]
    with pytest.raises(InvalidInputError, match=r"question 1: pool has 1 distinct item\(s\) other than the true id 7"):
        candidate_sets(np.random.default_rng(0), [0, 7], pools, 3)


@pytest.mark.parametrize(
    ("rng", "true_ids", "pools", "n_candidates", "message"),
    [
        (np.random.RandomState(0), [1], [[2]], 2, r"rng must be a numpy\.random\.Generator"),
        (0, [1], [[2]], 2, r"rng must be a numpy\.random\.Generator, got int"),
        (np.random.default_rng(0), [1], [[2]], 0, r"n_candidates must be >= 1, got 0"),
        (np.random.default_rng(0), [], [], 2, r"true_ids is empty"),
        (np.random.default_rng(0), [1, 2], [[3]], 2, r"pools has 1 entries but true_ids has 2"),
        (np.random.default_rng(0), [1.5], [[3]], 2, r"true_ids must hold integer ids"),
        (np.random.default_rng(0), [1], [[2.0, 3.0]], 2, r"pools\[0\] must hold integer ids"),
    ],
)
def test_candidate_sets_bad_input(rng: Any, true_ids: Any, pools: Any, n_candidates: int, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        candidate_sets(rng, true_ids, pools, n_candidates)


# --- bad input ----------------------------------------------------------------------------------------------------


def test_invalid_input_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="k must be >= 1"):
        recall_at_k([1], {1}, 0)


@pytest.mark.parametrize(
    ("scores", "correct", "message"),
    [
        ([0.1, 0.2, 0.3], None, r"scores must be 2-D, got shape \(3,\)"),
        (np.zeros((0, 3)), None, r"scores is empty: no questions"),
        (np.zeros((3, 0)), None, r"scores has no candidates"),
        ([[0.1, np.nan], [0.2, 0.3]], None, r"scores contains 1 NaN value\(s\), the first at index \(0, 1\)"),
        ([["a", "b"]], None, r"scores must hold real numbers"),
        ([[0.1, 0.2], [0.3]], None, r"scores is not a numeric array"),
        ([[1 + 1j, 0.0]], None, r"scores must hold real numbers"),
        ([[0.1, 0.2], [0.3, 0.4]], [0], r"correct must have shape \(2,\) to match the scores, got \(1,\)"),
        ([[0.1, 0.2], [0.3, 0.4]], [[0, 1]], r"correct must have shape \(2,\)"),
        ([[0.1, 0.2], [0.3, 0.4]], [0.0, 1.0], r"correct must hold integer column indices"),
        ([[0.1, 0.2], [0.3, 0.4]], [0, 2], r"correct\[1\] = 2 is not a candidate column \(0 to 1\)"),
        ([[0.1, 0.2], [0.3, 0.4]], [-1, 0], r"correct\[0\] = -1 is not a candidate column"),
    ],
)
def test_fitb_bad_input(scores: Any, correct: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        fitb_per_question(scores, correct)
    with pytest.raises(InvalidInputError, match=message):
        fitb_accuracy(scores, correct)


def test_retrieval_accuracy_bad_input_names_similarities() -> None:
    with pytest.raises(InvalidInputError, match=r"similarities contains 1 NaN"):
        retrieval_accuracy([[np.nan, 0.1]])


@pytest.mark.parametrize(
    ("pos", "neg", "message"),
    [
        ([], [0.1], r"positive_scores is empty"),
        ([0.1], [], r"negative_scores is empty"),
        ([0.1, np.nan], [0.2], r"positive_scores contains 1 NaN value\(s\), the first at index \(1,\)"),
        ([0.1], [np.nan, np.nan], r"negative_scores contains 2 NaN"),
        ([[0.1, 0.2]], [0.2], r"positive_scores must be 1-D, got shape \(1, 2\)"),
        ([0.1], 0.2, r"negative_scores must be 1-D, got shape \(\)"),
        ([0.1], ["x"], r"negative_scores must hold real numbers"),
    ],
)
def test_auc_bad_input(pos: Any, neg: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        compatibility_auc(pos, neg)


@pytest.mark.parametrize("metric", [recall_at_k, average_precision_at_k])
@pytest.mark.parametrize(
    ("ranked", "relevant", "k", "message"),
    [
        ([1, 2], {1}, 0, r"k must be >= 1, got 0"),
        ([1, 2], {1}, -3, r"k must be >= 1, got -3"),
        ([1, 2], {1}, 2.5, r"k must be an integer, got 2\.5"),
        ([1, 2], {1}, True, r"k must be an integer, got True"),
        ([1, 2], set(), 2, r"relevant is empty"),
        ([1, 2], [], 2, r"relevant is empty"),
        ([1, 2], {1.5}, 2, r"relevant must hold integer ids"),
        ([[1, 2]], {1}, 2, r"ranked must be 1-D, got shape \(1, 2\)"),
        ([1.0, 2.0], {1}, 2, r"ranked must hold integer ids"),
        ([1, 2], [[1]], 2, r"relevant must be 1-D"),
    ],
)
def test_ranking_metrics_bad_input(metric: Any, ranked: Any, relevant: Any, k: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        metric(ranked, relevant, k)


@pytest.mark.parametrize("metric", [mean_recall_at_k, map_at_k])
@pytest.mark.parametrize(
    ("rankings", "relevants", "k", "message"),
    [
        ([[1], [2]], [{1}], 1, r"rankings has 2 queries but relevants has 1"),
        ([], [], 1, r"rankings is empty"),
        ([[1], [2]], [{1}, set()], 1, r"relevants\[1\] is empty"),
        ([[1], [2.0]], [{1}, {2}], 1, r"rankings\[1\] must hold integer ids"),
        (np.array([1, 2]), [{1}, {2}], 1, r"rankings\[0\] must be 1-D"),
        ([[1], [2]], [{1}, {2}], 0, r"k must be >= 1"),
    ],
)
def test_mean_ranking_metrics_bad_input(metric: Any, rankings: Any, relevants: Any, k: int, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        metric(rankings, relevants, k)
