"""The simulator's own judgement: what a perfect model of a simulated dataset would score.

A simulated user picks a bottom for a top roughly in proportion to ``w_u(c) · pair(q, c) ** sharpness``: the
taste weight of :mod:`recengine.datasets.outfits.users` times the stylist rules' pair weight raised to the
composer's sharpness (the composer's sampling-importance-resampling approximates that distribution).
:class:`SimulationOracle` scores (user, query, candidate) triples with its logarithm, re-drawing each user's
taste from the dataset's seed. It reads the hidden truth, so it is a reference, never a model: the ceiling of
the protocol's metrics on a simulated dataset (``taste`` and ``rules`` alone show what each part is worth).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from recengine.datasets.outfits import rules
from recengine.datasets.outfits.composer import CatalogueArrays
from recengine.datasets.outfits.users import SimulationParams, Taste, sample_taste
from recengine.errors import InvalidInputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Parts = Literal["both", "taste", "rules"]
_FLOOR = 1e-300  # log of a zero weight (the other gender's items, a ruled-out pair): very negative, not -inf


@dataclass(frozen=True)
class SimulationOracle:
    """See the module docstring. Item indices are the catalogue's (= :class:`ProtocolData`'s) indices."""

    catalogue: CatalogueArrays
    tastes: tuple[Taste, ...]  # the simulated users' tastes, in user order
    sharpness: float
    parts: Parts = "both"

    @classmethod
    def fit(cls, catalogue: CatalogueArrays, params: SimulationParams, n_users: int,
            parts: Parts = "both") -> SimulationOracle:  # fmt: skip
        """Re-draw the first ``n_users`` users' tastes exactly as the simulation did (same seed, same order)."""
        if parts not in ("both", "taste", "rules"):
            raise InvalidInputError(f"parts must be both, taste or rules, got {parts!r}")
        tastes = tuple(sample_taste(np.random.default_rng([params.seed, i]), catalogue, params)
                       for i in range(n_users))  # fmt: skip
        return cls(catalogue=catalogue, tastes=tastes, sharpness=params.sharpness, parts=parts)

    def log_taste(self, users: IntArray, candidates: IntArray) -> FloatArray:
        """log w_u(c) for ``users`` (B,) and ``candidates`` (B, C)."""
        out = np.empty(candidates.shape)
        for user in np.unique(users).tolist():
            rows = users == user
            out[rows] = self.tastes[user].log_item_weights(self.catalogue, candidates[rows])
        return np.maximum(out, np.log(_FLOOR))

    def log_rules(self, queries: IntArray, candidates: IntArray) -> FloatArray:
        """sharpness · log pair(q, c) for ``queries`` (B,) and ``candidates`` (B, C)."""
        cat = self.catalogue
        tables = (rules.colour_table(), rules.usage_table(), rules.season_table())
        query_codes = tuple(c[:, None] for c in cat.rule_codes(queries))
        pair = rules.pair_weight(tables, query_codes, cat.rule_codes(candidates))  # type: ignore[arg-type]
        out: FloatArray = self.sharpness * np.log(np.maximum(pair, _FLOOR))
        return out

    def score(self, users: IntArray, queries: IntArray, candidates: IntArray) -> FloatArray:
        if self.parts == "taste":
            return self.log_taste(users, candidates)
        if self.parts == "rules":
            return self.log_rules(queries, candidates)
        return self.log_taste(users, candidates) + self.log_rules(queries, candidates)
