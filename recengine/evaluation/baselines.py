"""Reference scorers on the protocol: random, popularity, and collaborative filtering (ALS/BPR)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recengine.evaluation.protocol import PairScorer, build_questions, evaluate
from recengine.evaluation.protocol_data import ProtocolData
from recengine.preferences.cf import CFConfig, ImplicitCF

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class RandomScorer:
    """Independent uniform scores on every call: the chance level of every metric (seeded, so repeatable)."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = np.random.default_rng(seed)

    def score(self, users: IntArray, queries: IntArray, candidates: IntArray) -> FloatArray:
        return self._rng.random(candidates.shape)


@dataclass(frozen=True)
class PopularityScorer:
    """How often each item appears in training outfits (the same for every user and query)."""

    counts: FloatArray  # (I,)

    @classmethod
    def fit(cls, data: ProtocolData) -> PopularityScorer:
        return cls(np.asarray(data.interaction_matrix().sum(axis=0), dtype=np.float64).ravel())

    def score(self, users: IntArray, queries: IntArray, candidates: IntArray) -> FloatArray:
        return self.counts[candidates]


@dataclass(frozen=True)
class UserHistoryScorer:
    """How often *this user* used each item in training outfits (ties broken by overall popularity): what
    memorising a user's wardrobe is worth. On the simulated users, who reuse items, it bounds what any model
    that reads item identities (CF) gets from memory alone; an image model must generalise instead."""

    keys: IntArray  # sorted user * n_items + item of every (user, item) with a count
    counts: FloatArray  # their counts
    n_items: int
    popularity: FloatArray  # (I,) in [0, 1)

    @classmethod
    def fit(cls, data: ProtocolData) -> UserHistoryScorer:
        matrix = data.interaction_matrix().tocoo()
        n_items = matrix.shape[1]
        keys = matrix.row.astype(np.int64) * n_items + matrix.col
        order = np.argsort(keys)
        popularity = np.bincount(matrix.col, weights=matrix.data, minlength=n_items).astype(np.float64)
        return cls(keys[order], matrix.data[order].astype(np.float64), n_items, popularity / (popularity.max() + 1))

    def score(self, users: IntArray, queries: IntArray, candidates: IntArray) -> FloatArray:
        wanted = users[:, None].astype(np.int64) * self.n_items + candidates
        pos = np.minimum(np.searchsorted(self.keys, wanted), max(len(self.keys) - 1, 0))
        own = np.where(self.keys[pos] == wanted, self.counts[pos], 0.0) if len(self.keys) else np.zeros(wanted.shape)
        return own + self.popularity[candidates]


def fit_cf(data: ProtocolData, config: CFConfig, slots: tuple[int, ...] | None = None) -> ImplicitCF:
    """ALS or BPR on the training outfits of every user (the seed's joint setting); ``slots`` keeps only the
    items of those slots (``ProtocolData.interaction_matrix``)."""
    return ImplicitCF(config).fit(data.interaction_matrix(slots=slots))


def evaluate_baselines(data: ProtocolData, *, k: int = 10, seed: int = 0) -> dict[str, dict[str, float]]:
    """Every baseline on the test questions of ``data``: ``{model: {metric: value}}``."""
    questions = build_questions(data, part="test", seed=seed)
    scorers: dict[str, PairScorer] = {
        "random": RandomScorer(seed),
        "popularity": PopularityScorer.fit(data),
        "als": fit_cf(data, CFConfig(model="als", seed=seed)),
        "bpr": fit_cf(data, CFConfig(model="bpr", iterations=100, seed=seed)),
    }
    return {name: evaluate(scorer, data, questions, k=k, seed=seed) for name, scorer in scorers.items()}
