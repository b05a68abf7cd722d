"""Train a compatibility variant on a dataset, register it in ``model_versions`` and store θu in Postgres."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from sqlalchemy import delete
from sqlalchemy.orm import Session

from recengine.compatibility.warm_start import warm_start
from recengine.datasets.image_cache import load_image_cache
from recengine.embedding.train import default_embedder_checkpoint
from recengine.errors import InvalidInputError
from recengine.evaluation.protocol_data import ProtocolData, load_protocol_data
from recengine.names import check_name
from recengine.nets.compatibility import CompatibilityConfig, CompatibilityModel, UserMode
from recengine.store.model_versions import claim_model_version
from recengine.store.models import UserPreference
from recengine.training.checkpoints import load_checkpoint
from recengine.training.compatibility_recipe import DEFAULT_USER_LR, CompatibilityRecipe, NegativeMix
from recengine.training.trainer import Progress, TrainConfig, Trainer, TrainResult

#: Variant name -> user mode (the seed's Table 2 rows).
VARIANTS: dict[str, UserMode] = {"full": "theta", "no-theta": "none", "label": "label"}


@dataclass(frozen=True)
class TrainedModel:
    model_version_id: int
    checkpoint: Path
    result: TrainResult


def joint_user_rows(data: ProtocolData) -> NDArray[np.int64]:
    """(U,) row of each user in the model's user table: joint users in id order, -1 for newcomers."""
    rows = np.full(len(data.user_ids), -1, dtype=np.int64)
    joint = np.flatnonzero(~data.newcomer)
    rows[joint] = np.arange(len(joint))
    return rows


def write_preferences(*, session: Session, model: CompatibilityModel, model_version_id: int,
                      user_ids: list[int], n_examples: dict[int, int]) -> int:  # fmt: skip
    """Upsert θu of the model's trained users for this model version; returns the number written."""
    if model.theta is None:
        return 0
    vectors = model.theta.weight.detach().numpy().astype(np.float32)
    session.execute(delete(UserPreference).where(UserPreference.model_version_id == model_version_id))
    session.add_all(
        UserPreference(user_id=uid, model_version_id=model_version_id, dim=vectors.shape[1],
                       vector=vectors[row].tolist(), n_examples=n_examples.get(uid, 0), is_prior=False)
        for row, uid in enumerate(user_ids)
    )  # fmt: skip
    return len(user_ids)


def train_compatibility(*, session: Session, dataset: str, variant: str, images_dir: Path, checkpoint_dir: Path,
                        train: TrainConfig, config: CompatibilityConfig | None = None,
                        progress: Progress | None = None, resume: bool = False,
                        init_encoder: str = "none", user_lr: float = DEFAULT_USER_LR, freeze_conv: bool = False,
                        random_negatives: int | None = None, negatives: NegativeMix | None = None,
                        tune_conv_blocks: int = 0, user_steps: int = 0) -> TrainedModel:  # fmt: skip
    """Train ``variant`` (see :data:`VARIANTS`) on ``dataset``; the caller's transaction records the result.

    ``init_encoder`` says where F's weights start (:mod:`recengine.compatibility.warm_start`); a resumed run
    continues from its checkpoint whatever it says. ``freeze_conv``, ``tune_conv_blocks``, ``random_negatives`` and
    ``negatives``: see :class:`~recengine.training.compatibility_recipe.CompatibilityRecipe`; freezing a conv stack
    that starts from scratch is refused (it would stay random).

    ``user_steps`` adds a user stage after the joint one: F and M fixed, θu (or the discrete labels) trained on
    alone for that many steps of the same loss, their learning rate falling linearly from ``user_lr`` to 0.
    Each θu row sees ~1/700 of the joint stage's batches, so the users are the parameters least converged when
    the networks are (measured in docs/decisions.md). The θu-removed variant has no user stage. A resumed run
    whose checkpoint already went through the stage only re-registers it.

    Raises:
        InvalidInputError: ``freeze_conv`` without a warm start to freeze; a negative ``user_steps``.
    """
    if user_steps < 0:
        raise InvalidInputError(f"user_steps must be >= 0, got {user_steps}")
    torch.manual_seed(train.seed)
    data = load_protocol_data(session=session, dataset=dataset)
    rows = joint_user_rows(data)
    base = config or CompatibilityConfig()
    model_config = CompatibilityConfig(**{**base.as_dict(), "user_mode": VARIANTS[variant],
                                          "n_users": int((rows >= 0).sum())})  # fmt: skip
    model = CompatibilityModel(model_config)
    initial = warm_start(model, init_encoder, default_embedder=default_embedder_checkpoint(session))
    path = checkpoint_dir / f"compatibility-{check_name('dataset name', dataset)}-{variant}.pt"
    resuming = resume and path.exists()
    if freeze_conv and initial is None and not resuming:
        raise InvalidInputError(f"freeze_conv needs a trained conv stack to freeze; init_encoder {init_encoder!r} "
                                "loaded none (use embedder, embedder:PATH or vgg16:PATH)")  # fmt: skip
    images = load_image_cache(session=session, item_ids=data.item_ids, size=model_config.image_size,
                              cache_dir=images_dir)  # fmt: skip
    saved = load_checkpoint(path, family="compatibility") if resuming else None
    if saved is not None:  # the conv stack to freeze is the checkpoint's, so load it before caching
        model.load_state_dict(saved["state_dict"])
    recipe = CompatibilityRecipe(model, data, images, rows, seed=train.seed, user_lr=user_lr,
                                 freeze_conv=freeze_conv, random_negatives=random_negatives,
                                 negatives=negatives, tune_conv_blocks=tune_conv_blocks)  # fmt: skip
    stage_steps = user_steps if VARIANTS[variant] != "none" else 0
    total = train.steps + stage_steps
    trainer = Trainer(recipe, train, checkpoint=path,
                      progress=None if progress is None else lambda step, _: progress(step, total))  # fmt: skip
    # A finished run is saved again on resuming: it keeps its record of the stage, and the stage is not rerun.
    recipe.user_stage = None if saved is None else saved["extra"].get("user_stage")
    if resume:
        trainer.resume()
    result = trainer.fit()
    if stage_steps and recipe.user_stage is None:
        result = _user_stage(trainer, result, recipe, stage_steps, progress)
    name = f"{dataset}-{variant}"
    version = claim_model_version(session=session, family="compatibility", name=name)
    version.config = {"model": model_config.as_dict(), "train": train.as_dict(), "dataset": dataset,
                      "init_encoder": initial, "user_lr": user_lr, "freeze_conv": freeze_conv,
                      "tune_conv_blocks": tune_conv_blocks, "user_steps": stage_steps,
                      "random_negatives": random_negatives, "negatives": recipe.negatives.as_dict()}  # fmt: skip
    version.metrics = result.metrics
    version.checkpoint_path, version.checkpoint_sha256 = str(path), result.sha256
    session.flush()
    joint_ids = data.user_ids[rows >= 0].tolist()
    counts = np.bincount(recipe.pos[0].numpy(), minlength=len(joint_ids))
    write_preferences(session=session, model=model, model_version_id=version.id, user_ids=joint_ids,
                      n_examples={uid: int(counts[r]) for r, uid in enumerate(joint_ids)})  # fmt: skip
    return TrainedModel(version.id, path, result)


def _user_stage(joint: Trainer, joint_result: TrainResult, recipe: CompatibilityRecipe, steps: int,
                progress: Progress | None) -> TrainResult:  # fmt: skip
    """Train θu (or the labels) alone after ``joint`` (see :func:`train_compatibility`) at the recipe's user
    learning rate; the joint trainer's checkpoint gets the result, its history the stage's evaluation."""
    train = joint.config
    config = TrainConfig(steps=steps, batch_size=train.batch_size, lr=recipe.user_lr, betas=train.betas,
                         eval_every=steps, seed=train.seed + 1, threads=train.threads, lr_decay="linear")  # fmt: skip
    recipe.fix_networks({"steps": config.steps, "lr": config.lr, "lr_decay": config.lr_decay})
    report = None if progress is None else lambda step, _: progress(train.steps + step, train.steps + steps)
    stage = Trainer(recipe, config, progress=report).fit()
    metrics = {**stage.metrics, "step": float(train.steps + steps)}
    joint.history.append(metrics)
    sha = joint.save(metrics)
    return TrainResult(joint.step + steps, joint_result.seconds + stage.seconds, joint.history, metrics,
                       joint.checkpoint, sha)  # fmt: skip
