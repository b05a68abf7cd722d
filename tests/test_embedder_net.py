"""The catalogue image network: contract, labels, split, and a tiny training run on real Myntra photos."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from recengine.datasets.importers.myntra import import_myntra
from recengine.embedding.catalogue import embed_served, served_items
from recengine.embedding.embedder import CatalogueEmbedder, resolve_embedder
from recengine.embedding.train import train_embedder
from recengine.errors import NotFoundError
from recengine.nets.embedder import EmbedderConfig, EmbedderNet
from recengine.training.checkpoints import load_checkpoint
from recengine.training.embedder_recipe import encode_labels, held_out
from recengine.training.trainer import TrainConfig
from tests.conftest import MYNTRA, require

TINY = EmbedderConfig(widths=(4, 8, 8, 16, 16), convs=(1, 1, 1, 1, 1), fc=(32,), dim=16)


def test_network_outputs_unit_vectors_and_cosine_logits() -> None:
    net = EmbedderNet(EmbedderConfig(**{**TINY.as_dict(), "heads": {"colour": ("Red", "Blue", "Black")}}))
    e = net(torch.rand(5, 3, 64, 64) * 2 - 1)
    assert e.shape == (5, 16) and torch.allclose(e.norm(dim=1), torch.ones(5), atol=1e-5)
    logits = net.logits(e)
    assert logits["colour"].shape == (5, 3) and float(logits["colour"].detach().abs().max()) <= TINY.scale + 1e-4
    assert net.pooled(torch.zeros(2, 3, 64, 64)).shape == (2, 16)
    again = EmbedderConfig.from_dict(net.config.as_dict())
    assert again == net.config


def test_labels_keep_classes_seen_often_enough() -> None:
    classes, codes = encode_labels(["Red"] * 5 + ["Blue"] * 4 + [None, ""], min_count=5)
    assert classes == ("Red",) and codes.tolist() == [0] * 5 + [-1] * 6


def test_held_out_split_is_stable_and_about_five_percent() -> None:
    ids = np.arange(1, 20001, dtype=np.int64)
    split = held_out(ids)
    assert 0.04 < split.mean() < 0.06
    assert (held_out(ids[::7]) == split[::7]).all()  # per id, whatever else is in the catalogue


@pytest.fixture(scope="module")
def catalogue(engine: Engine) -> Iterator[Engine]:
    with Session(engine) as session, session.begin():
        import_myntra(require(MYNTRA), session=session, limit=700)
    yield engine


def test_tiny_training_run_registers_a_usable_embedder(catalogue: Engine, tmp_path: Path) -> None:
    with Session(catalogue) as session:
        with pytest.raises(NotFoundError, match="no catalogue embedder registered"):
            resolve_embedder(session=session)  # nothing registered yet: says how to get one
        train = TrainConfig(steps=60, batch_size=32, lr=2e-3, betas=(0.9, 0.999), eval_every=30, seed=0)
        version, result = train_embedder(session=session, images_dir=tmp_path / "cache", config=TINY, train=train,
                                         checkpoint_dir=tmp_path / "checkpoints")  # fmt: skip
        first, last = result.history[0], result.history[-1]
        assert (version.family, version.name, result.steps) == ("embedder", "catalogue", 60)
        assert last["loss"] < first["loss"] + 1e-6 and 0.0 <= last["valid_nn10_article_type"] <= 1.0
        payload = load_checkpoint(Path(str(version.checkpoint_path)), family="embedder")
        assert set(payload["config"]["heads"]) >= {"article_type", "colour"}
        embedder = resolve_embedder(session=session)
        assert isinstance(embedder, CatalogueEmbedder) and embedder.model_version_id == version.id
        items = served_items(session=session)
        vectors = embed_served(session=session, items=items, embedder=embedder)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        session.rollback()
