"""Paired differences between two scorers: the clustered standard error against hand computation, its behaviour
under repeated and independent questions, its coverage, bad input, and the protocol's per-question credit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recengine.errors import InvalidInputError
from recengine.evaluation.paired import Difference, compare, paired_difference
from recengine.evaluation.protocol import build_questions, evaluate, evaluate_detailed
from tests.test_protocol import AntiOracleScorer, OracleScorer, TableScorer, random_data


def test_hand_computed_clustered_error() -> None:
    # Differences 1, 0 (user 7) and 0, 0, 1 (user 9): mean 2/5; user sums of deviations 1 - 4/5 = 1/5 and
    # 1 - 6/5 = -1/5; se = sqrt(2 / 1 * (1/25 + 1/25)) / 5.
    result = paired_difference([1, 1, 0, 1, 1], [0, 1, 0, 1, 0], [7, 7, 9, 9, 9])
    assert result.value == pytest.approx(0.4)
    assert result.se == pytest.approx(math.sqrt(2 * 2 / 25) / 5)
    assert (result.questions, result.users) == (5, 2)


def test_one_question_per_user_is_the_textbook_standard_error() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random(50), rng.random(50)
    result = paired_difference(a, b, np.arange(50))
    d = a - b
    assert result.value == pytest.approx(d.mean())
    assert result.se == pytest.approx(d.std(ddof=1) / math.sqrt(50))


def test_repeating_each_users_questions_does_not_shrink_the_error() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 2, 40), rng.integers(0, 2, 40)
    once = paired_difference(a, b, np.arange(40))
    ten_times = paired_difference(np.repeat(a, 10), np.repeat(b, 10), np.repeat(np.arange(40), 10))
    assert ten_times.value == pytest.approx(once.value)
    assert ten_times.se == pytest.approx(once.se)
    # Treated as 400 independent questions the same data would look three times as certain.
    assert paired_difference(np.repeat(a, 10), np.repeat(b, 10), np.arange(400)).se < once.se / 3


def test_identical_scorers_differ_by_exactly_nothing() -> None:
    credit = np.array([1.0, 0.0, 0.5, 1.0])
    result = paired_difference(credit, credit, [0, 0, 1, 1])
    assert (result.value, result.se) == (0.0, 0.0)
    assert math.isnan(result.z)
    assert paired_difference([1, 1], [0, 0], [0, 1]).z == math.inf


def test_intervals_cover_the_true_difference() -> None:
    # Users whose own skill gap varies around 0.05; questions within a user share it (clustered). Over 400
    # draws, about 95% of the +- 1.96 se intervals hold 0.05; an i.i.d. error would cover far less.
    rng = np.random.default_rng(2)
    covered = iid_covered = 0
    for _ in range(400):
        users = np.repeat(np.arange(60), 20)
        gap = 0.05 + rng.normal(0, 0.2, 60)[users]
        a = (rng.random(len(users)) < np.clip(0.5 + gap / 2, 0, 1)).astype(float)
        b = (rng.random(len(users)) < np.clip(0.5 - gap / 2, 0, 1)).astype(float)
        result = paired_difference(a, b, users)
        covered += abs(result.value - 0.05) <= 1.96 * result.se
        iid = paired_difference(a, b, np.arange(len(users)))
        iid_covered += abs(iid.value - 0.05) <= 1.96 * iid.se
    assert 0.91 <= covered / 400 <= 0.98
    assert iid_covered / 400 < 0.85


@pytest.mark.parametrize(
    ("a", "b", "users", "message"),
    [
        ([1, 0], [1], [0, 1], "b must be one value per question"),
        ([1, 0], [1, 0], [0], "a must be one value per question"),
        ([[1, 0]], [1, 0], [0, 1], "a must be one value per question"),
        ([1, np.nan], [1, 0], [0, 1], "must be finite"),
        ([1, 0], [1, 0], [0.5, 1.5], "users must be integer ids"),
        ([1, 0], [1, 0], [3, 3], "at least two users"),
    ],
)
def test_bad_input_is_refused(a: list, b: list, users: list, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        paired_difference(a, b, users)


def test_str_reads_as_a_difference_with_its_error() -> None:
    assert str(Difference(0.0123, 0.0045, 10, 3)) == "+0.0123 ± 0.0045"


def test_per_question_credit_is_what_the_metrics_average() -> None:
    data = random_data(4)
    q = build_questions(data, seed=4)
    scorer = TableScorer(data, seed=3)
    detailed = evaluate_detailed(scorer, data, q, k=5, seed=4)
    assert detailed.metrics == evaluate(scorer, data, q, k=5, seed=4)
    assert set(detailed.per_question) == {"fitb", "pfitb", "recall5", "map5"}
    for metric, credit in detailed.per_question.items():
        assert credit.shape == (len(q),)
        assert credit.mean() == pytest.approx(detailed.metrics[metric], abs=1e-12)


def test_an_oracle_beats_an_anti_oracle_by_everything() -> None:
    data = random_data(5)
    q = build_questions(data, seed=5)
    oracle = evaluate_detailed(OracleScorer(data), data, q, k=3, seed=5)
    anti = evaluate_detailed(AntiOracleScorer(data), data, q, k=3, seed=5)
    differences = compare(oracle, anti, q.users)
    assert set(differences) == {"fitb", "pfitb", "recall3", "map3"}
    assert differences["fitb"].value == 1.0 and differences["pfitb"].value == 1.0
    assert differences["recall3"].value == 1.0
    assert differences["fitb"].users == len(np.unique(q.users))
    assert all(d.se == 0.0 for d in differences.values() if d.value == 1.0)
    assert differences["map3"].value > 0
