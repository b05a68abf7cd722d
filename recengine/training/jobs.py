"""Training as a background job: one parameter dict names the family, the variant and the run.

The Celery task ``train`` (``workers/tasks.py``) and ``recengine train ... --background`` both go through
:func:`train_from_params`, so a job trains exactly what the same options would train in the foreground. The
parameters are the job row's JSON: plain values only, validated here before any work starts, so a typo fails the
job at once with a message instead of after an hour of training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from recengine.datasets.outfits.simulate import DEFAULT_DATASET
from recengine.errors import InvalidInputError
from recengine.store.database import Database
from recengine.training.bounds import COUNT, RATE, SIZE, WEIGHT, check_bounds
from recengine.training.trainer import Progress, TrainConfig

FAMILIES = ("compatibility", "designer", "embedder", "inpainting")
_TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)}
_COMMON = {"family", "variant", "dataset", "config", "resume", "name"}
_EXTRA = {"compatibility": {"recipe", "user_lr", "init_encoder", "freeze_conv", "tune_conv_blocks", "random_negatives",
                           "user_steps", "in_batch_negatives", "exclude_own", "eq7_weight"},
          "designer": {"compatibility_checkpoint", "lambda_fm_g"},
          "inpainting": {"feature_net", "d_lr", "eval_images"}}  # fmt: skip

_EXTRA_BOUNDS = {"user_lr": RATE, "user_steps": COUNT, "tune_conv_blocks": COUNT, "random_negatives": SIZE,
                 "eq7_weight": WEIGHT, "d_lr": RATE, "eval_images": SIZE, "lambda_fm_g": WEIGHT}  # fmt: skip


def train_config(params: Mapping[str, Any]) -> TrainConfig:
    """The run's :class:`TrainConfig` from the parameters that name its fields (the rest keep the defaults)."""
    values: dict[str, Any] = {k: tuple(v) if k == "betas" else v for k, v in params.items()
                              if k in _TRAIN_KEYS and v is not None}  # fmt: skip
    try:
        return TrainConfig(**values)
    except TypeError as exc:
        raise InvalidInputError(f"bad training parameters: {exc}") from exc


def check_params(params: Mapping[str, Any]) -> str:
    """The family named by ``params``; unknown families or keys raise :class:`InvalidInputError`."""
    family = params.get("family")
    if family not in FAMILIES:
        raise InvalidInputError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}")
    unknown = set(params) - _TRAIN_KEYS - _COMMON - _EXTRA.get(str(family), set())
    if unknown:
        raise InvalidInputError(f"unknown parameters for a {family} training job: {', '.join(sorted(unknown))}")
    check_bounds(params, _EXTRA_BOUNDS)
    train_config(params)  # its own ranges
    if family == "compatibility" and params.get("recipe") is not None:
        from recengine.compatibility.recipes import recipe_named

        recipe_named(str(params["recipe"]))
    return str(family)


def train_from_params(*, db: Database, data_dir: Path, params: Mapping[str, Any],
                      progress: Progress | None = None) -> dict[str, Any]:  # fmt: skip
    """Train what ``params`` name, in one transaction (nothing is registered unless training finishes).

    Returns the job's result: model version id, checkpoint path, seconds and the final validation metrics.
    """
    family = check_params(params)
    run = _RUNNERS[family]
    train = train_config(params)
    images_dir, checkpoint_dir = data_dir / "cache", data_dir / "checkpoints"
    with db.transaction() as session:
        return run(session, params, train, images_dir, checkpoint_dir, progress)


def _compatibility(session: Any, params: Mapping[str, Any], train: TrainConfig, images_dir: Path,
                   checkpoint_dir: Path, progress: Progress | None) -> dict[str, Any]:  # fmt: skip
    from recengine.compatibility.recipes import resolve_run
    from recengine.compatibility.train import train_compatibility
    from recengine.nets.compatibility import CompatibilityConfig
    from recengine.training.compatibility_recipe import NegativeMix

    config = CompatibilityConfig.from_dict(dict(params["config"])) if params.get("config") else None
    train, params = resolve_run(params, train)
    negatives = params["random_negatives"]
    default = NegativeMix()
    mix = NegativeMix(in_batch=bool(params.get("in_batch_negatives", default.in_batch)),
                      exclude_own=bool(params.get("exclude_own", default.exclude_own)),
                      eq7_weight=float(params.get("eq7_weight", default.eq7_weight)))  # fmt: skip
    trained = train_compatibility(session=session, dataset=str(params.get("dataset", DEFAULT_DATASET)),
                                  variant=str(params.get("variant", "full")), images_dir=images_dir,
                                  checkpoint_dir=checkpoint_dir, train=train, config=config, progress=progress,
                                  resume=bool(params.get("resume", False)),
                                  init_encoder=str(params["init_encoder"]), user_lr=float(params["user_lr"]),
                                  freeze_conv=bool(params["freeze_conv"]),
                                  tune_conv_blocks=int(params.get("tune_conv_blocks", 0)),
                                  user_steps=int(params["user_steps"]),
                                  random_negatives=negatives if negatives is None else int(negatives),
                                  negatives=mix)  # fmt: skip
    return _summary(trained.model_version_id, trained.checkpoint, trained.result.seconds, trained.result.metrics)


def _designer(session: Any, params: Mapping[str, Any], train: TrainConfig, images_dir: Path,
              checkpoint_dir: Path, progress: Progress | None) -> dict[str, Any]:  # fmt: skip
    from recengine.designer.train import train_designer
    from recengine.nets.designer import DesignerConfig

    config = DesignerConfig.from_dict(dict(params["config"])) if params.get("config") else None
    start = params.get("compatibility_checkpoint")
    lam = params.get("lambda_fm_g")
    trained = train_designer(session=session, dataset=str(params.get("dataset", DEFAULT_DATASET)),
                             variant=str(params.get("variant", "full")), images_dir=images_dir,
                             checkpoint_dir=checkpoint_dir, train=train, config=config,
                             compatibility_checkpoint=None if start is None else Path(str(start)), progress=progress,
                             resume=bool(params.get("resume", False)),
                             lambda_fm_g=None if lam is None else float(lam))  # fmt: skip
    return _summary(trained.model_version_id, trained.checkpoint, trained.result.seconds, trained.result.metrics)


def _embedder(session: Any, params: Mapping[str, Any], train: TrainConfig, images_dir: Path,
              checkpoint_dir: Path, progress: Progress | None) -> dict[str, Any]:  # fmt: skip
    from recengine.embedding.train import train_embedder
    from recengine.nets.embedder import EmbedderConfig

    config = EmbedderConfig.from_dict(dict(params["config"])) if params.get("config") else None
    version, result = train_embedder(session=session, images_dir=images_dir, checkpoint_dir=checkpoint_dir,
                                     train=train, config=config, name=str(params.get("name", "catalogue")),
                                     progress=progress)  # fmt: skip
    return _summary(version.id, Path(str(version.checkpoint_path)), result.seconds, result.metrics)


def _inpainting(session: Any, params: Mapping[str, Any], train: TrainConfig, images_dir: Path,
                checkpoint_dir: Path, progress: Progress | None) -> dict[str, Any]:  # fmt: skip
    from recengine.inpainting.train import train_inpainting
    from recengine.nets.inpainting import InpaintConfig

    config = InpaintConfig.from_dict(dict(params["config"])) if params.get("config") else None
    d_lr = params.get("d_lr")
    trained = train_inpainting(session=session, variant=str(params.get("variant", "dpconv")), images_dir=images_dir,
                               checkpoint_dir=checkpoint_dir, train=train, config=config,
                               feature_net=str(params.get("feature_net", "embedder")), name=params.get("name"),
                               d_lr=None if d_lr is None else float(d_lr),
                               eval_images=int(params.get("eval_images", 64)), progress=progress,
                               resume=bool(params.get("resume", False)))  # fmt: skip
    return _summary(trained.model_version_id, trained.checkpoint, trained.result.seconds, trained.result.metrics)


def _summary(version_id: int, checkpoint: Path, seconds: float, metrics: Mapping[str, float]) -> dict[str, Any]:
    return {"model_version_id": version_id, "checkpoint": str(checkpoint), "seconds": round(seconds, 1),
            "metrics": {k: float(v) for k, v in metrics.items()}}  # fmt: skip


_Runner = Callable[[Any, Mapping[str, Any], TrainConfig, Path, Path, Progress | None], dict[str, Any]]
_RUNNERS: dict[str, _Runner] = {"compatibility": _compatibility, "designer": _designer, "embedder": _embedder,
                                 "inpainting": _inpainting}  # fmt: skip
