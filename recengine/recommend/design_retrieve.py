"""Design-and-retrieve (seed Sec. 4.4, Fig. 6): designs for (user, query) become real catalogue items.

For one (user, query image, target category, k): the designer draws ``n`` designs G(F(x_q), θu, noise); the
retrieval embedder embeds them; the FAISS index returns each design's nearest real items of that category;
the union (de-duplicated, each item keeping the design that found it closest) is re-ranked by the personalised
compatibility score s(u, q, c) = M(θu ⊙ F(x_q) ⊙ F(x_c)), with F(x_c) precomputed for the catalogue.

:meth:`DesignRetriever.exhaustive` scores every item of the category instead: the reference that
design-and-retrieve is measured against (``benchmarks/recommend_bench.py``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
import torch
from numpy.typing import NDArray

from recengine.datasets.image_cache import to_tensor
from recengine.embedding.embedder import ImageEmbedder
from recengine.errors import InvalidInputError
from recengine.index import SearchResult
from recengine.nets.designer import Designer


class Searchable(Protocol):
    def search(self, queries: npt.ArrayLike, k: int, *, categories: str | Sequence[str] | None = None,
               exclude_ids: Sequence[int] | npt.ArrayLike | None = None,
               nprobe: int | None = None) -> SearchResult: ...  # fmt: skip


@dataclass(frozen=True)
class Match:
    item_id: int
    score: float  # personalised compatibility s(u, q, item)
    similarity: float  # cosine between the item and the design that found it
    design: int  # which design found it (index into ``Recommendation.designs``)


@dataclass(frozen=True)
class Recommendation:
    matches: list[Match]
    designs: NDArray[np.uint8]  # (n, S, S, 3)
    timings_ms: dict[str, float] = field(default_factory=dict)
    candidates: int = 0  # distinct items the designs found, i.e. how many the re-rank scored


@dataclass(frozen=True)
class CatalogueLatents:
    """F(x_c) of the catalogue's items (by the designer's own F) and each item's category, for re-ranking."""

    item_ids: NDArray[np.int64]  # sorted
    z: torch.Tensor  # (I, z_dim)
    categories: NDArray[np.str_]

    def rows(self, item_ids: NDArray[np.int64]) -> NDArray[np.int64]:
        pos = np.searchsorted(self.item_ids, item_ids)
        pos = np.minimum(pos, len(self.item_ids) - 1)
        if len(item_ids) and not (self.item_ids[pos] == item_ids).all():
            missing = item_ids[self.item_ids[pos] != item_ids][:5].tolist()
            raise InvalidInputError(f"items without precomputed latents (re-embed the catalogue): {missing}")
        return pos.astype(np.int64)


def to_uint8(images: torch.Tensor) -> NDArray[np.uint8]:
    """(N, 3, S, S) in [-1, 1] -> (N, S, S, 3) uint8, the pixels every embedder takes."""
    out = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
    return np.ascontiguousarray(out.numpy())


class DesignRetriever:
    def __init__(self, designer: Designer, embedder: ImageEmbedder, index: Searchable, latents: CatalogueLatents,
                 *, per_design: int = 50) -> None:  # fmt: skip
        if embedder.image_size != designer.config.image_size:
            raise InvalidInputError(f"designs are {designer.config.image_size}px, the embedder takes "
                                    f"{embedder.image_size}px")  # fmt: skip
        self.designer = designer.eval()
        self.embedder = embedder
        self.index = index
        self.latents = latents
        self.per_design = per_design

    @torch.no_grad()
    def _query(self, query: NDArray[np.uint8]) -> torch.Tensor:
        x = to_tensor(np.ascontiguousarray(query[None]))
        z: torch.Tensor = self.designer.compatibility.encoder(x)
        return z[0]

    @torch.no_grad()
    def _score(self, z_query: torch.Tensor, theta: torch.Tensor | None, rows: NDArray[np.int64]) -> torch.Tensor:
        model = self.designer.compatibility
        z_o = self.latents.z[torch.as_tensor(rows)] * z_query
        scores: torch.Tensor = model.score_latent(z_o, None if theta is None else theta[None])
        return scores

    @torch.no_grad()
    def recommend(self, *, query: NDArray[np.uint8], theta: torch.Tensor | None, category: str, k: int = 10,
                  n_designs: int = 4, exclude: Sequence[int] = (),
                  seed: int | None = None) -> Recommendation:  # fmt: skip
        """Real items of ``category`` for the user with ``theta`` (None for a model without θu) and ``query``.

        Args:
            query: (S, S, 3) prepared pixels of the query item (see :mod:`recengine.datasets.image_cache`).
            theta: the user's θu (z_dim,), e.g. from ``user_preferences`` (a newcomer's fitted vector too).
            exclude: item ids never returned (the query itself, items already bought).
            seed: makes the designs (and so the answer) repeatable.
        """
        if k <= 0 or n_designs <= 0:
            raise InvalidInputError(f"k and n_designs must be positive, got k={k}, n_designs={n_designs}")
        t0 = time.perf_counter()
        z_query = self._query(query)
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        theta_rows = None if theta is None else theta[None]
        images = self.designer.design(torch.zeros(1, dtype=torch.long), z_query[None], n_designs, generator,
                                      theta=theta_rows)[0]  # fmt: skip
        designs = to_uint8(images)
        t1 = time.perf_counter()
        vectors = self.embedder.embed(designs)
        t2 = time.perf_counter()
        found = self.index.search(vectors, max(k, self.per_design), categories=category, exclude_ids=list(exclude))
        t3 = time.perf_counter()
        best: dict[int, tuple[float, int]] = {}
        for design, (ids, sims) in enumerate(zip(found.ids, found.scores, strict=True)):
            for item, sim in zip(ids.tolist(), sims.tolist(), strict=True):
                if item >= 0 and (item not in best or sim > best[item][0]):
                    best[item] = (sim, design)
        candidates = np.fromiter(best, dtype=np.int64, count=len(best))
        top = self._top(z_query, theta, candidates, k)
        matches = [Match(item, score, *best[item]) for item, score in top]
        t4 = time.perf_counter()
        timings = {"design": t1 - t0, "embed": t2 - t1, "search": t3 - t2, "rerank": t4 - t3, "total": t4 - t0}
        return Recommendation(matches, designs, {name: s * 1000 for name, s in timings.items()}, len(candidates))

    def _top(self, z_query: torch.Tensor, theta: torch.Tensor | None, candidates: NDArray[np.int64],
             k: int) -> list[tuple[int, float]]:  # fmt: skip
        scores = self._score(z_query, theta, self.latents.rows(candidates)).numpy()
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(candidates[i]), float(scores[i])) for i in order]

    @torch.no_grad()
    def rerank(self, *, query: NDArray[np.uint8], theta: torch.Tensor | None, candidates: Sequence[int] | npt.ArrayLike,
               k: int = 10) -> list[tuple[int, float]]:  # fmt: skip
        """The personalised re-rank alone on candidates from any source (distinct item ids): the top k as (item id,
        score). The evaluation feeds it other candidate sources of the same size as the designs' (random items,
        the query's own look-alikes) to measure what the designs add."""
        items = np.asarray(candidates, dtype=np.int64)
        if len(np.unique(items)) != len(items):
            raise InvalidInputError("candidates must be distinct item ids")
        return self._top(self._query(query), theta, items, k)

    @torch.no_grad()
    def exhaustive(self, *, query: NDArray[np.uint8], theta: torch.Tensor | None, category: str, k: int = 10,
                   exclude: Sequence[int] = ()) -> list[tuple[int, float]]:  # fmt: skip
        """The reference: every item of ``category`` scored by s(u, q, c); the top k as (item id, score)."""
        z_query = self._query(query)
        rows = np.flatnonzero(self.latents.categories == category)
        rows = rows[~np.isin(self.latents.item_ids[rows], np.asarray(list(exclude), dtype=np.int64))]
        scores = self._score(z_query, theta, rows)
        top = torch.topk(scores, min(k, len(rows))).indices.numpy()
        return [(int(self.latents.item_ids[rows[i]]), float(scores[i])) for i in top]
