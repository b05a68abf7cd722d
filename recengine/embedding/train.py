"""Train the catalogue image network on the served catalogue's labels and register it (family ``embedder``)."""

from __future__ import annotations

from pathlib import Path

import torch
from sqlalchemy import select
from sqlalchemy.orm import Session

from recengine.datasets.image_cache import load_image_cache
from recengine.embedding.catalogue import served_items
from recengine.errors import InvalidInputError
from recengine.names import check_name
from recengine.nets.embedder import EmbedderConfig, EmbedderNet
from recengine.store.bulk import any_of
from recengine.store.model_versions import claim_model_version
from recengine.store.models import Item, ModelVersion
from recengine.training.embedder_recipe import EmbedderRecipe, encode_labels, held_out
from recengine.training.trainer import Progress, TrainConfig, Trainer, TrainResult

#: Item columns the heads learn.
LABELS = ("article_type", "colour", "gender", "usage")
#: The shipped catalogue network: the fallback when none is registered (a source checkout).
SHIPPED_EMBEDDER = Path(__file__).resolve().parents[2] / "checkpoints" / "embedder-catalogue.pt"


def default_embedder_checkpoint(session: Session) -> Path | None:
    """The newest registered catalogue embedder's file, else the shipped one, else None."""
    newest = ModelVersion.created_at.desc(), ModelVersion.id.desc()
    version = session.scalar(select(ModelVersion).where(ModelVersion.family == "embedder").order_by(*newest))
    if version is not None and version.checkpoint_path and Path(version.checkpoint_path).exists():
        return Path(version.checkpoint_path)
    return SHIPPED_EMBEDDER if SHIPPED_EMBEDDER.exists() else None


def train_embedder(*, session: Session, images_dir: Path, checkpoint_dir: Path, train: TrainConfig,
                   config: EmbedderConfig | None = None, name: str = "catalogue",
                   progress: Progress | None = None) -> tuple[ModelVersion, TrainResult]:  # fmt: skip
    """Train on every served item (95%; 5% held out for validation); the caller's transaction records it."""
    torch.manual_seed(train.seed)
    items = served_items(session=session)
    if len(items) < 100:
        raise InvalidInputError(f"the catalogue serves {len(items)} items; the embedder needs at least 100")
    columns = [getattr(Item, c) for c in LABELS]
    rows = {r[0]: r[1:] for r in session.execute(select(Item.id, *columns).where(any_of(Item.id, items.ids.tolist())))}
    heads, labels = {}, {}
    for n, label in enumerate(LABELS):
        classes, codes = encode_labels([rows[int(i)][n] for i in items.ids])
        if len(classes) >= 2:
            heads[label], labels[label] = classes, codes
    base = config or EmbedderConfig()
    model = EmbedderNet(EmbedderConfig(**{**base.as_dict(), "heads": heads}))
    images = load_image_cache(session=session, item_ids=items.ids, size=base.image_size, cache_dir=images_dir)
    recipe = EmbedderRecipe(model, images, labels, held_out(items.ids))
    path = checkpoint_dir / f"embedder-{check_name('embedder name', name)}.pt"
    result = Trainer(recipe, train, checkpoint=path, progress=progress).fit()
    version = claim_model_version(session=session, family="embedder", name=name)
    version.config = {"model": model.config.as_dict(), "train": train.as_dict(), "items": len(items)}
    version.metrics = result.metrics
    version.checkpoint_path, version.checkpoint_sha256 = str(path), result.sha256
    session.flush()
    return version, result
