"""Is scorer A better than scorer B on the same questions? Paired differences with user-clustered standard errors.

Two scorers evaluated on the same questions differ by the mean of their per-question differences. The questions
of one user are not independent draws (a user's tastes make a model right or wrong on many of them at once), so
the standard error of that mean is the cluster-robust one, users as clusters (the sandwich estimator with the
usual G / (G - 1) small-sample factor): with one question per user it is the textbook standard error of a
mean, and repeating each user's questions does not shrink it, as it would an i.i.d. one. It measures how much the
difference would move on another draw of users and questions from the same population, not how much it would
move if the models were trained again with another seed; that spread is measured by training again
(``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recengine.errors import InvalidInputError
from recengine.evaluation.protocol import Evaluation


@dataclass(frozen=True)
class Difference:
    """mean(A) - mean(B) of one metric over the same questions, and its user-clustered standard error."""

    value: float
    se: float
    questions: int
    users: int

    @property
    def z(self) -> float:
        """The difference in standard errors (inf for a nonzero difference with no spread, nan for 0 / 0)."""
        if self.se > 0:
            return self.value / self.se
        return math.nan if self.value == 0 else math.copysign(math.inf, self.value)

    def __str__(self) -> str:
        return f"{self.value:+.4f} ± {self.se:.4f}"


def paired_difference(a: npt.ArrayLike, b: npt.ArrayLike, users: npt.ArrayLike) -> Difference:
    """mean(a - b) over the questions and its standard error, the questions clustered by ``users``.

    Args:
        a, b: (N,) per-question credit of two scorers on the same N questions (e.g. hit or miss in the top K).
        users: (N,) the user (any integer id) each question belongs to.

    Raises:
        InvalidInputError: shapes differ, a value is not finite, or fewer than two users.
    """
    arrays = [np.asarray(x, dtype=np.float64) for x in (a, b)]
    groups = np.asarray(users)
    for name, x in zip(("a", "b", "users"), (*arrays, groups), strict=True):
        if x.ndim != 1 or len(x) != len(groups):
            raise InvalidInputError(f"{name} must be one value per question ({len(groups)}), got shape {x.shape}")
    if not all(np.isfinite(x).all() for x in arrays):
        raise InvalidInputError("per-question credit must be finite")
    if not np.issubdtype(groups.dtype, np.integer):
        raise InvalidInputError(f"users must be integer ids, got {groups.dtype}")
    ids, cluster = np.unique(groups, return_inverse=True)
    if len(ids) < 2:
        raise InvalidInputError(f"a clustered standard error needs at least two users, got {len(ids)}")
    d = arrays[0] - arrays[1]
    mean = float(d.mean())
    residual = np.bincount(cluster, d - mean, minlength=len(ids))  # each user's summed deviation
    g, n = len(ids), len(d)
    se = math.sqrt(g / (g - 1) * float(residual @ residual)) / n
    return Difference(mean, se, n, g)


def compare(a: Evaluation, b: Evaluation, users: npt.ArrayLike) -> dict[str, Difference]:
    """A - B for every per-question metric the two evaluations share (see :class:`Evaluation`).

    Raises:
        InvalidInputError: the two were not evaluated on the same number of questions as ``users``.
    """
    shared = [m for m in a.per_question if m in b.per_question]
    return {m: paired_difference(a.per_question[m], b.per_question[m], users) for m in shared}
