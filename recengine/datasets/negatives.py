"""Negatives of the seed paper (personalized-fashion-design, Eq. 6-7), shared by training and evaluation.

* Eq. 6, **random complement**: for a positive (user, query, complement), the complement is replaced by a
  random item of the same slot (category) — the pair is not compatible.
* Eq. 7, **another user's outfit**: the (query, complement) pair of a different user, scored for this user —
  compatible for someone, but not this user's taste.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from recengine.errors import InvalidInputError

IntArray = NDArray[np.int64]


def random_complements(rng: np.random.Generator, targets: IntArray, pool: IntArray) -> IntArray:
    """(N,) items drawn uniformly from ``pool`` (the target slot's items), never equal to the target (Eq. 6)."""
    if np.unique(pool).size < 2:
        raise InvalidInputError("Eq. 6 negatives need a pool of at least two distinct items")
    out = pool[rng.integers(0, len(pool), size=len(targets))]
    same = out == targets
    while same.any():
        out[same] = pool[rng.integers(0, len(pool), size=int(same.sum()))]
        same = out == targets
    return out


def other_user_rows(rng: np.random.Generator, users: IntArray) -> IntArray:
    """(N,) row indices j with ``users[j] != users[i]``: the positive of another user for each row (Eq. 7)."""
    if len(np.unique(users)) < 2:
        raise InvalidInputError("Eq. 7 negatives need positives of at least two users")
    other = rng.integers(0, len(users), size=len(users))
    clash = users[other] == users
    while clash.any():
        other[clash] = rng.integers(0, len(users), size=int(clash.sum()))
        clash = users[other] == users
    return other
