"""One model-agnostic trainer: optimisation steps, periodic evaluation, checkpoints and progress.

The trainer knows nothing of the model (it calls a :class:`Recipe`); the model knows nothing of training.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from recengine.training.checkpoints import load_checkpoint, save_checkpoint

_log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 4000
    batch_size: int = 64
    lr: float = 2e-4  # the seeds' Adam learning rate
    betas: tuple[float, float] = (0.5, 0.999)
    eval_every: int = 1000
    seed: int = 0
    threads: int = 0  # 0: torch's default

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


@dataclass
class TrainResult:
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: Path | None = None
    sha256: str | None = None


class Trainer:
    """Adam on the recipe's parameter groups; resumable from its own checkpoints."""

    def __init__(self, recipe: Recipe, config: TrainConfig, *, checkpoint: Path | None = None,
                 progress: Progress | None = None) -> None:  # fmt: skip
        self.recipe = recipe
        self.config = config
        self.checkpoint = checkpoint
        self.progress = progress
        self.optimizer = torch.optim.Adam(recipe.parameter_groups(), lr=config.lr, betas=config.betas)
        self.step = 0
        self.history: list[dict[str, float]] = []

    def _save(self, metrics: dict[str, float]) -> str | None:
        if self.checkpoint is None:
            return None
        model_config = getattr(self.recipe.model, "config", None)
        return save_checkpoint(
            self.checkpoint,
            family=self.recipe.family,
            config=model_config.as_dict() if model_config is not None else {},
            state_dict=self.recipe.model.state_dict(),
            extra={"train": self.config.as_dict(), "step": self.step, "metrics": metrics, "history": self.history,
                   "optimizer": self.optimizer.state_dict(), **self.recipe.checkpoint_extra()},
        )  # fmt: skip

    def resume(self) -> bool:
        """Continue from the checkpoint file when it exists; returns whether it did."""
        if self.checkpoint is None or not self.checkpoint.exists():
            return False
        payload = load_checkpoint(self.checkpoint, family=self.recipe.family)
        self.recipe.model.load_state_dict(payload["state_dict"])
        self.optimizer.load_state_dict(payload["extra"]["optimizer"])
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
        start, running, sha = time.perf_counter(), 0.0, None
        metrics: dict[str, float] = dict(self.history[-1]) if self.history else {}
        self.recipe.model.train()
        while self.step < cfg.steps:
            loss, _ = self.recipe.loss(next(batches))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()
            self.step += 1
            value = loss.item()
            running = 0.98 * running + value * 0.02 if self.step > 1 else value
            if self.progress is not None and (self.step % 20 == 0 or self.step == cfg.steps):
                self.progress(self.step, cfg.steps)
            if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                self.recipe.model.eval()
                metrics = {"step": float(self.step), "loss": running, **self.recipe.evaluate()}
                self.recipe.model.train()
                self.history.append(metrics)
                _log.info("step %d: %s", self.step, metrics)
                sha = self._save(metrics)
        self.recipe.model.eval()
        if sha is None:  # nothing ran (a finished run resumed): the checkpoint on disk is already final
            sha = self._save(metrics)
        return TrainResult(self.step, time.perf_counter() - start, self.history, metrics, self.checkpoint, sha)
