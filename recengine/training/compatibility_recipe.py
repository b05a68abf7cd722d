"""Training recipe of the personalised compatibility model (seed Eq. 10 with the Eq. 6-7 negatives).

Positives: (user, top, bottom) of the joint users' training outfits. For positive i, Eq. 6 negatives are the
query q_i with uniformly drawn training bottoms; Eq. 7 negatives are every other user's pair (q_j, c_j) of the
batch scored for user i. Eq. 10 is averaged over each kind and the two averages are mixed by
:class:`NegativeMix`. Every encoded image serves many pairs (a step costs a few matrix products, see
:meth:`CompatibilityModel.score_outer`), which is what makes ranking (Recall@10 over a whole category)
learnable in a CPU budget.

How negatives are drawn decides what the scores rank by. Eq. 10's pairwise loss orders a bottom by
p(bottom | user, query) / n(bottom), n being how often a bottom is drawn as a negative: uniform Eq. 6 draws rank
by the probability itself, which is what Recall@K rewards; bottoms drawn from other positives (the batch's, or
Eq. 7's other users' outfits) are drawn in proportion to their popularity and push every popular bottom down.
A bottom the user wore in a training outfit is a known positive, not a negative, and is never counted as one.
Measured in docs/decisions.md. Evaluation during training: FITB and personalised FITB on (a sample of) the
validation outfits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
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


@dataclass(frozen=True)
class NegativeMix:
    """Which negatives a step scores each positive against, and how much each kind weighs in Eq. 10.

    ``in_batch``: the batch's other positives' bottoms join the Eq. 6 negatives (drawn by popularity).
    ``exclude_own``: no Eq. 6 or Eq. 7 negative is a bottom the user wore in a training outfit.
    ``eq7_weight``: Eq. 7's share of the loss, Eq. 6 having the rest (the seed samples "negative outfits from
    O−" without saying how the two kinds mix).
    The default is the shipped compatibility recipe's; :meth:`in_batch_even` is the one the shipped designer
    checkpoints trained F, M and θu with.
    """

    in_batch: bool = False
    exclude_own: bool = True
    eq7_weight: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.eq7_weight <= 1.0:
            raise InvalidInputError(f"eq7_weight must be within [0, 1], got {self.eq7_weight}")

    @classmethod
    def in_batch_even(cls) -> NegativeMix:
        """The batch's bottoms as Eq. 6 negatives too, the user's own bottoms included, Eq. 6 and 7 equal."""
        return cls(in_batch=True, exclude_own=False, eq7_weight=0.5)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    docs/decisions.md). ``tune_conv_blocks`` (with ``freeze_conv``) keeps only the first blocks fixed: the last
    ``tune_conv_blocks`` VGG blocks train with the rest, on the cached outputs of the fixed ones (the last block
    at 64x64 works on a 4x4 map, so it costs a fraction of the stack). ``negatives``: see :class:`NegativeMix`.

    :meth:`fix_networks` turns the recipe into its user stage: F and M keep their trained weights and θu (or the
    discrete labels) alone train on, with the same positives, negatives and loss, on F's outputs computed once."""

    family = "compatibility"

    def __init__(self, model: CompatibilityModel, data: ProtocolData, images: NDArray[np.uint8],
                 user_rows: IntArray, *, weight_decay: float = 1e-5, user_lr: float = DEFAULT_USER_LR,
                 eval_questions: int = 1500, seed: int = 0, freeze_conv: bool = False,
                 random_negatives: int | None = None, negatives: NegativeMix | None = None,
                 tune_conv_blocks: int = 0) -> None:  # fmt: skip
        if random_negatives is not None and random_negatives < 1:
            raise InvalidInputError(f"random_negatives must be >= 1, got {random_negatives}")
        blocks = len(model.config.widths)
        if not 0 <= tune_conv_blocks < blocks or (tune_conv_blocks and not freeze_conv):
            raise InvalidInputError(f"tune_conv_blocks must be within [0, {blocks - 1}] and needs freeze_conv (the "
                                    f"blocks before it stay fixed), got {tune_conv_blocks}")  # fmt: skip
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
        self.negatives = negatives or NegativeMix()
        # (user row, bottom) pairs of the training positives as sorted keys: a lookup per candidate negative
        # stays cheap and small whatever the numbers of users and items.
        self._n_items = len(data.item_ids)
        self._worn = torch.unique(self.pos[0] * self._n_items + self.pos[2])
        self.eval_questions = eval_questions
        self.seed = seed
        self._valid = build_questions(data, part="valid", seed=seed)
        self.random_negatives = random_negatives
        self.conv_features: tuple[torch.Tensor, torch.Tensor] | None = None
        self.latents: tuple[torch.Tensor, torch.Tensor] | None = None  # F's outputs, in the user stage
        self.user_stage: dict[str, Any] | None = None
        stack = self.model.encoder.features
        cut = block_starts(stack)[blocks - tune_conv_blocks] if tune_conv_blocks else len(stack)
        fixed, self._tuned = stack[:cut], stack[cut:]
        if freeze_conv:
            # The fixed blocks never run in training (their outputs are cached), so their batch-norm statistics
            # stay those the cache was computed with.
            fixed.requires_grad_(False)
            self.conv_features = conv_outputs(fixed, self.images)
            side = model.config.image_size >> (blocks - tune_conv_blocks)
            self._cached_shape = (-1, self.conv_features[0].shape[1] // (side * side), side, side)

    def fix_networks(self, description: dict[str, Any]) -> None:
        """Start the user stage: F and M no longer train; ``description`` goes into the checkpoint.

        Raises:
            InvalidInputError: the model has no user parameters (the θu-removed ablation).
        """
        if self.model.config.user_mode == "none":
            raise InvalidInputError("the θu-removed model has no user parameters to train on their own")
        self.model.encoder.requires_grad_(False)
        self.model.metric.requires_grad_(False)
        self.model.eval()
        items = torch.arange(self._n_items)
        with torch.no_grad():  # both orientations, as the joint stage saw them
            self.latents = (self._encode_all(items, flip=False), self._encode_all(items, flip=True))
        self.user_stage = description

    def _encode_all(self, items: torch.Tensor, *, flip: bool, batch: int = 1024) -> torch.Tensor:
        chunks = [items[start : start + batch] for start in range(0, len(items), batch)]
        return torch.cat([self._encode(chunk, torch.full((len(chunk),), flip)) for chunk in chunks])

    def user_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.model.named_parameters() if name.startswith(("theta", "label"))]

    def parameter_groups(self) -> list[dict[str, Any]]:
        user_params = self.user_parameters()
        if self.user_stage is not None:
            return [{"params": user_params, "weight_decay": 0.0, "lr": self.user_lr}]
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
        if self.latents is not None:
            plain_z, mirrored_z = self.latents
            z = torch.where(flip[:, None], mirrored_z[items], plain_z[items])
        elif self.conv_features is None:
            z = self.model.encoder(self._pixels(items, flip))
        else:
            plain, mirrored = self.conv_features
            cached = torch.where(flip[:, None], mirrored[items], plain[items])
            if len(self._tuned):
                cached = self._tuned(cached.view(self._cached_shape)).flatten(1)
            z = self.model.encoder.head(cached)
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
        mix = self.negatives
        user_query = zq if theta is None else theta * zq
        # Eq. 6: (u_i, q_i) with the random bottoms (and, in_batch, the other positives' bottoms).
        neg_z, neg_items = (torch.cat([zc, zr]), torch.cat([batch.positives, batch.random_bottoms])) if mix.in_batch \
            else (zr, batch.random_bottoms)  # fmt: skip
        s6 = m.score_outer(user_query, neg_z, bias)  # (B, N)
        ok6 = neg_items[None] != batch.positives[:, None]
        # Eq. 7: user i scoring another user's pair (q_j, c_j).
        s7 = m.score_outer(torch.ones_like(zq) if theta is None else theta, zq * zc, bias)  # (B, B)
        ok7 = batch.users[None] != batch.users[:, None]
        if mix.exclude_own:
            ok6 &= ~self.worn(batch.users, neg_items)
            ok7 &= ~self.worn(batch.users, batch.positives)
        loss6 = _masked_mean(-nn.functional.logsigmoid(pos[:, None] - s6), ok6)
        loss7 = _masked_mean(-nn.functional.logsigmoid(pos[:, None] - s7), ok7)
        loss = (1.0 - mix.eq7_weight) * loss6 + mix.eq7_weight * loss7
        return loss, {"loss": loss.item(), "loss_eq6": loss6.item(), "loss_eq7": loss7.item()}

    def worn(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B, N) whether user row ``users[b]`` wore bottom ``items[n]`` in a training outfit."""
        keys = users[:, None] * self._n_items + items[None]
        at = torch.searchsorted(self._worn, keys).clamp(max=len(self._worn) - 1)
        found: torch.Tensor = self._worn[at] == keys
        return found

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
            "negatives": self.negatives.as_dict(),
            **({"user_stage": self.user_stage} if self.user_stage is not None else {}),
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


def block_starts(stack: nn.Sequential) -> list[int]:
    """Index of the first layer of each VGG block of ``stack`` (:func:`recengine.nets.layers.vgg_stack`): a block
    ends with its max pool, the last one possibly without."""
    starts = [0, *(i + 1 for i, layer in enumerate(stack) if isinstance(layer, nn.MaxPool2d))]
    return [s for s in starts if s < len(stack)]


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)
