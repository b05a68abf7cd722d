"""Train a designer variant on a dataset (Algorithm 1), register it in ``model_versions`` and store its θu.

Training starts from a trained compatibility checkpoint when one is given (the seed trains F, M and θu jointly
with G; a trained start spares the CPU budget the part that the compatibility command already did) or from
scratch. Either way F, M and θu keep training on L_FM, so the designer's file holds everything needed to
design and to score.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sqlalchemy.orm import Session

from recengine.compatibility.train import TrainedModel, joint_user_rows, write_preferences
from recengine.datasets.image_cache import load_image_cache
from recengine.errors import InvalidInputError
from recengine.evaluation.protocol_data import ProtocolData, load_protocol_data
from recengine.names import check_name
from recengine.nets.compatibility import CompatibilityConfig, UserMode
from recengine.nets.designer import Designer, DesignerConfig
from recengine.store.model_versions import claim_model_version
from recengine.training.checkpoints import load_checkpoint
from recengine.training.designer_recipe import DesignerRecipe, LossWeights
from recengine.training.trainer import Progress, TrainConfig, Trainer


@dataclass(frozen=True)
class Variant:
    user_mode: UserMode
    weights: LossWeights = field(default_factory=LossWeights)


#: λ1 of L_FM_G. The seed sets 1, training F, M and G together from scratch, so that early scores are small;
#: started from a trained compatibility model, its gradient on the design pixels (through F) is ~300x RaLSGAN_G's and
#: paints adversarial high-frequency noise instead of garments even at 0.1 (docs/decisions.md, measured).
LAMBDA_FM_G = 0.01

#: Variant name -> user mode and loss weights (the seed's Table 2 ablations of the designer).
VARIANTS: dict[str, Variant] = {
    "full": Variant("theta", LossWeights(fm_g=LAMBDA_FM_G)),
    "no-theta": Variant("none", LossWeights(fm_g=LAMBDA_FM_G)),
    "label": Variant("label", LossWeights(fm_g=LAMBDA_FM_G)),
    "no-fm-g": Variant("theta", LossWeights(fm_g=0.0)),
}


def load_compatibility(
    path: Path, data: ProtocolData, user_mode: UserMode
) -> tuple[CompatibilityConfig, dict[str, torch.Tensor]]:
    """Config and weights of a compatibility checkpoint, checked against the variant and the dataset's users
    (θu rows are addressed by position, so the checkpoint must have been trained on the same joint users)."""
    payload = load_checkpoint(path, family="compatibility")
    config = CompatibilityConfig.from_dict(dict(payload["config"]))
    if config.user_mode != user_mode:
        raise InvalidInputError(f"{path}: user mode {config.user_mode!r}, this variant needs {user_mode!r}")
    joint = [e for e, new in zip(data.user_external, data.newcomer, strict=True) if not new]
    if user_mode != "none" and list(payload["extra"].get("user_external_ids", [])) != joint:
        raise InvalidInputError(f"{path}: trained on other users than this dataset's {len(joint)} joint users")
    return dataclasses.replace(config, n_users=len(joint)), dict(payload["state_dict"])


def load_designer(path: Path) -> Designer:
    """A trained designer (eval mode) from its checkpoint: G, D and the compatibility model it fine-tuned."""
    payload = load_checkpoint(path, family="designer")
    model = Designer(DesignerConfig.from_dict(dict(payload["config"])))
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def train_designer(*, session: Session, dataset: str, variant: str, images_dir: Path, checkpoint_dir: Path,
                   train: TrainConfig, config: DesignerConfig | None = None,
                   compatibility_checkpoint: Path | None = None, progress: Progress | None = None,
                   resume: bool = False, lambda_fm_g: float | None = None) -> TrainedModel:  # fmt: skip
    """Train ``variant`` (see :data:`VARIANTS`) on ``dataset``; the caller's transaction records the result.

    ``config`` sets G and D (and, without a compatibility checkpoint, the compatibility model's sizes); the
    user mode and user count always come from the variant and the dataset. ``lambda_fm_g`` overrides λ1 of a
    variant that has L_FM_G. Sample grids are written under ``checkpoint_dir / "samples"``.
    """
    if variant not in VARIANTS:
        raise InvalidInputError(f"unknown designer variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    spec = VARIANTS[variant]
    if lambda_fm_g is not None and spec.weights.fm_g:
        if lambda_fm_g <= 0:
            raise InvalidInputError(f"lambda_fm_g must be positive (variant no-fm-g removes L_FM_G), got {lambda_fm_g}")
        spec = dataclasses.replace(spec, weights=dataclasses.replace(spec.weights, fm_g=lambda_fm_g))
    torch.manual_seed(train.seed)
    data = load_protocol_data(session=session, dataset=dataset)
    rows = joint_user_rows(data)
    base = config or DesignerConfig()
    state: dict[str, torch.Tensor] | None = None
    if compatibility_checkpoint is not None:
        compatibility, state = load_compatibility(compatibility_checkpoint, data, spec.user_mode)
    else:
        compatibility = dataclasses.replace(base.compatibility, user_mode=spec.user_mode,
                                            n_users=int((rows >= 0).sum()))  # fmt: skip
    model_config = dataclasses.replace(base, compatibility=compatibility)
    model = Designer(model_config)
    if state is not None:
        model.compatibility.load_state_dict(state)
    images = load_image_cache(session=session, item_ids=data.item_ids, size=model_config.image_size,
                              cache_dir=images_dir)  # fmt: skip
    name = f"{check_name('dataset name', dataset)}-{variant}"
    recipe = DesignerRecipe(model, data, images, rows, weights=spec.weights, samples_dir=checkpoint_dir / "samples",
                            name=name, seed=train.seed)  # fmt: skip
    path = checkpoint_dir / f"designer-{name}.pt"
    trainer = Trainer(recipe, train, checkpoint=path, progress=progress)
    if resume:
        trainer.resume()
    result = trainer.fit()
    version = claim_model_version(session=session, family="designer", name=name)
    started: dict[str, Any] = {"compatibility_checkpoint": None if compatibility_checkpoint is None
                               else str(compatibility_checkpoint)}  # fmt: skip
    version.config = {"model": model_config.as_dict(), "train": train.as_dict(), "dataset": dataset,
                      "weights": dataclasses.asdict(spec.weights), **started}  # fmt: skip
    version.metrics = result.metrics
    version.checkpoint_path, version.checkpoint_sha256 = str(path), result.sha256
    session.flush()
    joint_ids = data.user_ids[rows >= 0].tolist()
    counts = np.bincount(recipe.compatibility.pos[0].numpy(), minlength=len(joint_ids))
    write_preferences(session=session, model=model.compatibility, model_version_id=version.id, user_ids=joint_ids,
                      n_examples={uid: int(counts[r]) for r, uid in enumerate(joint_ids)})  # fmt: skip
    return TrainedModel(version.id, path, result)
