"""Training recipe of the catalogue image network (:mod:`recengine.nets.embedder`) on the catalogue's labels.

Every served item with a label is a training example except a held-out 5% (chosen by a hash of the item id,
so a grown catalogue keeps its old split), on which validation measures head accuracy and how often the 10
nearest catalogue items of a held-out photo share its article type and colour: the retrieval quality the
index will deliver. Augmentation: horizontal flips only (product photos are centred and upright).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from recengine.datasets.image_cache import to_tensor
from recengine.nets.embedder import EmbedderNet

#: Loss weight of each label head; gender and usage are coarse, and many usages are guesses in the source data.
HEAD_WEIGHTS = {"article_type": 1.0, "colour": 1.0, "gender": 0.5, "usage": 0.5}
HELD_OUT = 0.05


def held_out(item_ids: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Whether each item is in the validation part (stable per id)."""
    digest = [hashlib.blake2b(int(i).to_bytes(8, "little"), digest_size=4).digest() for i in item_ids]
    return np.array([int.from_bytes(d, "little") / 2**32 < HELD_OUT for d in digest], dtype=bool)


def encode_labels(values: Sequence[str | None], min_count: int = 5) -> tuple[tuple[str, ...], NDArray[np.int64]]:
    """Class names (those seen at least ``min_count`` times) and each example's class id (-1: no usable label)."""
    names, counts = np.unique([v for v in values if v], return_counts=True)
    classes = tuple(str(n) for n, c in zip(names, counts, strict=True) if c >= min_count)
    lookup = {c: n for n, c in enumerate(classes)}
    return classes, np.array([lookup.get(v or "", -1) for v in values], dtype=np.int64)


class EmbedderRecipe:
    family = "embedder"

    def __init__(self, model: EmbedderNet, images: NDArray[np.uint8], labels: dict[str, NDArray[np.int64]],
                 valid: NDArray[np.bool_]) -> None:  # fmt: skip
        self.model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.images = torch.from_numpy(np.array(images, copy=True))
        self.labels = {k: torch.as_tensor(v) for k, v in labels.items()}
        self.train_rows = torch.as_tensor(np.flatnonzero(~valid))
        self.valid_rows = np.flatnonzero(valid)

    def parameter_groups(self) -> list[dict[str, Any]]:
        return [{"params": list(self.model.parameters()), "weight_decay": 1e-5}]

    def batches(self, generator: torch.Generator, batch_size: int) -> Iterator[torch.Tensor]:
        while True:
            yield self.train_rows[torch.randint(0, len(self.train_rows), (batch_size,), generator=generator)]

    def _pixels(self, rows: torch.Tensor | NDArray[np.int64]) -> torch.Tensor:
        return to_tensor(self.images[torch.as_tensor(rows)]).contiguous(memory_format=torch.channels_last)

    def loss(self, rows: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        x = self._pixels(rows)
        flip = torch.rand(len(rows)) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        logits = self.model.logits(self.model(x))
        parts = {
            name: nn.functional.cross_entropy(out, self.labels[name][rows], ignore_index=-1)
            for name, out in logits.items()
        }
        total = sum((HEAD_WEIGHTS.get(n, 1.0) * v for n, v in parts.items()), torch.zeros(()))
        return total, {"loss": total.item(), **{f"loss_{n}": v.item() for n, v in parts.items()}}

    @torch.no_grad()
    def embed_all(self, batch: int = 1024) -> torch.Tensor:
        self.model.eval()
        return torch.cat([self.model(self._pixels(np.arange(s, min(s + batch, len(self.images)))))
                          for s in range(0, len(self.images), batch)])  # fmt: skip

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        e = self.embed_all()
        queries = torch.as_tensor(self.valid_rows[:1000])
        sims = e[queries] @ e.T
        sims[torch.arange(len(queries)), queries] = -2.0  # not itself
        top = sims.topk(10, dim=1).indices
        out: dict[str, float] = {}
        for name in ("article_type", "colour"):
            if name in self.labels:
                lab = self.labels[name]
                out[f"valid_nn10_{name}"] = float((lab[top] == lab[queries][:, None]).float().mean())
        for name, logits in self.model.logits(e[queries]).items():
            lab = self.labels[name][queries]
            known = lab >= 0
            out[f"valid_acc_{name}"] = float((logits.argmax(1)[known] == lab[known]).float().mean())
        return out

    def checkpoint_extra(self) -> dict[str, Any]:
        return {"held_out_fraction": HELD_OUT}
