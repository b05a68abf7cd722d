"""Design-and-retrieve on the protocol: Recall@10 (designs, exhaustive, visual, a scorer) and retrieval acc5."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recengine.datasets.image_cache import to_tensor
from recengine.embedding.embedder import PixelEmbedder
from recengine.errors import InvalidInputError
from recengine.evaluation.baselines import RandomScorer
from recengine.evaluation.design_retrieval import (
    DesignQuestions,
    DesignRetrievalResult,
    ItemVectors,
    acc5_candidates,
    evaluate_design_retrieval,
    scorer_hits,
    visual_hits,
)
from recengine.index import CatalogueIndex
from recengine.nets.designer import Designer
from recengine.recommend.design_retrieve import CatalogueLatents, DesignRetriever
from tests.test_designer import designer

N_TOPS, N_BOTTOMS, N_QUESTIONS = 60, 100, 200
TOPS = np.arange(1000, 1000 + N_TOPS, dtype=np.int64)
BOTTOMS = np.arange(2000, 2000 + N_BOTTOMS, dtype=np.int64)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class World:
    """A tiny catalogue of random-pixel tops and bottoms, its index, latents and test questions."""

    def __init__(self, model: Designer, *, per_design: int = 50, seed: int = 0, oversample: int = 1,
                 feedback_rounds: int = 0) -> None:  # fmt: skip
        rng = np.random.default_rng(seed)
        size = model.config.image_size
        self.ids = np.concatenate([TOPS, BOTTOMS])
        self.pixels = rng.integers(0, 256, (len(self.ids), size, size, 3), dtype=np.uint8)
        categories = np.array(["top"] * N_TOPS + ["bottom"] * N_BOTTOMS)
        embedder = PixelEmbedder(image_size=size)
        self.vectors = ItemVectors(self.ids, embedder.embed(self.pixels))
        self.index = CatalogueIndex.build(self.ids, self.vectors.vectors, list(categories),
                                          embedder_version=embedder.version)  # fmt: skip
        with torch.no_grad():
            z = model.compatibility.encoder(to_tensor(self.pixels))
        latents = CatalogueLatents(self.ids, z, categories, self.vectors.vectors)
        self.retriever = DesignRetriever(model, embedder, self.index, latents, per_design=per_design,
                                         oversample=oversample, feedback_rounds=feedback_rounds)  # fmt: skip
        query_rows = rng.integers(0, N_TOPS, N_QUESTIONS)
        targets = BOTTOMS[rng.integers(0, N_BOTTOMS, N_QUESTIONS)]
        assert model.compatibility.theta is not None
        thetas = model.compatibility.theta.weight.detach()[rng.integers(0, 4, N_QUESTIONS)]
        self.questions = DesignQuestions(TOPS[query_rows], self.pixels[query_rows], targets, thetas)
        self.candidates = acc5_candidates(targets, BOTTOMS, seed=seed)

    def image_of(self, item_id: int) -> np.ndarray:
        image: np.ndarray = self.pixels[int(np.searchsorted(self.ids, item_id))]
        return image

    def evaluate(self, *, n_designs: int, seed: int = 0, exhaustive: bool = True,
                 references: bool = False) -> DesignRetrievalResult:  # fmt: skip
        return evaluate_design_retrieval(self.retriever, self.questions, self.vectors, self.candidates,
                                         category="bottom", k=10, n_designs=n_designs, seed=seed,
                                         exhaustive=exhaustive, references=references)  # fmt: skip


def oracle(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the world's designer draw exactly each question's true bottom (questions are asked in order, one
    design call each; several questions share a query, so the query alone cannot tell the answer)."""
    q = world.questions
    answers = iter(to_tensor(np.stack([world.image_of(t) for t in q.targets])))

    def design(users: torch.Tensor, z_query: torch.Tensor, n: int, generator: object = None,
               theta: object = None) -> torch.Tensor:  # fmt: skip
        answer: torch.Tensor = next(answers)
        return answer[None, None].expand(1, n, *answer.shape)

    monkeypatch.setattr(world.retriever.designer, "design", design)


def test_a_designer_that_draws_the_true_bottom_scores_recall_1_and_acc5_1(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(designer(), per_design=10)  # each design's 10 nearest bottoms: the true one first
    oracle(world, monkeypatch)
    result = world.evaluate(n_designs=3, exhaustive=False)
    assert result.recall == 1.0 and result.retrieval_acc5 == 1.0
    assert result.exhaustive_hits is None


def test_a_random_designer_is_near_chance_and_searching_everything_equals_exhaustive() -> None:
    world = World(designer(seed=1), per_design=N_BOTTOMS)
    result = world.evaluate(n_designs=2, seed=3)
    chance = 10 / N_BOTTOMS
    assert abs(result.recall - chance) < 0.07
    assert abs(result.retrieval_acc5 - 0.2) < 0.1
    # every design retrieves every bottom: the re-rank is the exhaustive ranking
    assert result.exhaustive_hits is not None and np.array_equal(result.hits, result.exhaustive_hits)
    again = world.evaluate(n_designs=2, seed=3)
    assert np.array_equal(result.acc5, again.acc5)  # seeded


def test_references_start_the_same_retrieval_from_random_items_or_the_query_look_alikes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(designer(), per_design=5)
    oracle(world, monkeypatch)
    result = world.evaluate(n_designs=2, exhaustive=False, references=True)
    assert result.candidates is not None and (result.candidates == 10).all()  # two identical designs, k each
    # the designs find the truth; the 2 x 10 nearest items of 2 random bottoms (or of the query's 2 nearest
    # bottoms) seldom hold it among 100
    assert result.recall == 1.0 and result.random_recall < 0.35 and result.query_look_recall < 0.35
    plain = World(designer(seed=2), per_design=5)
    first, second = (plain.evaluate(n_designs=2, exhaustive=False, references=True) for _ in range(2))
    assert np.array_equal(first.random_hits, second.random_hits)  # seeded
    everything = World(designer(seed=1), per_design=N_BOTTOMS).evaluate(n_designs=1, references=True)
    # every seed retrieves the whole category: every reference re-ranks all of it, i.e. exhaustive
    assert everything.exhaustive_hits is not None
    assert np.array_equal(everything.random_hits, everything.exhaustive_hits)
    assert np.array_equal(everything.query_look_hits, everything.exhaustive_hits)
    assert np.isnan(plain.evaluate(n_designs=1, exhaustive=False).random_recall)


def test_retrieve_from_other_seeds_follows_the_same_steps_as_the_designs(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(designer(), per_design=5, feedback_rounds=1)
    oracle(world, monkeypatch)
    q = world.questions
    assert q.thetas is not None
    found = world.retriever.recommend(query=q.query_images[0], theta=q.thetas[0], category="bottom", k=10,
                                      n_designs=2, exclude=[int(q.queries[0])], seed=0)  # fmt: skip
    seeds = world.vectors.of([int(q.targets[0])] * 2)  # what the oracle's designs embed to
    top, count = world.retriever.retrieve(seeds, query=q.query_images[0], theta=q.thetas[0], category="bottom",
                                          k=10, exclude=[int(q.queries[0])])  # fmt: skip
    assert [(m.item_id, m.score) for m in found.matches] == top and count == found.candidates > 10


def test_candidates_hold_the_truth_first_and_distinct_bottoms() -> None:
    targets = BOTTOMS[[0, 5, 5, 9]]
    rows = acc5_candidates(targets, BOTTOMS, seed=1)
    assert rows.shape == (4, 5) and (rows[:, 0] == targets).all() and np.isin(rows, BOTTOMS).all()
    assert all(len(set(r)) == 5 for r in rows.tolist())
    assert np.array_equal(rows, acc5_candidates(targets, BOTTOMS, seed=1))
    four = np.column_stack([targets, BOTTOMS[[1, 2, 3]][None].repeat(4, 0)])
    assert np.array_equal(acc5_candidates(targets, BOTTOMS, fitb=four, seed=1), rows)  # 3 distractors: drawn
    five = np.column_stack([four, BOTTOMS[[4] * 4]])
    assert np.array_equal(acc5_candidates(targets, BOTTOMS, fitb=five), five)
    with pytest.raises(InvalidInputError):
        acc5_candidates(targets[::-1], BOTTOMS, fitb=five)


def test_visual_similarity_finds_the_twin_and_never_the_query_itself() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((N_BOTTOMS, 16)).astype(np.float32)
    vectors[1::2] = vectors[0::2]  # bottom 2i+1 looks exactly like bottom 2i
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    table = ItemVectors(BOTTOMS, vectors)
    index = CatalogueIndex.build(BOTTOMS, vectors, ["bottom"] * N_BOTTOMS, embedder_version="test")
    queries, twins = BOTTOMS[0::2], BOTTOMS[1::2]
    assert visual_hits(index, table, queries, twins, category="bottom", k=1).all()
    far = np.roll(twins, 7)
    assert visual_hits(index, table, queries, far, category="bottom", k=1).sum() == 0
    with pytest.raises(InvalidInputError, match="without a retrieval vector"):
        table.of([5])


class Cheater:
    """Scores the query itself highest and the true item second."""

    def __init__(self, truth: dict[int, int]) -> None:
        self.truth = truth

    def score(self, users: np.ndarray, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        target = np.array([self.truth[int(q)] for q in queries])
        scores: np.ndarray = 2.0 * (candidates == queries[:, None]) + (candidates == target[:, None])
        return scores


def test_a_scorer_ranks_the_whole_pool_without_the_query_and_random_is_chance() -> None:
    rng = np.random.default_rng(0)
    pool = np.arange(N_BOTTOMS, dtype=np.int64)
    queries = rng.choice(pool, 50, replace=False)
    targets = np.array([(q + 1) % N_BOTTOMS for q in queries])
    users = np.zeros(50, dtype=np.int64)
    cheater = Cheater(dict(zip(queries.tolist(), targets.tolist(), strict=True)))
    assert scorer_hits(cheater, users, queries, targets, pool, k=1, batch=16).all()
    many = rng.integers(0, N_BOTTOMS, 2000)
    hits = scorer_hits(RandomScorer(0), np.zeros(2000, np.int64), (many + 1) % N_BOTTOMS, many, pool, k=10)
    assert abs(hits.mean() - 10 / (N_BOTTOMS - 1)) < 0.03
    with pytest.raises(InvalidInputError, match="outside the pool"):
        scorer_hits(cheater, users[:1], queries[:1], np.array([N_BOTTOMS + 5]), pool)
