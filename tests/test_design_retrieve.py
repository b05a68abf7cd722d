"""Design-and-retrieve: designs become real catalogue items of the category, re-ranked by s(u, q, c)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recengine.datasets.image_cache import to_tensor
from recengine.embedding.embedder import PixelEmbedder
from recengine.errors import InvalidInputError
from recengine.index import CatalogueIndex
from recengine.nets.designer import Designer
from recengine.recommend.design_retrieve import CatalogueLatents, DesignRetriever, to_uint8
from tests.test_designer import designer

N_ITEMS = 120


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def catalogue(model: Designer) -> tuple[CatalogueIndex, CatalogueLatents, np.ndarray]:
    rng = np.random.default_rng(0)
    size = model.config.image_size
    pixels = rng.integers(0, 256, (N_ITEMS, size, size, 3), dtype=np.uint8)
    ids = np.arange(1000, 1000 + N_ITEMS, dtype=np.int64)
    categories = np.array(["top", "bottom", "shoes"])[np.arange(N_ITEMS) % 3]
    vectors = PixelEmbedder(image_size=size).embed(pixels)
    index = CatalogueIndex.build(ids, vectors, list(categories), embedder_version="pixels")
    with torch.no_grad():
        z = model.compatibility.encoder(torch.as_tensor(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1)
    return index, CatalogueLatents(ids, z, categories, vectors), pixels


@pytest.fixture
def setup() -> tuple[DesignRetriever, np.ndarray, torch.Tensor]:
    model = designer()
    index, latents, pixels = catalogue(model)
    retriever = DesignRetriever(model, PixelEmbedder(image_size=model.config.image_size), index, latents,
                                per_design=8)  # fmt: skip
    assert model.compatibility.theta is not None
    return retriever, pixels, model.compatibility.theta.weight[1].detach()


def test_matches_are_real_items_of_the_category_ranked_by_personal_score(setup: tuple) -> None:  # type: ignore[type-arg]
    retriever, pixels, theta = setup
    query_id = 1000
    result = retriever.recommend(query=pixels[0], theta=theta, category="bottom", k=5, n_designs=3, seed=0,
                                 exclude=[1001])  # fmt: skip
    assert result.designs.shape == (3, *pixels.shape[1:]) and result.designs.dtype == np.uint8
    ids = [m.item_id for m in result.matches]
    assert len(ids) == 5 == len(set(ids)) and 1001 not in ids and query_id not in ids
    assert all((i - 1000) % 3 == 1 for i in ids)  # bottoms only
    scores = [m.score for m in result.matches]
    assert scores == sorted(scores, reverse=True)
    reference = dict(retriever.exhaustive(query=pixels[0], theta=theta, category="bottom", k=N_ITEMS))
    assert all(m.score == pytest.approx(reference[m.item_id], rel=1e-5) for m in result.matches)
    assert all(0 <= m.design < 3 for m in result.matches) and set(result.timings_ms) >= {"design", "retrieve", "total"}


def test_searching_the_whole_category_equals_exhaustive_scoring(setup: tuple) -> None:  # type: ignore[type-arg]
    retriever, pixels, theta = setup
    retriever.per_design = N_ITEMS  # every design retrieves every bottom
    found = retriever.recommend(query=pixels[4], theta=theta, category="bottom", k=10, n_designs=2, seed=1)
    reference = retriever.exhaustive(query=pixels[4], theta=theta, category="bottom", k=10)
    assert [m.item_id for m in found.matches] == [i for i, _ in reference]


def test_the_compatibility_model_keeps_the_designs_it_scores_highest(setup: tuple) -> None:  # type: ignore[type-arg]
    retriever, pixels, theta = setup
    retriever.oversample = 3
    found = retriever.recommend(query=pixels[0], theta=theta, category="bottom", k=5, n_designs=2, seed=4)
    model = retriever.designer
    with torch.no_grad():
        z_query = model.compatibility.encoder(to_tensor(pixels[:1]))
        drawn = model.design(torch.zeros(1, dtype=torch.long), z_query, 6, torch.Generator().manual_seed(4),
                             theta=theta[None])[0]  # fmt: skip
        scores = model.compatibility.score_latent(model.compatibility.encoder(drawn) * z_query, theta[None])
    best = torch.argsort(scores, descending=True)[:2]
    assert np.array_equal(found.designs, to_uint8(drawn[best]))


def test_feedback_rounds_search_around_the_best_items_and_matches_name_their_closest_design(
    setup: tuple,  # type: ignore[type-arg]
) -> None:
    retriever, pixels, theta = setup
    retriever.feedback_rounds = 0
    plain = retriever.recommend(query=pixels[0], theta=theta, category="bottom", k=5, n_designs=2, seed=3)
    retriever.feedback_rounds, retriever.feedback_items = 2, 2
    found = retriever.recommend(query=pixels[0], theta=theta, category="bottom", k=5, n_designs=2, seed=3,
                                exclude=[1001])  # fmt: skip
    assert np.array_equal(found.designs, plain.designs) and found.candidates > plain.candidates
    assert 1001 not in [m.item_id for m in found.matches]
    exhaustive = dict(retriever.exhaustive(query=pixels[0], theta=theta, category="bottom", k=N_ITEMS))
    assert all(m.score == pytest.approx(exhaustive[m.item_id], rel=1e-5) for m in found.matches)
    assert found.matches[0].score >= plain.matches[0].score  # a superset of candidates
    embedded = retriever.embedder.embed(found.designs)
    for m in found.matches:
        sims = embedded @ retriever.latents.vectors[retriever.latents.rows(np.array([m.item_id]))][0]  # type: ignore[index]
        assert m.design == int(sims.argmax()) and m.similarity == pytest.approx(float(sims.max()), abs=1e-5)


def test_feedback_searches_probe_fewer_ivf_lists(setup: tuple) -> None:  # type: ignore[type-arg]
    retriever, pixels, theta = setup
    calls: list[int | None] = []
    search = retriever.index.search

    def recording(*args: object, nprobe: int | None = None, **kwargs: object) -> object:
        calls.append(nprobe)
        return search(*args, nprobe=nprobe, **kwargs)  # type: ignore[arg-type]

    retriever.index = type("Recording", (), {"search": staticmethod(recording)})()
    retriever.feedback_rounds, retriever.feedback_nprobe = 2, 3
    retriever.recommend(query=pixels[0], theta=theta, category="bottom", k=5, n_designs=2, seed=3)
    assert calls == [None, 3, 3]  # the designs' search keeps the index's own nprobe


def test_the_seed_procedure_needs_no_item_vectors(setup: tuple) -> None:  # type: ignore[type-arg]
    retriever, pixels, theta = setup
    bare = CatalogueLatents(retriever.latents.item_ids, retriever.latents.z, retriever.latents.categories)
    with pytest.raises(InvalidInputError, match="retrieval vectors"):
        DesignRetriever(retriever.designer, retriever.embedder, retriever.index, bare)
    seed_only = DesignRetriever(retriever.designer, retriever.embedder, retriever.index, bare, per_design=8,
                                oversample=1, feedback_rounds=0)  # fmt: skip
    found = seed_only.recommend(query=pixels[0], theta=theta, category="bottom", k=5, n_designs=3, seed=0)
    assert len(found.matches) == 5 and all(0 <= m.design < 3 and -1.0 <= m.similarity <= 1.0 for m in found.matches)


def test_designs_repeat_with_a_seed_and_differ_across_seeds_and_users(setup: tuple) -> None:  # type: ignore[type-arg]
    retriever, pixels, theta = setup
    a = retriever.recommend(query=pixels[2], theta=theta, category="top", n_designs=2, seed=5).designs
    b = retriever.recommend(query=pixels[2], theta=theta, category="top", n_designs=2, seed=5).designs
    c = retriever.recommend(query=pixels[2], theta=theta, category="top", n_designs=2, seed=6).designs
    other_user = retriever.designer.compatibility.theta.weight[3].detach()  # type: ignore[union-attr]
    d = retriever.recommend(query=pixels[2], theta=other_user, category="top", n_designs=2, seed=5).designs
    assert np.array_equal(a, b) and not np.array_equal(a, c) and not np.array_equal(a, d)


def test_bad_requests_are_refused(setup: tuple) -> None:  # type: ignore[type-arg]
    retriever, pixels, theta = setup
    with pytest.raises(InvalidInputError, match="k and n_designs"):
        retriever.recommend(query=pixels[0], theta=theta, category="top", k=0)
    latents = retriever.latents
    with pytest.raises(InvalidInputError, match="without precomputed latents"):
        latents.rows(np.array([5], dtype=np.int64))
    with pytest.raises(InvalidInputError, match="embedder takes"):
        wrong = PixelEmbedder(image_size=2 * retriever.designer.config.image_size)
        DesignRetriever(retriever.designer, wrong, retriever.index, latents)
    with pytest.raises(InvalidInputError, match="oversample"):
        DesignRetriever(retriever.designer, retriever.embedder, retriever.index, latents, oversample=0)
    with pytest.raises(InvalidInputError, match="rows"):
        CatalogueLatents(latents.item_ids, latents.z[:-1], latents.categories)


def test_to_uint8_maps_the_tanh_range_to_pixels() -> None:
    images = torch.tensor([-1.0, 0.0, 1.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert to_uint8(images)[0, 0, 0].tolist() == [0, 128, 255]
