"""Training recipe of the personalised compatibility model (seed Eq. 10 with the Eq. 6-7 negatives).

Positives: (user, top, bottom) of the joint users' training outfits. Negatives are taken from the batch
(in-batch sampling, as in sampled-softmax retrieval training): for positive i, Eq. 6 negatives are the query
q_i with every other bottom of the batch (B uniformly drawn training bottoms and the other positives'
bottoms), Eq. 7 negatives are every other user's pair (q_j, c_j) of the batch scored for user i. Eq. 10 is
averaged over all of them, the two kinds weighted equally. Every encoded image then serves ~3B pairs instead
of one, which is what makes ranking (Recall@10 over a whole category) learnable in a CPU budget: measured in
docs/decisions.md. Evaluation during training: FITB and personalised FITB on (a sample of) the validation
outfits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from recengine.compatibility.scoring import CompatibilityScorer, embed_images
from recengine.datasets.image_cache import to_tensor
from recengine.errors import InvalidInputError
from recengine.evaluation.metrics import fitb_accuracy
from recengine.evaluation.protocol import build_questions
from recengine.evaluation.protocol_data import ProtocolData
from recengine.nets.compatibility import CompatibilityModel

IntArray = NDArray[np.int64]
#: θu's Adam learning rate: each row sees ~1/700 of the batches (5e-2 measured in docs/decisions.md).
DEFAULT_USER_LR = 1e-2


@dataclass
class Batch:
    users: torch.Tensor  # (B,) model user rows
    queries: torch.Tensor  # (B,) item indices
    positives: torch.Tensor  # (B,)
    random_bottoms: torch.Tensor  # (R,) uniformly drawn training bottoms (Eq. 6 negatives)


class CompatibilityRecipe:
    """See the module docstring. ``weight_decay`` is 2λ of Eq. 10 (Adam adds wd·θ, the gradient of λ‖θ‖²);
    ``user_lr`` is the learning rate of θu (and of the discrete labels); ``random_negatives`` is how many
    uniformly drawn bottoms join each step's Eq. 6 negatives (default: as many as positives).

    ``freeze_conv`` keeps F's convolutional stack as it starts (a warm start: a trained image network) and trains
    F's fully connected layers, M and θu on its outputs, computed once for every item and its mirror image:
    a step then costs no convolution, so the epochs the seed trains for fit in a CPU budget (measured in
    docs/decisions.md)."""

    family = "compatibility"

    def __init__(self, model: CompatibilityModel, data: ProtocolData, images: NDArray[np.uint8],
                 user_rows: IntArray, *, weight_decay: float = 1e-5, user_lr: float = DEFAULT_USER_LR,
                 eval_questions: int = 1500, seed: int = 0, freeze_conv: bool = False,
                 random_negatives: int | None = None) -> None:  # fmt: skip
        if random_negatives is not None and random_negatives < 1:
            raise InvalidInputError(f"random_negatives must be >= 1, got {random_negatives}")
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
        self.random_negatives = random_negatives
        self.conv_features: tuple[torch.Tensor, torch.Tensor] | None = None
        if freeze_conv:
            self.model.encoder.features.requires_grad_(False)
            self.conv_features = conv_outputs(self.model.encoder.features, self.images)

    def parameter_groups(self) -> list[dict[str, Any]]:
        user_params = [p for name, p in self.model.named_parameters() if name.startswith(("theta", "label"))]
        ids = {id(p) for p in user_params}
        rest = [p for p in self.model.parameters() if id(p) not in ids and p.requires_grad]
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
            n_random = self.random_negatives or batch_size
            random_bottoms = self.bottoms[torch.randint(0, len(self.bottoms), (n_random,), generator=generator)]
            yield Batch(users=users[idx], queries=queries[idx], positives=targets[idx], random_bottoms=random_bottoms)

    def _pixels(self, items: torch.Tensor, flip: torch.Tensor | None = None) -> torch.Tensor:
        x = to_tensor(self.images[items]).contiguous(memory_format=torch.channels_last)
        if flip is not None:  # horizontal flips: garments are left-right symmetric, photos are not
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x

    def _encode(self, items: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
        z: torch.Tensor
        if self.conv_features is None:
            z = self.model.encoder(self._pixels(items, flip))
        else:
            plain, mirrored = self.conv_features
            z = self.model.encoder.head(torch.where(flip[:, None], mirrored[items], plain[items]))
        return z

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        b = len(batch.users)
        items = torch.cat([batch.queries, batch.positives, batch.random_bottoms])
        unique, inverse = torch.unique(items, return_inverse=True)
        flip = torch.rand(len(unique)) < 0.5
        z = self._encode(unique, flip)[inverse]
        zq, zc, zr = z[:b], z[b : 2 * b], z[2 * b :]
        m = self.model
        theta, bias = m.user_vectors(batch.users), m.user_bias(batch.users)
        pos = m.score_latent(zq * zc, theta, bias)  # (B,)
        # Eq. 6: (u_i, q_i) with every bottom of the batch that is not c_i.
        user_query = zq if theta is None else theta * zq
        s6 = m.score_outer(user_query, torch.cat([zc, zr]), bias)  # (B, B + R)
        ok6 = torch.cat([batch.positives, batch.random_bottoms])[None] != batch.positives[:, None]
        # Eq. 7: user i scoring another user's pair (q_j, c_j).
        s7 = m.score_outer(torch.ones_like(zq) if theta is None else theta, zq * zc, bias)  # (B, B)
        ok7 = batch.users[None] != batch.users[:, None]
        loss6 = _masked_mean(-nn.functional.logsigmoid(pos[:, None] - s6), ok6)
        loss7 = _masked_mean(-nn.functional.logsigmoid(pos[:, None] - s7), ok7)
        loss = 0.5 * (loss6 + loss7)
        return loss, {"loss": loss.item(), "loss_eq6": loss6.item(), "loss_eq7": loss7.item()}

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
            "dataset": self.data.dataset_name,
            "user_external_ids": [
                e for e, row in zip(self.data.user_external, self.user_rows, strict=True) if row >= 0
            ],
        }


@torch.no_grad()
def conv_outputs(stack: nn.Module, images: NDArray[np.uint8] | torch.Tensor,
                 batch: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(I, S, S, 3) uint8 -> F's conv stack in eval mode on every image and on its mirror image, each (I, C·H·W)."""
    stack.eval()
    plain, mirrored = [], []
    for start in range(0, len(images), batch):
        x = to_tensor(images[start : start + batch]).contiguous(memory_format=torch.channels_last)
        plain.append(stack(x).flatten(1))
        mirrored.append(stack(x.flip(-1)).flatten(1))
    return torch.cat(plain), torch.cat(mirrored)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)
