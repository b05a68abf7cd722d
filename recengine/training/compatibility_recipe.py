"""Training recipe of the personalised compatibility model (seed Eq. 10 with the Eq. 6-7 negatives).

Positives: (user, top, bottom) of the joint users' training outfits. Each positive is paired with one
negative, half Eq. 6 (a random training bottom with the same query) and half Eq. 7 (another user's pair).
Evaluation during training: FITB and personalised FITB on (a sample of) the validation outfits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from recengine.compatibility.scoring import CompatibilityScorer, embed_images
from recengine.datasets.image_cache import to_tensor
from recengine.evaluation.metrics import fitb_accuracy
from recengine.evaluation.protocol import build_questions
from recengine.evaluation.protocol_data import ProtocolData
from recengine.nets.compatibility import CompatibilityModel, preference_loss

IntArray = NDArray[np.int64]


@dataclass
class Batch:
    users: torch.Tensor  # (B,) model user rows
    queries: torch.Tensor  # (B,) item indices
    positives: torch.Tensor  # (B,)
    neg_users: torch.Tensor  # (B,) same user as the positive
    neg_queries: torch.Tensor  # (B,) the query (Eq. 6) or another user's query (Eq. 7)
    negatives: torch.Tensor  # (B,)


class CompatibilityRecipe:
    """See the module docstring. ``weight_decay`` is 2λ of Eq. 10 (Adam adds wd·θ, the gradient of λ‖θ‖²);
    ``user_lr`` is the learning rate of θu (and of the discrete labels)."""

    family = "compatibility"

    def __init__(self, model: CompatibilityModel, data: ProtocolData, images: NDArray[np.uint8],
                 user_rows: IntArray, *, weight_decay: float = 1e-5, user_lr: float = 1e-2,
                 eval_questions: int = 1500, seed: int = 0) -> None:  # fmt: skip
        self.model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.data = data
        self.images = torch.from_numpy(np.array(images, copy=True))  # (I, S, S, 3) uint8, ~0.5 GB for 40k
        self.user_rows = user_rows
        self.weight_decay = weight_decay
        self.user_lr = user_lr
        users, queries, targets, _ = data.pairs("train")
        keep = user_rows[users] >= 0  # joint users only: newcomers are fitted later with frozen networks
        self.pos = (torch.as_tensor(user_rows[users[keep]]), torch.as_tensor(queries[keep]),
                    torch.as_tensor(targets[keep]))  # fmt: skip
        train_items = np.unique(data.outfit_items[data.outfit_part == 0])
        bottoms = data.slot_items(data.target_slot)
        self.bottoms = torch.as_tensor(np.intersect1d(bottoms, train_items))  # never an unseen item
        self.eval_questions = eval_questions
        self.seed = seed
        self._valid = build_questions(data, part="valid", seed=seed)

    def parameter_groups(self) -> list[dict[str, Any]]:
        user_params = [p for name, p in self.model.named_parameters() if name.startswith(("theta", "label"))]
        ids = {id(p) for p in user_params}
        rest = [p for p in self.model.parameters() if id(p) not in ids]
        # Eq. 10 regularises F and M; θu is "also learned" with no penalty of its own. Each θu row sees ~1/700 of
        # the batches, so at the seeds' 2e-4 it would barely move in the CPU budget of ~2 epochs (the paper
        # trains 25): user parameters get their own, larger learning rate.
        return [{"params": rest, "weight_decay": self.weight_decay},
                {"params": user_params, "weight_decay": 0.0, "lr": self.user_lr}]  # fmt: skip

    def batches(self, generator: torch.Generator, batch_size: int) -> Iterator[Batch]:
        users, queries, targets = self.pos
        n = len(users)
        while True:
            idx = torch.randint(0, n, (batch_size,), generator=generator)
            other = torch.randint(0, n, (batch_size,), generator=generator)
            other = torch.where(users[other] == users[idx], (other + 1) % n, other)
            eq6 = torch.rand(batch_size, generator=generator) < 0.5
            random_bottoms = self.bottoms[torch.randint(0, len(self.bottoms), (batch_size,), generator=generator)]
            yield Batch(
                users=users[idx], queries=queries[idx], positives=targets[idx], neg_users=users[idx],
                neg_queries=torch.where(eq6, queries[idx], queries[other]),
                negatives=torch.where(eq6, random_bottoms, targets[other]),
            )  # fmt: skip

    def _pixels(self, items: torch.Tensor, flip: torch.Tensor | None = None) -> torch.Tensor:
        x = to_tensor(self.images[items]).contiguous(memory_format=torch.channels_last)
        if flip is not None:  # horizontal flips: garments are left-right symmetric, photos are not
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        items = torch.cat([batch.queries, batch.positives, batch.neg_queries, batch.negatives])
        unique, inverse = torch.unique(items, return_inverse=True)
        flip = torch.rand(len(unique)) < 0.5
        z = self.model.encoder(self._pixels(unique, flip))[inverse].view(4, -1, self.model.config.z_dim)
        m = self.model
        pos = m.score_latent(z[0] * z[1], m.user_vectors(batch.users), m.user_bias(batch.users))
        neg = m.score_latent(z[2] * z[3], m.user_vectors(batch.neg_users), m.user_bias(batch.neg_users))
        loss = preference_loss(pos, neg)
        return loss, {"loss": loss.item()}

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        q = self._valid
        rows = np.arange(len(q))
        rows = rows[self.user_rows[q.users] >= 0][: self.eval_questions]
        needed = np.unique(np.concatenate([q.queries[rows], q.fitb[rows].ravel(), q.pfitb[rows].ravel()]))
        z = torch.zeros(len(self.data.item_ids), self.model.config.z_dim)
        z[torch.as_tensor(needed)] = embed_images(self.model, self.images[torch.as_tensor(needed)].numpy())
        scorer = CompatibilityScorer(self.model, z, self.user_rows)
        return {
            "valid_fitb": fitb_accuracy(scorer.score(q.users[rows], q.queries[rows], q.fitb[rows])),
            "valid_pfitb": fitb_accuracy(scorer.score(q.users[rows], q.queries[rows], q.pfitb[rows])),
        }

    def checkpoint_extra(self) -> dict[str, Any]:
        # External ids, not database ids: a rebuilt dataset (same seed) maps onto the same θu rows.
        return {
            "dataset_id": self.data.dataset_id,
            "user_external_ids": [
                e for e, row in zip(self.data.user_external, self.user_rows, strict=True) if row >= 0
            ],
        }
