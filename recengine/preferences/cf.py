"""A thin, typed wrapper over ``implicit``'s ALS and BPR (Hu et al. 2008; Rendle et al. 2009).

Used as a candidate source, as a baseline on the evaluation protocol, and for newcomers through ALS's
``recalculate_user`` (a user's factors solved from their interactions with the item factors fixed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

from recengine.errors import InvalidInputError, RecengineError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class CFConfig:
    model: Literal["als", "bpr"] = "als"
    factors: int = 64
    regularization: float = 0.05
    iterations: int = 15
    alpha: float = 1.0  # ALS confidence: c = 1 + alpha * count
    learning_rate: float = 0.01  # BPR only
    seed: int = 0
    threads: int = 0  # 0: all cores

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ModelNotFittedError(RecengineError):
    """The model was used before :meth:`ImplicitCF.fit`."""


class ImplicitCF:
    """ALS or BPR on a (users, items) implicit-feedback matrix; scores are dot products of factors."""

    def __init__(self, config: CFConfig = CFConfig()) -> None:
        self.config = config
        self._model: Any = None
        self._user_items: csr_matrix | None = None

    def fit(self, user_items: csr_matrix) -> ImplicitCF:
        """Fit on ``user_items`` (U, I) non-negative counts or weights."""
        if user_items.shape[0] == 0 or user_items.nnz == 0:
            raise InvalidInputError("cannot fit collaborative filtering on an empty interaction matrix")
        self._user_items = user_items.tocsr().astype(np.float32)
        # implicit parallelises itself; a BLAS thread pool underneath only oversubscribes the cores. (implicit
        # is imported at module level so its BLAS is loaded before the limit applies.)
        with threadpool_limits(1, "blas"):
            self._model = self._make()
            self._model.fit(self._user_items, show_progress=False)
        return self

    def _make(self) -> Any:
        c = self.config
        if c.model == "als":
            return AlternatingLeastSquares(factors=c.factors, regularization=c.regularization, alpha=c.alpha,
                                           iterations=c.iterations, num_threads=c.threads,
                                           random_state=c.seed)  # fmt: skip
        if c.model == "bpr":
            return BayesianPersonalizedRanking(factors=c.factors, learning_rate=c.learning_rate,
                                               regularization=c.regularization, iterations=c.iterations,
                                               num_threads=c.threads, random_state=c.seed)  # fmt: skip
        raise InvalidInputError(f"unknown collaborative filtering model {c.model!r}; use als or bpr")

    def _fitted(self) -> Any:
        if self._model is None:
            raise ModelNotFittedError("call fit() before using the model")
        return self._model

    @property
    def user_factors(self) -> FloatArray:
        return np.asarray(self._fitted().user_factors, dtype=np.float64)

    @property
    def item_factors(self) -> FloatArray:
        return np.asarray(self._fitted().item_factors, dtype=np.float64)

    def recalculate_user(self, items: IntArray, weights: FloatArray | None = None) -> FloatArray:
        """Factors of a user who is not in the fitted matrix, from the items they interacted with (ALS only)."""
        model = self._fitted()
        if self.config.model != "als":
            raise InvalidInputError("recalculate_user needs ALS; BPR has no closed-form user solve")
        n_items = self.item_factors.shape[0]
        if len(items) and (items.min() < 0 or items.max() >= n_items):
            raise InvalidInputError(f"item indices must be in [0, {n_items})")
        values = np.ones(len(items), dtype=np.float32) if weights is None else weights.astype(np.float32)
        row = csr_matrix((values, (np.zeros(len(items), dtype=np.int64), items)), shape=(1, n_items))
        return np.asarray(model.recalculate_user(0, row), dtype=np.float64).ravel()

    def top_items(self, factors: FloatArray, pool: IntArray, k: int) -> IntArray:
        """Candidate source: the ``k`` items of ``pool`` (e.g. one category) with the highest affinity to a user
        given by ``factors`` (a row of :attr:`user_factors` or a :meth:`recalculate_user` result), best first."""
        if k < 1:
            raise InvalidInputError(f"k must be >= 1, got {k}")
        scores = self.item_factors[pool] @ factors
        top = np.argpartition(-scores, min(k, len(pool)) - 1)[:k] if len(pool) > k else np.arange(len(pool))
        best: IntArray = pool[top[np.argsort(-scores[top], kind="stable")]]
        return best

    def score(self, users: IntArray, queries: IntArray, candidates: IntArray) -> FloatArray:
        """:class:`~recengine.evaluation.protocol.PairScorer`: user-item affinity; the query is not used."""
        del queries  # CF knows users and items, not which item the user is looking at
        u = self.user_factors[users]
        scores: FloatArray = np.einsum("bf,bcf->bc", u, self.item_factors[candidates])
        return scores
