"""One model-agnostic trainer: optimisation steps, periodic evaluation, checkpoints and progress.

The trainer knows nothing of the model (it calls a :class:`Recipe`); the model knows nothing of training.
Most models minimise one loss with one Adam (:class:`Recipe`). Adversarial models update several parameter sets
in turn within one iteration (the personalised designer's Algorithm 1): a :class:`StepRecipe` owns its
optimisers and its update, and the trainer keeps doing the rest (batches, evaluation, checkpoints with every
optimiser's state, resuming, progress).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from recengine.errors import InvalidInputError
from recengine.training.bounds import COUNT, RATE, SIZE, Bound, check_bounds
from recengine.training.checkpoints import load_checkpoint, save_checkpoint

_log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]
LR_DECAYS = ("constant", "linear")
_BOUNDS = {"steps": SIZE, "batch_size": SIZE, "lr": RATE, "eval_every": SIZE, "seed": COUNT, "threads": COUNT}


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 4000
    batch_size: int = 64
    lr: float = 2e-4  # the seeds' Adam learning rate
    betas: tuple[float, float] = (0.5, 0.999)
    eval_every: int = 1000
    seed: int = 0
    threads: int = 0  # 0: torch's default
    lr_decay: str = "constant"  # or "linear": every learning rate falls linearly to 0 at the last step

    def __post_init__(self) -> None:
        if self.lr_decay not in LR_DECAYS:
            raise InvalidInputError(f"lr_decay must be one of {', '.join(LR_DECAYS)}, got {self.lr_decay!r}")
        check_bounds(asdict(self), _BOUNDS)
        beta = Bound(float, 0)
        if len(self.betas) != 2 or any(beta.problem(b) or b >= 1 for b in self.betas):
            raise InvalidInputError(f"invalid training parameters: betas: must be two numbers in [0, 1), got "
                                    f"{self.betas!r}")  # fmt: skip

    def lr_factor(self, step: int) -> float:
        """What the learning rates are multiplied by for optimisation step ``step`` (0-based)."""
        return 1.0 - step / self.steps if self.lr_decay == "linear" else 1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Recipe(Protocol):
    """What one model family needs to be trained: parameters, batches, loss, evaluation, checkpoint content."""

    family: str
    model: torch.nn.Module

    def parameter_groups(self) -> list[dict[str, Any]]: ...

    def batches(self, generator: torch.Generator, batch_size: int) -> Iterator[Any]: ...

    def loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, float]]: ...

    def evaluate(self) -> dict[str, float]: ...

    def checkpoint_extra(self) -> dict[str, Any]: ...


@runtime_checkable
class StepRecipe(Protocol):
    """A recipe that does its own update of several parameter sets per iteration (e.g. a GAN's G and D steps).

    ``train_step`` runs one whole iteration, optimiser steps included, and returns its losses; its ``"loss"``
    entry is the one the trainer's progress and history follow. ``evaluate`` gets the step so that what it
    writes besides metrics (sample images) can be named by it.
    """

    family: str
    model: torch.nn.Module

    def optimizers(self, config: TrainConfig) -> dict[str, torch.optim.Optimizer]: ...

    def batches(self, generator: torch.Generator, batch_size: int) -> Iterator[Any]: ...

    def train_step(self, batch: Any) -> dict[str, float]: ...

    def evaluate(self, step: int) -> dict[str, float]: ...

    def checkpoint_extra(self) -> dict[str, Any]: ...


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    """One step of a multi-optimiser recipe's ``train_step``: zero, backward, step; returns the loss value."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    return loss.item()


@dataclass
class TrainResult:
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: Path | None = None
    sha256: str | None = None


class Trainer:
    """Adam on the recipe's parameter groups (or the optimisers of a :class:`StepRecipe`); resumable from its
    own checkpoints."""

    def __init__(self, recipe: Recipe | StepRecipe, config: TrainConfig, *, checkpoint: Path | None = None,
                 progress: Progress | None = None) -> None:  # fmt: skip
        self.recipe = recipe
        self.config = config
        self.checkpoint = checkpoint
        self.progress = progress
        self.optimizers: dict[str, torch.optim.Optimizer]
        if isinstance(recipe, StepRecipe):
            self.optimizers = recipe.optimizers(config)
        else:
            self.optimizers = {"model": torch.optim.Adam(recipe.parameter_groups(), lr=config.lr, betas=config.betas)}
        self.step = 0
        self.history: list[dict[str, float]] = []
        # A function of the step, not a scheduler's state: a resumed run continues the same schedule.
        self._base_lrs = {name: [g["lr"] for g in opt.param_groups] for name, opt in self.optimizers.items()}

    def _set_learning_rates(self) -> None:
        factor = self.config.lr_factor(self.step)
        for name, opt in self.optimizers.items():
            for group, base in zip(opt.param_groups, self._base_lrs[name], strict=True):
                group["lr"] = base * factor

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The one optimiser of a single-loss recipe."""
        return self.optimizers["model"]

    def _optimizer_state(self) -> dict[str, Any]:
        # A single-loss recipe keeps the original key, so its checkpoints read exactly as before.
        if isinstance(self.recipe, StepRecipe):
            return {"optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()}}
        return {"optimizer": self.optimizer.state_dict()}

    def _load_optimizer_state(self, extra: dict[str, Any]) -> None:
        if "optimizers" not in extra and "optimizer" not in extra:
            # An exported checkpoint (the shipped ones) keeps the weights only: continuing from it is a
            # fine-tune whose Adam moments start again from zero, which is all the file can give.
            _log.warning("%s holds no optimiser state (an exported checkpoint): the optimisers start afresh",
                         self.checkpoint)  # fmt: skip
            return
        if isinstance(self.recipe, StepRecipe):
            states = extra["optimizers"]
            if set(states) != set(self.optimizers):
                raise InvalidInputError(f"{self.checkpoint}: optimisers {sorted(states)}, the recipe has "
                                        f"{sorted(self.optimizers)}")  # fmt: skip
            for name, opt in self.optimizers.items():
                opt.load_state_dict(states[name])
        else:
            self.optimizer.load_state_dict(extra["optimizer"])

    def _train_step(self, batch: Any) -> dict[str, float]:
        if isinstance(self.recipe, StepRecipe):
            return self.recipe.train_step(batch)
        loss, _ = self.recipe.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        self.optimizer.step()
        return {"loss": loss.item()}

    def _evaluate(self) -> dict[str, float]:
        if isinstance(self.recipe, StepRecipe):
            return self.recipe.evaluate(self.step)
        return self.recipe.evaluate()

    def save(self, metrics: dict[str, float]) -> str | None:
        """Write the checkpoint (model, optimiser state, history, the recipe's extra); returns its sha256."""
        if self.checkpoint is None:
            return None
        model_config = getattr(self.recipe.model, "config", None)
        return save_checkpoint(
            self.checkpoint,
            family=self.recipe.family,
            config=model_config.as_dict() if model_config is not None else {},
            state_dict=self.recipe.model.state_dict(),
            extra={"train": self.config.as_dict(), "step": self.step, "metrics": metrics, "history": self.history,
                   **self._optimizer_state(), **self.recipe.checkpoint_extra()},
        )  # fmt: skip

    def resume(self) -> bool:
        """Continue from the checkpoint file when it exists; returns whether it did."""
        if self.checkpoint is None or not self.checkpoint.exists():
            return False
        payload = load_checkpoint(self.checkpoint, family=self.recipe.family)
        self.recipe.model.load_state_dict(payload["state_dict"])
        self._load_optimizer_state(payload["extra"])
        self.step = int(payload["extra"]["step"])
        self.history = list(payload["extra"].get("history", []))
        _log.info("resumed %s at step %d", self.checkpoint, self.step)
        return True

    def fit(self) -> TrainResult:
        cfg = self.config
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        generator = torch.Generator().manual_seed(cfg.seed + self.step)
        batches = self.recipe.batches(generator, cfg.batch_size)
        start, sha = time.perf_counter(), None
        running: dict[str, float] = {}  # exponential moving averages of the step's losses
        metrics: dict[str, float] = dict(self.history[-1]) if self.history else {}
        self.recipe.model.train()
        while self.step < cfg.steps:
            self._set_learning_rates()
            losses = self._train_step(next(batches))
            self.step += 1
            running = {k: 0.98 * running.get(k, 0.0) + v * 0.02 if self.step > 1 else v for k, v in losses.items()}
            if self.progress is not None and (self.step % 20 == 0 or self.step == cfg.steps):
                self.progress(self.step, cfg.steps)
            if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                self.recipe.model.eval()
                metrics = {"step": float(self.step), **running, **self._evaluate()}
                self.recipe.model.train()
                self.history.append(metrics)
                _log.info("step %d: %s", self.step, metrics)
                sha = self.save(metrics)
        self.recipe.model.eval()
        if sha is None:  # nothing ran (a finished run resumed): the checkpoint on disk is already final
            sha = self.save(metrics)
        return TrainResult(self.step, time.perf_counter() - start, self.history, metrics, self.checkpoint, sha)
