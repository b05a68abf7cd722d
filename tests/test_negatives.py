from __future__ import annotations

import numpy as np
import pytest

from recengine.datasets.negatives import other_user_rows, random_complements


def test_random_complements_come_from_the_pool_and_never_equal_the_target() -> None:
    rng = np.random.default_rng(0)
    pool = np.array([10, 11, 12])
    targets = np.array([10, 11, 12] * 200)
    out = random_complements(rng, targets, pool)
    assert np.isin(out, pool).all() and not (out == targets).any()
    counts = np.bincount(out - 10)
    assert counts.min() > 150  # roughly uniform over the other two items of each target's pool


def test_other_user_rows_always_pick_another_user_and_are_deterministic() -> None:
    users = np.array([0, 0, 0, 1, 2, 2])
    rows = other_user_rows(np.random.default_rng(3), users)
    assert (users[rows] != users).all()
    assert (rows == other_user_rows(np.random.default_rng(3), users)).all()
    with pytest.raises(ValueError, match="two users"):
        other_user_rows(np.random.default_rng(0), np.array([4, 4]))
