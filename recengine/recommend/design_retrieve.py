"""Design-and-retrieve (seed Sec. 4.4, Fig. 6): designs for (user, query) become real catalogue items.

For one (user, query image, target category, k): the designer draws ``n`` designs G(F(x_q), θu, noise) (with
``oversample`` > 1, ``oversample × n`` of which the compatibility discriminator keeps the ``n`` it scores highest
for this user, s(u, q, design): the seed's judge of designs used at inference to reject off-taste draws); the
retrieval embedder embeds them; the FAISS index returns each design's nearest real items of that category; the
union is re-ranked by the personalised compatibility score s(u, q, c) = M(θu ⊙ F(x_q) ⊙ F(x_c)), with F(x_c)
precomputed for the catalogue. Then, ``feedback_rounds`` times, the ``feedback_items`` best real items not yet
searched from search for their own nearest items (pseudo-relevance feedback: the designs point at a region of
the catalogue, the best real items there find their neighbours) and the union is re-ranked again. Each match
names the design it most resembles.

Why these steps, measured on 2,000 held-out test questions with the shipped designer (``benchmarks/RESULTS.md``,
issue #6): the seed's procedure as written (``oversample=1, feedback_rounds=0``: 4 designs, 50 neighbours each)
reaches 0.68 of exhaustive scoring's Recall@10; two feedback rounds from the best items the designs found reach
exhaustive scoring's Recall@10 while scoring about a seventh of the category. Design selection
(``oversample=2``) makes the designs themselves closer to the true complement (5-candidate retrieval accuracy
0.365 -> 0.40) but adds no recall after feedback, so it is off by default (it costs 8 designs and F on them).

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
from recengine.devices import faiss_threads, torch_threads
from recengine.embedding.embedder import ImageEmbedder
from recengine.errors import InvalidInputError
from recengine.index import SearchResult
from recengine.nets.designer import Designer
from recengine.nets.folding import inference_copy

Ranked = list[tuple[int, float]]  # (item id, personalised score), best first

DEFAULT_PER_DESIGN = 50
DEFAULT_OVERSAMPLE = 1
DEFAULT_FEEDBACK_ROUNDS = 2
DEFAULT_FEEDBACK_ITEMS = 4
# A feedback seed is a catalogue item, so its neighbours lie in its own and the nearest IVF lists: a few probes
# find them (Flat partitions ignore it). The designs' own search keeps the index's nprobe.
DEFAULT_FEEDBACK_NPROBE = 8


class Searchable(Protocol):
    def search(self, queries: npt.ArrayLike, k: int, *, categories: str | Sequence[str] | None = None,
               exclude_ids: Sequence[int] | npt.ArrayLike | None = None,
               nprobe: int | None = None) -> SearchResult: ...  # fmt: skip


@dataclass(frozen=True)
class Match:
    item_id: int
    score: float  # personalised compatibility s(u, q, item)
    similarity: float  # cosine between the item and the design it most resembles
    design: int  # that design (index into ``Recommendation.designs``)


@dataclass(frozen=True)
class Recommendation:
    matches: list[Match]
    designs: NDArray[np.uint8]  # (n, S, S, 3)
    timings_ms: dict[str, float] = field(default_factory=dict)
    candidates: int = 0  # distinct items scored by the re-rank


@dataclass(frozen=True)
class CatalogueLatents:
    """F(x_c) of the catalogue's items (by the designer's own F) and each item's category, for re-ranking; the
    items' retrieval vectors (the index's embedder, unit norm) for feedback rounds and match similarities."""

    item_ids: NDArray[np.int64]  # sorted
    z: torch.Tensor  # (I, z_dim)
    categories: NDArray[np.str_]
    vectors: NDArray[np.float32] | None = None  # (I, dim)

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        if len(self.z) != n or len(self.categories) != n or (self.vectors is not None and len(self.vectors) != n):
            shapes = [tuple(self.z.shape), self.categories.shape, None if self.vectors is None else self.vectors.shape]
            raise InvalidInputError(f"latents of {n} items with rows {shapes} (z, categories, vectors)")

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
    """See the module docstring. ``feedback_rounds=0`` is the seed's procedure as written."""

    def __init__(self, designer: Designer, embedder: ImageEmbedder, index: Searchable, latents: CatalogueLatents,
                 *, per_design: int = DEFAULT_PER_DESIGN, oversample: int = DEFAULT_OVERSAMPLE,
                 feedback_rounds: int = DEFAULT_FEEDBACK_ROUNDS, feedback_items: int = DEFAULT_FEEDBACK_ITEMS,
                 feedback_nprobe: int | None = DEFAULT_FEEDBACK_NPROBE) -> None:  # fmt: skip
        if embedder.image_size != designer.config.image_size:
            raise InvalidInputError(f"designs are {designer.config.image_size}px, the embedder takes "
                                    f"{embedder.image_size}px")  # fmt: skip
        if min(per_design, oversample, feedback_items) <= 0 or feedback_rounds < 0:
            raise InvalidInputError(f"per_design, oversample and feedback_items must be positive and feedback_rounds "
                                    f"not negative, got {per_design}, {oversample}, {feedback_items}, "
                                    f"{feedback_rounds}")  # fmt: skip
        if latents.vectors is not None and latents.vectors.shape[1] != embedder.dim:
            raise InvalidInputError(f"the latents hold {latents.vectors.shape[1]}-d retrieval vectors, the embedder "
                                    f"makes {embedder.dim}-d")  # fmt: skip
        if feedback_rounds and latents.vectors is None:
            raise InvalidInputError("feedback rounds search from the best items' own vectors: the latents must hold "
                                    "the catalogue's retrieval vectors (or set feedback_rounds=0)")  # fmt: skip
        # An inference copy (batch norm folded into the convolutions, channels-last, the caller's model untouched):
        # G for 8 designs at 2 threads took 11 ms as trained, 6.2-8.2 channels-last, 4.4-6.8 ms folded too
        # (measured), and G is most of a call.
        self.designer = inference_copy(designer)
        self.embedder = embedder
        self.index = index
        self.latents = latents
        self.per_design = per_design
        self.oversample = oversample
        self.feedback_rounds = feedback_rounds
        self.feedback_items = feedback_items
        self.feedback_nprobe = feedback_nprobe

    @torch.no_grad()
    def _query(self, query: NDArray[np.uint8]) -> torch.Tensor:
        x = to_tensor(np.ascontiguousarray(query[None])).contiguous(memory_format=torch.channels_last)
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
            n_designs: designs kept (``oversample`` times as many are drawn) and returned.
            exclude: item ids never returned (the query itself, items already bought).
            seed: makes the designs (and so the answer) repeatable.
        """
        if k <= 0 or n_designs <= 0:
            raise InvalidInputError(f"k and n_designs must be positive, got k={k}, n_designs={n_designs}")
        t0 = time.perf_counter()
        z_query = self._query(query)
        designs = to_uint8(self._designs(z_query, theta, n_designs, seed))
        t1 = time.perf_counter()
        vectors = self.embedder.embed(designs)
        t2 = time.perf_counter()
        found, top, candidates = self._retrieve(z_query, theta, vectors, category, k, list(exclude))
        t3 = time.perf_counter()
        matches = self._matches(top, vectors, found)
        timings = {"design": t1 - t0, "embed": t2 - t1, "retrieve": t3 - t2, "total": time.perf_counter() - t0}
        return Recommendation(matches, designs, {name: s * 1000 for name, s in timings.items()}, candidates)

    @torch.no_grad()
    def retrieve(self, seeds: NDArray[np.float32], *, query: NDArray[np.uint8], theta: torch.Tensor | None,
                 category: str, k: int = 10, exclude: Sequence[int] = ()) -> tuple[Ranked, int]:  # fmt: skip
        """The retrieval half of :meth:`recommend` from any seed vectors (N, dim) in place of the designs' (the
        evaluation starts it from random items or the query's look-alikes to measure what the designs add): the
        top k as (item id, score), and how many distinct items were scored."""
        _, top, candidates = self._retrieve(self._query(query), theta, seeds, category, k, list(exclude))
        return top, candidates

    def _retrieve(self, z_query: torch.Tensor, theta: torch.Tensor | None, seeds: NDArray[np.float32],
                  category: str, k: int, excluded: list[int]) -> tuple[SearchResult, Ranked, int]:  # fmt: skip
        # The loop alternates tiny torch scoring and tiny FAISS searches, each library with its own OpenMP pool:
        # with both pools spinning on 2 cores every round stalled for a scheduler tick (measured: 29 ms per call
        # for 3 rounds at 2 torch threads, 4 ms at 1). One thread is also all ~300 rows of M, or a search of 4
        # queries, need.
        with torch_threads(1), faiss_threads(1):
            return self._retrieve_one_thread(z_query, theta, seeds, category, k, excluded)

    def _retrieve_one_thread(self, z_query: torch.Tensor, theta: torch.Tensor | None,
                             seeds: NDArray[np.float32], category: str, k: int,
                             excluded: list[int]) -> tuple[SearchResult, Ranked, int]:  # fmt: skip
        wanted = max(k, self.per_design)
        found = self.index.search(seeds, wanted, categories=category, exclude_ids=excluded)
        candidates = np.unique(found.ids[found.ids >= 0])
        expanded = np.empty(0, dtype=np.int64)
        for _ in range(self.feedback_rounds):  # best-first: each round searches from the best items not used yet
            fresh = np.setdiff1d(candidates, expanded, assume_unique=True)
            best = np.asarray([item for item, _ in self._top(z_query, theta, fresh, self.feedback_items)], np.int64)
            if not len(best):
                break
            more = self.index.search(self._vectors(best), wanted, categories=category, exclude_ids=excluded,
                                     nprobe=self.feedback_nprobe).ids  # fmt: skip
            expanded = np.union1d(expanded, best)
            candidates = np.union1d(candidates, more[more >= 0])
        return found, self._top(z_query, theta, candidates, k), len(candidates)

    def _designs(self, z_query: torch.Tensor, theta: torch.Tensor | None, n: int, seed: int | None) -> torch.Tensor:
        """(n, 3, S, S): the n of ``oversample × n`` drawn designs that s(u, q, design) ranks highest."""
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        theta_rows = None if theta is None else theta[None]
        drawn = self.oversample * n
        images: torch.Tensor = self.designer.design(torch.zeros(1, dtype=torch.long), z_query[None], drawn,
                                                    generator, theta=theta_rows)[0]  # fmt: skip
        if drawn == n:
            return images
        model = self.designer.compatibility
        scores = model.score_latent(model.encoder(images) * z_query, theta_rows)
        return images[torch.topk(scores, n).indices]

    def _top(self, z_query: torch.Tensor, theta: torch.Tensor | None, candidates: NDArray[np.int64],
             k: int) -> Ranked:  # fmt: skip
        scores = self._score(z_query, theta, self.latents.rows(candidates)).numpy()
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(candidates[i]), float(scores[i])) for i in order]

    def _vectors(self, item_ids: NDArray[np.int64]) -> NDArray[np.float32]:
        if self.latents.vectors is None:
            raise InvalidInputError("the latents hold no retrieval vectors")
        out: NDArray[np.float32] = self.latents.vectors[self.latents.rows(item_ids)]
        return out

    def _matches(self, top: Ranked, design_vectors: NDArray[np.float32], found: SearchResult) -> list[Match]:
        """Each item with the design it most resembles: by the items' vectors when the latents hold them (items
        found by feedback included), otherwise by the designs' own search results (every item came from one)."""
        if self.latents.vectors is not None and top:
            items = np.asarray([item for item, _ in top], dtype=np.int64)
            sims = self._vectors(items) @ design_vectors.T
            best = sims.argmax(axis=1)
            return [Match(item, score, float(sims[i, best[i]]), int(best[i])) for i, (item, score) in enumerate(top)]
        closest: dict[int, tuple[float, int]] = {}
        for design, (ids, scores) in enumerate(zip(found.ids, found.scores, strict=True)):
            for item, sim in zip(ids.tolist(), scores.tolist(), strict=True):
                if item >= 0 and (item not in closest or sim > closest[item][0]):
                    closest[item] = (sim, design)
        return [Match(item, score, *closest[item]) for item, score in top]

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
