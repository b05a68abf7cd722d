"""Collaborative filtering wrapper (ALS/BPR over ``implicit``): fitted on two clearly separated user groups."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from recengine.errors import InvalidInputError
from recengine.preferences.cf import CFConfig, ImplicitCF, ModelNotFittedError

N_USERS = 40  # users 0-19 are group A (items 0-9), users 20-39 group B (items 10-19)
N_ITEMS = 20
GROUP_A_ITEMS = np.arange(0, 10)
GROUP_B_ITEMS = np.arange(10, 20)


def two_groups(seed: int = 0) -> csr_matrix:
    """Each user interacted with 6 of their group's 10 items, with counts 1-3; never with the other group's."""
    rng = np.random.default_rng(seed)
    rows, cols, vals = [], [], []
    for user in range(N_USERS):
        pool = GROUP_A_ITEMS if user < N_USERS // 2 else GROUP_B_ITEMS
        for item in rng.choice(pool, size=6, replace=False):
            rows.append(user)
            cols.append(int(item))
            vals.append(float(rng.integers(1, 4)))
    return csr_matrix((vals, (rows, cols)), shape=(N_USERS, N_ITEMS), dtype=np.float32)


def all_scores(model: ImplicitCF) -> np.ndarray:
    users = np.arange(N_USERS)
    candidates = np.broadcast_to(np.arange(N_ITEMS), (N_USERS, N_ITEMS))
    return model.score(users, np.zeros(N_USERS, dtype=np.int64), candidates)


CONFIGS = {
    # Two factors for ALS: enough for two groups, too few to memorise each user's own items (8 would, and then
    # a user's unseen group items fall below the other group's). One thread: BPR's SGD is then deterministic.
    "als": CFConfig(model="als", factors=2, iterations=20, regularization=0.05, seed=0, threads=1),
    "bpr": CFConfig(model="bpr", factors=4, iterations=100, learning_rate=0.05, seed=0, threads=1),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_each_user_ranks_every_item_of_their_group_above_every_item_of_the_other(name: str) -> None:
    model = ImplicitCF(CONFIGS[name]).fit(two_groups())
    scores = all_scores(model)
    assert scores.shape == (N_USERS, N_ITEMS)
    assert np.isfinite(scores).all()
    for user in range(N_USERS):
        own, other = (GROUP_A_ITEMS, GROUP_B_ITEMS) if user < N_USERS // 2 else (GROUP_B_ITEMS, GROUP_A_ITEMS)
        assert scores[user, own].min() > scores[user, other].max(), f"user {user}"
    # The score is the dot product of the factors, whatever the query item.
    expected = model.user_factors @ model.item_factors.T
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    other_queries = np.full(N_USERS, 7, dtype=np.int64)
    candidates = np.broadcast_to(np.arange(N_ITEMS), (N_USERS, N_ITEMS))
    np.testing.assert_array_equal(model.score(np.arange(N_USERS), other_queries, candidates), scores)


def test_factor_shapes() -> None:
    als = ImplicitCF(CONFIGS["als"]).fit(two_groups())
    assert als.user_factors.shape == (N_USERS, 2)
    assert als.item_factors.shape == (N_ITEMS, 2)
    assert als.user_factors.dtype == np.float64


def test_same_seed_gives_the_same_als_factors() -> None:
    a = ImplicitCF(CONFIGS["als"]).fit(two_groups())
    b = ImplicitCF(CONFIGS["als"]).fit(two_groups())
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)


def test_recalculate_user_places_a_newcomer_in_the_group_they_liked() -> None:
    model = ImplicitCF(CONFIGS["als"]).fit(two_groups())
    factors = model.recalculate_user(np.arange(5, dtype=np.int64))
    assert factors.shape == (2,)
    assert factors.dtype == np.float64
    scores = model.item_factors @ factors
    assert scores[5:10].min() > scores[10:20].max()
    # Weights are accepted and give a vector of the same size; a newcomer of group B lands in group B.
    b = model.recalculate_user(np.array([12, 15, 17], dtype=np.int64), np.array([1.0, 2.0, 3.0]))
    b_scores = model.item_factors @ b
    assert b_scores[[10, 11, 13, 14, 16, 18, 19]].min() > b_scores[GROUP_A_ITEMS].max()


def test_recalculate_user_with_no_items_gives_a_vector() -> None:
    model = ImplicitCF(CONFIGS["als"]).fit(two_groups())
    factors = model.recalculate_user(np.zeros(0, dtype=np.int64))
    assert factors.shape == (2,)
    np.testing.assert_allclose(factors, 0.0, atol=1e-6)


def test_fitting_an_empty_matrix_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="empty interaction matrix"):
        ImplicitCF(CONFIGS["als"]).fit(csr_matrix((0, 5), dtype=np.float32))
    with pytest.raises(InvalidInputError, match="empty interaction matrix"):
        ImplicitCF(CONFIGS["bpr"]).fit(csr_matrix((3, 5), dtype=np.float32))


def test_unknown_model_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="unknown collaborative filtering model 'svd'"):
        ImplicitCF(CFConfig(model="svd")).fit(two_groups())  # type: ignore[arg-type]


def test_recalculate_user_needs_als() -> None:
    model = ImplicitCF(CONFIGS["bpr"]).fit(two_groups())
    with pytest.raises(InvalidInputError, match="needs ALS"):
        model.recalculate_user(np.arange(3, dtype=np.int64))


@pytest.mark.parametrize("items", [[0, 20], [-1, 3], [25]])
def test_recalculate_user_refuses_item_indices_out_of_range(items: list[int]) -> None:
    model = ImplicitCF(CONFIGS["als"]).fit(two_groups())
    with pytest.raises(InvalidInputError, match=r"item indices must be in \[0, 20\)"):
        model.recalculate_user(np.asarray(items, dtype=np.int64))


def test_use_before_fit_raises_model_not_fitted() -> None:
    model = ImplicitCF(CONFIGS["als"])
    with pytest.raises(ModelNotFittedError):
        _ = model.user_factors
    with pytest.raises(ModelNotFittedError):
        _ = model.item_factors
    with pytest.raises(ModelNotFittedError):
        model.recalculate_user(np.arange(3, dtype=np.int64))
    with pytest.raises(ModelNotFittedError):
        model.score(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros((1, 2), dtype=np.int64))


def test_cf_top_items_is_a_candidate_source_ordered_by_affinity() -> None:
    import scipy.sparse as sp

    from recengine.preferences.cf import CFConfig, ImplicitCF

    rows = [u for u in range(20) for _ in range(5)]
    cols = [(u % 2) * 10 + j for u in range(20) for j in range(5)]
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(20, 20))
    cf = ImplicitCF(CFConfig(factors=2, iterations=20, seed=0)).fit(matrix)
    pool = np.arange(20)
    top = cf.top_items(cf.user_factors[0], pool, 5)
    scores = cf.item_factors[top] @ cf.user_factors[0]
    assert len(top) == 5 and (np.diff(scores) <= 0).all()
    assert set(top) <= set(range(10))  # user 0's group
    assert len(cf.top_items(cf.user_factors[0], pool[:3], 10)) == 3
