"""Train the clothing inpainting model (DPConv, or the PConv baseline) on the catalogue's photos and register it.

Reference: Kınlı, Özcan, Kıraç, "A Benchmark for Inpainting of Clothing Images with Irregular Holes" (2020).
The seed keeps the clothing categories of its datasets (top, sweater, pant, jean, shirt, dress, short, skirt,
coat); here: the served items whose outfit slot is a garment (:data:`CLOTHING`), 5% held out by a hash of the
item id (the embedder's split, so a grown catalogue keeps its old split). The model version is family
``inpainting``, named after the variant unless a name is given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sqlalchemy.orm import Session

from recengine.compatibility.train import TrainedModel
from recengine.datasets.image_cache import load_image_cache
from recengine.embedding.catalogue import served_items
from recengine.embedding.train import default_embedder_checkpoint
from recengine.errors import InvalidInputError
from recengine.names import check_name
from recengine.nets.inpainting import InpaintConfig, InpaintingModel
from recengine.nets.registry import create_generator
from recengine.store.model_versions import claim_model_version
from recengine.training.checkpoints import load_checkpoint
from recengine.training.embedder_recipe import held_out
from recengine.training.inpaint_losses import InpaintLossWeights, load_feature_net
from recengine.training.inpaint_recipe import InpaintRecipe
from recengine.training.trainer import Progress, TrainConfig, Trainer

VARIANTS = ("dpconv", "pconv")
#: Outfit slots that are garments (the seed's clothing categories).
CLOTHING = ("top", "bottom", "all-body", "outerwear")
#: The seed's Adam betas for G and D (Sec. 4.1); the CLI passes them in its TrainConfig.
BETAS = (0.5, 0.9)


def load_inpainting(path: Path) -> InpaintingModel:
    """A trained inpainting model (eval mode) from its checkpoint."""
    payload = load_checkpoint(path, family="inpainting")
    model = InpaintingModel(InpaintConfig.from_dict(dict(payload["config"])))
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def train_inpainting(*, session: Session, variant: str = "dpconv", images_dir: Path, checkpoint_dir: Path,
                     train: TrainConfig, config: InpaintConfig | None = None, feature_net: str = "embedder",
                     name: str | None = None, d_lr: float | None = None, eval_images: int = 64,
                     categories: tuple[str, ...] = CLOTHING, progress: Progress | None = None,
                     resume: bool = False) -> TrainedModel:  # fmt: skip
    """Train ``variant`` on the served garments; the caller's transaction records the model version.

    Args:
        variant: ``dpconv`` (dilated partial convolutions) or ``pconv`` (every dilation 1).
        train: Steps, batch, G's lr (the seed: 2e-4) and betas (the seed: :data:`BETAS`), evaluation period.
        config: Network sizes (default: the CPU configuration, 64x64); the variant sets the dilations.
        feature_net: Ψ of the style loss: ``embedder`` (registered or shipped catalogue network),
            ``embedder:PATH`` or ``vgg16:PATH`` (:func:`recengine.training.inpaint_losses.load_feature_net`).
        d_lr: D's learning rate (default: half of G's, the seed's 1e-4 against 2e-4).
        eval_images: Held-out photos evaluated (each under one mask per hole-ratio bucket).
        categories: Outfit slots whose items are trained on.
        resume: Continue from this run's checkpoint when it exists.
    """
    if variant not in VARIANTS:
        raise InvalidInputError(f"unknown inpainting variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    torch.manual_seed(train.seed)
    model = create_generator(variant, config)
    assert isinstance(model, InpaintingModel)
    features, feature_record = load_feature_net(feature_net, default_embedder=default_embedder_checkpoint(session))
    items = served_items(session=session)
    keep = np.array([c in categories for c in items.categories], dtype=bool)
    ids = items.ids[keep]
    if len(ids) < 20:
        raise InvalidInputError(f"the catalogue serves {len(ids)} garments; inpainting needs at least 20")
    size = model.config.image_size
    images = load_image_cache(session=session, item_ids=ids, size=size, cache_dir=images_dir)
    label = check_name("inpainting model name", name or variant)
    weights = InpaintLossWeights()
    recipe = InpaintRecipe(model, images, held_out(ids), features, weights=weights,
                           d_lr=train.lr / 2 if d_lr is None else d_lr, eval_images=eval_images,
                           samples_dir=checkpoint_dir / "samples", name=label, seed=train.seed,
                           extra={"variant": variant, "feature_net": feature_record,
                                  "items": len(ids)})  # fmt: skip
    path = checkpoint_dir / f"inpainting-{label}.pt"
    trainer = Trainer(recipe, train, checkpoint=path, progress=progress)
    if resume:
        trainer.resume()
    result = trainer.fit()
    version = claim_model_version(session=session, family="inpainting", name=label)
    version.config = {"model": model.config.as_dict(), "variant": variant, "train": train.as_dict(),
                      "feature_net": feature_record, "loss_weights": weights.as_dict(), "d_lr": recipe.d_lr,
                      "items": len(ids), "categories": list(categories)}  # fmt: skip
    version.metrics = result.metrics
    version.checkpoint_path, version.checkpoint_sha256 = str(path), result.sha256
    session.flush()
    return TrainedModel(version.id, path, result)
