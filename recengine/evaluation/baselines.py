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


def fit_cf(data: ProtocolData, config: CFConfig) -> ImplicitCF:
    """ALS or BPR on the training outfits of every user (the seed's joint setting)."""
    return ImplicitCF(config).fit(data.interaction_matrix())


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
