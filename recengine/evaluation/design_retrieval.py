"""Design-and-retrieve on the evaluation protocol: Recall@K of the true item and 5-candidate retrieval accuracy.

For test questions (a user's θu, a query item, the true item of the target category, e.g. top -> bottom):

* **Recall@K** of the true item among every catalogue item of the category, the query item excluded, for
  (a) design-and-retrieve (:meth:`DesignRetriever.recommend`: n designs, their nearest items, personalised
  re-rank), (b) exhaustive personalised scoring of the whole category (:meth:`DesignRetriever.exhaustive`),
  (c) visual similarity: the retrieval embedder's nearest items to the query's own embedding
  (:func:`visual_hits`), (d) any :class:`~recengine.evaluation.protocol.PairScorer` ranking the whole category,
  e.g. implicit ALS from :func:`recengine.evaluation.baselines.fit_cf` (:func:`scorer_hits`).
* **What the designs add**: the same retrieval (:meth:`DesignRetriever.retrieve`: search, re-rank, feedback
  rounds) started from as many other seeds as there are designs: (e) random items of the category, (f) the
  query's own nearest items by the retrieval embedder. Design-and-retrieve is only worth its designs where it
  beats both.
* **Retrieval accuracy (5 candidates)**: the true item and 4 other items of its category (:func:`acc5_candidates`);
  design-and-retrieve picks the candidate with the highest cosine similarity (retrieval embedder) to any of its
  designs; the fair tie rule of :func:`~recengine.evaluation.metrics.fitb_per_question` (chance is exactly 0.2).

Everything is seeded: each question's designs come from its own seed drawn from ``seed``, so a question's answer
does not depend on which other questions are evaluated with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from numpy.typing import NDArray

from recengine.errors import InvalidInputError
from recengine.evaluation.metrics import candidate_sets, fitb_per_question
from recengine.evaluation.protocol import PairScorer
from recengine.recommend.design_retrieve import DesignRetriever, Searchable

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]
Float32Array = NDArray[np.float32]
Progress = Callable[[int, int], None]

N_CANDIDATES = 5


@dataclass(frozen=True)
class ItemVectors:
    """Retrieval-embedder vectors (unit norm) of catalogue items, looked up by item id."""

    ids: IntArray  # (I,) ascending, distinct
    vectors: Float32Array  # (I, dim)

    def __post_init__(self) -> None:
        if self.ids.ndim != 1 or self.vectors.ndim != 2 or len(self.ids) != len(self.vectors):
            raise InvalidInputError(f"ids {self.ids.shape} and vectors {self.vectors.shape} do not match")
        if len(self.ids) > 1 and not (np.diff(self.ids) > 0).all():
            raise InvalidInputError("item ids must be ascending and distinct")

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def of(self, item_ids: npt.ArrayLike) -> Float32Array:
        """Vectors of ``item_ids`` (any shape) -> (*shape, dim)."""
        wanted = np.asarray(item_ids, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.ids, wanted), max(len(self.ids) - 1, 0))
        if len(self.ids) == 0 or not (self.ids[pos] == wanted).all():
            missing = wanted[self.ids[pos] != wanted][:5].tolist() if len(self.ids) else wanted.ravel()[:5].tolist()
            raise InvalidInputError(f"items without a retrieval vector: {missing}")
        out: Float32Array = self.vectors[pos]
        return out


@dataclass(frozen=True)
class DesignQuestions:
    """Test questions for design-and-retrieve, addressed by item id."""

    queries: IntArray  # (N,) query item ids
    query_images: NDArray[np.uint8]  # (N, S, S, 3) prepared pixels of the query items
    targets: IntArray  # (N,) the true item ids (of the target category)
    thetas: torch.Tensor | None  # (N, z_dim) θu of each question's user; None for a model without θu

    def __post_init__(self) -> None:
        n = len(self.queries)
        if self.queries.ndim != 1 or self.targets.shape != (n,) or len(self.query_images) != n:
            raise InvalidInputError(f"queries {self.queries.shape}, query images {self.query_images.shape} and "
                                    f"targets {self.targets.shape} must have one row per question")  # fmt: skip
        if self.thetas is not None and (self.thetas.ndim != 2 or len(self.thetas) != n):
            raise InvalidInputError(f"thetas must be (N={n}, z_dim), got {tuple(self.thetas.shape)}")

    def __len__(self) -> int:
        return len(self.queries)


@dataclass(frozen=True)
class DesignRetrievalResult:
    """Per-question outcomes; the means are the metrics."""

    hits: BoolArray  # (N,) the true item in design-and-retrieve's top k
    exhaustive_hits: BoolArray | None  # (N,) the true item in exhaustive scoring's top k (None: not run)
    acc5: FloatArray  # (N,) credit for picking the true candidate (1, 0, or a fair share of a tie)
    k: int
    random_hits: BoolArray | None = None  # (N,) the retrieval started from random items of the category
    query_look_hits: BoolArray | None = None  # (N,) the retrieval started from the query's nearest items
    candidates: IntArray | None = None  # (N,) distinct items the designs found per question

    @property
    def recall(self) -> float:
        return float(self.hits.mean())

    @property
    def exhaustive_recall(self) -> float:
        return float("nan") if self.exhaustive_hits is None else float(self.exhaustive_hits.mean())

    @property
    def retrieval_acc5(self) -> float:
        return float(self.acc5.mean())

    @property
    def random_recall(self) -> float:
        return float("nan") if self.random_hits is None else float(self.random_hits.mean())

    @property
    def query_look_recall(self) -> float:
        return float("nan") if self.query_look_hits is None else float(self.query_look_hits.mean())


def question_seeds(n: int, seed: int) -> IntArray:
    """One design seed per question, drawn from ``seed``."""
    seeds: IntArray = np.random.default_rng([seed, 2]).integers(0, 2**31 - 1, size=n, dtype=np.int64)
    return seeds


def acc5_candidates(targets: npt.ArrayLike, pool: npt.ArrayLike, *, fitb: npt.ArrayLike | None = None,
                    seed: int = 0) -> IntArray:  # fmt: skip
    """(N, 5) candidates, the true item in column 0: the protocol's FITB rows when they hold 4 distractors (5+
    columns), otherwise the true item and 4 distinct other items of ``pool`` drawn with ``seed``."""
    truth = np.asarray(targets, dtype=np.int64)
    if fitb is not None:
        rows = np.asarray(fitb, dtype=np.int64)
        if rows.ndim == 2 and rows.shape[1] >= N_CANDIDATES:
            if rows.shape[0] != len(truth) or not (rows[:, 0] == truth).all():
                raise InvalidInputError("FITB rows must hold each question's true item in column 0")
            return np.ascontiguousarray(rows[:, :N_CANDIDATES])
    shared = np.asarray(pool, dtype=np.int64)
    return candidate_sets(np.random.default_rng([seed, 3]), truth, [shared] * len(truth), N_CANDIDATES)


def design_similarities(design_vectors: Float32Array, candidate_vectors: Float32Array) -> FloatArray:
    """(N, C): each candidate's highest cosine similarity to any of the question's designs.

    design_vectors (N, n, dim) and candidate_vectors (N, C, dim), both unit norm."""
    sims = np.einsum("bnd,bcd->bnc", design_vectors, candidate_vectors, optimize=True)
    out: FloatArray = sims.max(axis=1).astype(np.float64)
    return out


def evaluate_design_retrieval(retriever: DesignRetriever, questions: DesignQuestions, vectors: ItemVectors,
                              candidates: IntArray, *, category: str, k: int = 10, n_designs: int = 4,
                              seed: int = 0, exhaustive: bool = True, references: bool = False,
                              progress: Progress | None = None) -> DesignRetrievalResult:  # fmt: skip
    """Recall@k of design-and-retrieve (and of exhaustive scoring) and 5-candidate retrieval accuracy.

    Each question is one :meth:`DesignRetriever.recommend` call (``n_designs`` designs, the query item excluded,
    its own seed from :func:`question_seeds`); its designs, embedded by the retriever's embedder, are then
    compared with the question's ``candidates`` (N, C) item ids (column 0 the true item), whose vectors come
    from ``vectors``. With ``references`` the same retrieval also starts from ``n_designs`` random items of the
    category and from the query's ``n_designs`` nearest items instead of the designs
    (:class:`DesignRetrievalResult`'s ``random_hits`` and ``query_look_hits``).
    """
    n = len(questions)
    if candidates.shape[0] != n or candidates.ndim != 2 or not (candidates[:, 0] == questions.targets).all():
        raise InvalidInputError(f"candidates must be (N={n}, C) with the true item in column 0")
    if retriever.embedder.dim != vectors.dim:
        raise InvalidInputError(f"the retriever's embedder makes {retriever.embedder.dim}-d vectors, the "
                                f"candidates' are {vectors.dim}-d")  # fmt: skip
    seeds = question_seeds(n, seed)
    size = retriever.designer.config.image_size
    designs = np.empty((n, n_designs, size, size, 3), dtype=np.uint8)
    hits = np.zeros(n, dtype=bool)
    exhaustive_hits = np.zeros(n, dtype=bool) if exhaustive else None
    random_hits = np.zeros(n, dtype=bool) if references else None
    look_hits = np.zeros(n, dtype=bool) if references else None
    counts = np.zeros(n, dtype=np.int64)
    latents = retriever.latents
    pool = latents.item_ids[latents.categories == category]
    for i in range(n):
        query, target = int(questions.queries[i]), int(questions.targets[i])
        theta = None if questions.thetas is None else questions.thetas[i]
        found = retriever.recommend(query=questions.query_images[i], theta=theta, category=category, k=k,
                                    n_designs=n_designs, exclude=[query], seed=int(seeds[i]))  # fmt: skip
        hits[i] = any(m.item_id == target for m in found.matches)
        designs[i] = found.designs
        counts[i] = found.candidates
        if random_hits is not None and look_hits is not None:
            others = pool[pool != query]
            drawn = np.random.default_rng([seed, 4, i]).choice(others, min(n_designs, len(others)), replace=False)
            top, _ = retriever.retrieve(vectors.of(drawn), query=questions.query_images[i], theta=theta,
                                        category=category, k=k, exclude=[query])  # fmt: skip
            random_hits[i] = any(item == target for item, _ in top)
            near = retriever.index.search(vectors.of([query]), n_designs, categories=category,
                                          exclude_ids=[query]).ids[0]  # fmt: skip
            top, _ = retriever.retrieve(vectors.of(near[near >= 0]), query=questions.query_images[i], theta=theta,
                                        category=category, k=k, exclude=[query])  # fmt: skip
            look_hits[i] = any(item == target for item, _ in top)
        if exhaustive_hits is not None:
            top = retriever.exhaustive(query=questions.query_images[i], theta=theta, category=category, k=k,
                                       exclude=[query])  # fmt: skip
            exhaustive_hits[i] = any(item == target for item, _ in top)
        if progress is not None:
            progress(i + 1, n)
    design_vectors = retriever.embedder.embed(designs.reshape(n * n_designs, size, size, 3))
    sims = design_similarities(design_vectors.reshape(n, n_designs, -1), vectors.of(candidates))
    return DesignRetrievalResult(hits, exhaustive_hits, fitb_per_question(sims), k, random_hits, look_hits, counts)


def visual_hits(index: Searchable, vectors: ItemVectors, queries: IntArray, targets: IntArray, *, category: str,
                k: int = 10) -> BoolArray:  # fmt: skip
    """(N,) whether the true item is among the ``k`` items of ``category`` nearest to the query's own retrieval
    vector (visual similarity to the query image), the query item excluded. One batched search."""
    if k <= 0:
        raise InvalidInputError(f"k must be positive, got {k}")
    found = index.search(np.ascontiguousarray(vectors.of(queries)), k + 1, categories=category).ids
    kept = (found != queries[:, None]) & (found >= 0)
    within = kept & (np.cumsum(kept, axis=1) <= k)  # the first k results that are not the query itself
    hits: BoolArray = ((found == targets[:, None]) & within).any(axis=1)
    return hits


def scorer_hits(scorer: PairScorer, users: IntArray, queries: IntArray, targets: IntArray, pool: npt.ArrayLike, *,
                k: int = 10, seed: int = 0, batch: int = 128) -> BoolArray:  # fmt: skip
    """(N,) whether the true item ranks in the top ``k`` of ``pool`` (every item of the category) by ``scorer``,
    the query item excluded; ties broken by a seeded random key (as the protocol's Recall@K). Indices are the
    scorer's own (for :class:`~recengine.evaluation.protocol_data.ProtocolData` scorers: user and item indices)."""
    if k <= 0:
        raise InvalidInputError(f"k must be positive, got {k}")
    items = np.unique(np.asarray(pool, dtype=np.int64))
    pos = np.minimum(np.searchsorted(items, targets), max(len(items) - 1, 0))
    if len(items) == 0 or not (items[pos] == targets).all():
        raise InvalidInputError(f"true items outside the pool: {targets[items[pos] != targets][:5].tolist()}")
    key = np.random.default_rng([seed, 1]).random(len(items))  # seeded tie-breaker
    hits = np.empty(len(targets), dtype=bool)
    for start in range(0, len(targets), batch):
        sl = slice(start, start + batch)
        m = len(targets[sl])
        scores = scorer.score(users[sl], queries[sl], np.broadcast_to(items, (m, len(items))))
        true = scores[np.arange(m), pos[sl]][:, None]
        ahead = (scores > true) | ((scores == true) & (key[None, :] < key[pos[sl]][:, None]))
        ahead &= items[None, :] != queries[sl, None]
        hits[sl] = ahead.sum(axis=1) < k
    return hits
