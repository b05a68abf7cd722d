"""Quality of personalised designs on the protocol's test pairs: the seed's Table 2, Table 3 and Fig. 7.

Yu et al., "Personalized Fashion Design", ICCV 2019, Sec. 4.2-4.5 (``../shared/seeds/personalized-fashion-design.txt``)
rate designs x* = G(F(x_q), θu, noise) for realness (Inception Score, FID against the true items), diversity
(opposite mean SSIM of several designs for one input) and compatibility (a user study), and show that designs for
the same query differ across users (Fig. 7). Here, for a sample of test pairs (user, query top, true bottom):

* **FID, IS (own features)**: ImageNet Inception is not available, so both are computed on recengine's own
  catalogue network (:mod:`recengine.nets.embedder`): FID between the features of one design per pair and those
  of the pairs' true bottoms, IS on the softmax of its article-type head. Values compare only between runs with
  the same network and set sizes (FID is biased upwards for small sets), never with the paper's numbers; hence
  the real-data references of :func:`real_reference`: the FID between two disjoint samples of real bottoms of
  the same size (the floor a perfect generator would reach) and the IS of real bottoms.
* **Diversity**: opposite mean SSIM of ``n`` designs per (user, query), noise varying (the seed's column), and
  across users (Fig. 7): the same query and the same noise for ``k`` different users, opposite mean SSIM and mean
  pixel L1 between them. A user-unaware designer scores exactly 0 there, which is what makes the number a test
  of personalisation rather than of noise.
* **Fidelity**: SSIM and L1 of each design against the pair's true bottom (one of many compatible bottoms, so a
  loose signal, but the one the seed's qualitative comparison relies on).
* **Compatibility**: the mean personalised score s(u, q, x) of the design, the true bottom and a random training
  bottom. Every variant fine-tunes its own compatibility model, so a variant's own judge could flatter it; the
  scores are therefore given by one common judge (the full designer's compatibility part), and by each
  variant's own judge alongside.

Designs are scored as the uint8 pictures a user would see (rounded like the true bottoms' prepared pixels), so a
design equal to the true bottom gets exactly its metrics. Everything is seeded: the noise is drawn up front from
fixed ``torch.Generator`` seeds (one stream per purpose), so every variant sees the same noise, and a design
does not depend on the batch it was drawn in (G runs in eval mode).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import torch
from numpy.typing import NDArray

from recengine.datasets.image_cache import to_tensor
from recengine.errors import InvalidInputError
from recengine.evaluation.distribution_metrics import fid_from_features, inception_score
from recengine.evaluation.image_metrics import diversity, l1_error, ssim
from recengine.evaluation.protocol_data import PARTS, ProtocolData
from recengine.nets.compatibility import CompatibilityModel
from recengine.nets.designer import Designer
from recengine.nets.embedder import EmbedderNet
from recengine.training.designer_recipe import to_uint8

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
Images = NDArray[np.uint8]
#: (N, S, S, 3) uint8 images -> ((N, D) features for FID, (N, C) class probabilities for IS).
FeatureNet: TypeAlias = Callable[[Images], tuple[FloatArray, FloatArray]]

#: Noise streams, offsets from the evaluation seed: one design per pair, n per pair, the same noise across users.
_ONE, _SEVERAL, _ACROSS = 0, 1, 2


# --- the sample ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DesignPairs:
    """Test pairs to design for, by item index of :class:`ProtocolData`."""

    users: IntArray  # (N,) data user index: whom the design is for (tells users apart, newcomers included)
    rows: IntArray  # (N,) that user's row in the models' θu / label tables, -1 for a newcomer
    queries: IntArray  # (N,) query tops
    targets: IntArray  # (N,) true bottoms
    randoms: IntArray  # (N,) random training bottoms: the chance level of the compatibility score
    thetas: torch.Tensor | None = None  # (N, z_dim) fitted θu, used where ``rows`` is -1

    def __post_init__(self) -> None:
        n = len(self.users)
        if any(len(a) != n for a in (self.rows, self.queries, self.targets, self.randoms)):
            raise InvalidInputError("users, rows, queries, targets and randoms must have the same length")
        if self.thetas is not None and (self.thetas.ndim != 2 or len(self.thetas) != n):
            raise InvalidInputError(f"thetas must be (N={n}, z_dim), got {tuple(self.thetas.shape)}")
        if (self.rows < 0).any() and self.thetas is None:
            raise InvalidInputError("pairs of users without a table row (newcomers) need fitted thetas")

    def __len__(self) -> int:
        return len(self.users)

    def take(self, keep: IntArray | slice) -> DesignPairs:
        """The pairs at ``keep`` (e.g. a smaller sample of the same seed)."""
        return DesignPairs(self.users[keep], self.rows[keep], self.queries[keep], self.targets[keep],
                           self.randoms[keep], None if self.thetas is None else self.thetas[keep])  # fmt: skip


def training_bottoms(data: ProtocolData) -> IntArray:
    """Items of the target slot in training outfits: the pool of Eq. 6 negatives, never an unseen item."""
    train_items = np.unique(data.outfit_items[data.outfit_part == PARTS.index("train")])
    out: IntArray = np.intersect1d(data.slot_items(data.target_slot), train_items[train_items >= 0])
    return out


def sample_pairs(data: ProtocolData, user_rows: IntArray, *, n: int, seed: int = 0, part: str = "test",
                 newcomers: bool = False, skip: int = 0,
                 user_thetas: NDArray[np.floating] | None = None) -> DesignPairs:  # fmt: skip
    """A seeded sample of ``n`` pairs of ``part`` of the joint users (or of the newcomers).

    The pairs are a fixed permutation (``seed``) of every eligible pair cut at ``[skip, skip + n)``, so two calls
    with ``skip=0`` and ``skip=n`` give disjoint samples of one distribution (the FID floor's two real sets).
    ``user_thetas`` (U, z_dim) are the newcomers' fitted θu, by data user index (rows of joint users unused).
    """
    users, queries, targets, _ = data.pairs(part)
    eligible = np.flatnonzero((user_rows[users] < 0) == newcomers)
    pick = np.random.default_rng(seed).permutation(eligible)[skip : skip + n]
    if len(pick) == 0:
        raise InvalidInputError(f"no {'newcomer' if newcomers else 'joint-user'} pairs in {part!r} to sample")
    bottoms = training_bottoms(data)
    randoms = bottoms[np.random.default_rng([seed, skip]).integers(0, len(bottoms), len(pick))]
    thetas = None
    if user_thetas is not None:
        thetas = torch.as_tensor(np.asarray(user_thetas)[users[pick]], dtype=torch.float32)
    return DesignPairs(users[pick], user_rows[users[pick]], queries[pick], targets[pick], randoms, thetas)


# --- the networks that judge ----------------------------------------------------------------------------------------


def catalogue_features(net: EmbedderNet, head: str = "article_type", batch: int = 500) -> FeatureNet:
    """recengine's stand-in for Inception: the catalogue network's embedding (the layer its class heads read,
    i.e. its penultimate layer) as FID features, and the softmax of its ``head`` as IS class probabilities."""
    if head not in net.config.heads:
        raise InvalidInputError(f"the catalogue network has no {head!r} head; it has {', '.join(net.config.heads)}")
    net.eval()

    @torch.no_grad()
    def describe(images: Images) -> tuple[FloatArray, FloatArray]:
        features, probs = [], []
        for start in range(0, len(images), batch):
            e = net(to_tensor(np.ascontiguousarray(images[start : start + batch])))
            features.append(e.double().numpy())
            probs.append(torch.softmax(net.logits(e)[head].double(), dim=1).numpy())
        return np.concatenate(features), np.concatenate(probs)

    return describe


def _thetas(model: CompatibilityModel, pairs: DesignPairs) -> torch.Tensor | None:
    """θu of each pair for a model with θu: its table's row, or the fitted vector of a newcomer."""
    if model.theta is None:
        return None
    rows = torch.as_tensor(np.maximum(pairs.rows, 0))
    table: torch.Tensor = model.theta(rows)
    if pairs.thetas is None:
        return table
    return torch.where(torch.as_tensor(pairs.rows < 0)[:, None], pairs.thetas.to(table.dtype), table)


def _label_rows(pairs: DesignPairs, what: str) -> torch.Tensor:
    """Table rows for a discrete-label model, which has no way to represent a user it was not trained on."""
    if (pairs.rows < 0).any():
        raise InvalidInputError(f"{what} in discrete-label mode cannot take newcomers (they have no label)")
    return torch.as_tensor(pairs.rows)


class Judge:
    """s(u, q, x) = M(θu ⊙ F(x_q) ⊙ F(x)) of one compatibility model, with F of catalogue items run once.

    The cache matters because one judge scores every variant's pairs: queries, true and random bottoms are the
    same items each time, only the designs are new.
    """

    def __init__(self, model: CompatibilityModel, images: Images, batch: int = 500) -> None:
        self.model = model.eval()
        self.images, self.batch = images, batch
        self._z = torch.zeros(len(images), model.config.z_dim)
        self._known = np.zeros(len(images), dtype=bool)

    @torch.no_grad()
    def image_z(self, images: Images) -> torch.Tensor:
        """F(x) of (N, S, S, 3) uint8 pictures -> (N, z_dim)."""
        out = [self.model.encoder(to_tensor(np.ascontiguousarray(images[s : s + self.batch])))
               for s in range(0, len(images), self.batch)]  # fmt: skip
        return torch.cat(out) if out else torch.zeros(0, self.model.config.z_dim)

    def item_z(self, items: IntArray) -> torch.Tensor:
        """F(x) of catalogue items by index, computed on first use."""
        missing = np.unique(items[~self._known[items]])
        if len(missing):
            self._z[torch.as_tensor(missing)] = self.image_z(self.images[missing])
            self._known[missing] = True
        return self._z[torch.as_tensor(items)]

    @torch.no_grad()
    def scores(self, pairs: DesignPairs, z_items: torch.Tensor) -> FloatArray:
        """(N,) s(u, q, x) of each pair's user and query with the item whose F(x) is row i of ``z_items``."""
        m = self.model
        bias = None if m.label is None else m.label(_label_rows(pairs, "the judge"))
        s = m.score_latent(self.item_z(pairs.queries) * z_items, _thetas(m, pairs), bias)
        out: FloatArray = s.double().numpy()
        return out


# --- drawing designs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Designs:
    """A designer's pictures for one sample of pairs, (…, S, S, 3) uint8."""

    one: Images  # (N, …) one design per pair
    several: Images  # (G, n, …) n designs (different noise) for each of the first G pairs
    across: Images  # (G, k, …) the first G pairs' queries, one noise per group, for k different users
    across_pairs: IntArray  # (G, k) the pair whose user column j designs for; column 0 is the group's own pair


def other_users(pairs: DesignPairs, groups: int, k: int, seed: int = 0) -> IntArray:
    """(G, k) pair indices: pair g itself, then k - 1 pairs of other, mutually different users (seeded)."""
    first = {int(u): i for i, u in reversed(list(enumerate(pairs.users)))}  # each user's first pair
    if len(first) < k:
        raise InvalidInputError(f"designs across {k} users need {k} different users; the sample has {len(first)}")
    rng = np.random.default_rng(seed)
    candidates = np.asarray(list(first.values()), dtype=np.int64)
    out = np.empty((groups, k), dtype=np.int64)
    for g in range(groups):
        others = [int(i) for i in rng.permutation(candidates) if pairs.users[i] != pairs.users[g]][: k - 1]
        out[g] = [g, *others]
    return out


class _Drawer:
    """G's inputs for a sample: F(x_q) from the designer's own encoder and the user code each pair needs."""

    def __init__(self, designer: Designer, pairs: DesignPairs, images: Images, batch: int) -> None:
        self.designer, self.batch = designer.eval(), batch
        c = designer.compatibility
        with torch.no_grad():
            self.z_query = torch.cat([c.encoder(to_tensor(np.ascontiguousarray(images[pairs.queries[s : s + batch]])))
                                      for s in range(0, len(pairs), batch)])  # fmt: skip
        label = designer.config.user_mode == "label"
        self.users = _label_rows(pairs, "the designer") if label else torch.as_tensor(np.maximum(pairs.rows, 0))
        self.thetas = _thetas(c, pairs)

    @torch.no_grad()
    def draw(self, pair: IntArray, noise: torch.Tensor, user_pair: IntArray | None = None) -> Images:
        """Designs for the queries of ``pair`` with the users of ``user_pair`` (default: the same pairs)."""
        who = torch.as_tensor(pair if user_pair is None else user_pair)
        at = torch.as_tensor(pair)
        out = []
        for s in range(0, len(at), self.batch):
            q, u = at[s : s + self.batch], who[s : s + self.batch]
            theta = None if self.thetas is None else self.thetas[u]
            out.append(to_uint8(self.designer.generate(self.users[u], self.z_query[q], noise[s : s + len(q)], theta)))
        return np.concatenate(out)


def draw_designs(designer: Designer, pairs: DesignPairs, images: Images, *, seed: int = 0, n: int = 4,
                 groups: int = 100, k: int = 4, batch: int = 200) -> Designs:  # fmt: skip
    """One design per pair, ``n`` per pair for the first ``groups`` pairs, and the first ``groups`` queries
    designed for ``k`` users with the same noise (Fig. 7); seeded, see the module docstring."""
    groups = min(groups, len(pairs))
    drawer = _Drawer(designer, pairs, images, batch)
    dim, size = designer.config.noise_dim, designer.config.image_size

    def noise(stream: int, rows: int) -> torch.Tensor:
        return torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed * 1000 + stream))

    every = np.arange(len(pairs), dtype=np.int64)
    one = drawer.draw(every, noise(_ONE, len(pairs)))
    several = drawer.draw(np.repeat(every[:groups], n), noise(_SEVERAL, groups * n))
    across_pairs = other_users(pairs, groups, k, seed)
    same = noise(_ACROSS, groups).repeat_interleave(k, dim=0)  # one noise per group, shared by its k users
    across = drawer.draw(np.repeat(every[:groups], k), same, across_pairs.ravel())
    return Designs(one, several.reshape(groups, n, size, size, 3), across.reshape(groups, k, size, size, 3),
                   across_pairs)  # fmt: skip


# --- measuring ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DesignQuality:
    """One variant's row of the Table-2-like table (see the module docstring for each number)."""

    pairs: int
    fid: float  # own features, designs vs the pairs' true bottoms, lower is better
    inception: float  # IS analogue on the catalogue network's article-type head, higher is better
    inception_std: float
    diversity: float  # opposite mean SSIM of n designs per (user, query); nan with fewer than 2
    users_diversity: float  # opposite mean SSIM across users, same query and noise; nan with fewer than 2
    users_l1: float  # mean pixel L1 between those designs
    ssim: float  # design vs true bottom
    l1: float
    score_design: float  # common judge
    score_true: float
    score_random: float
    own_score_design: float  # the variant's own compatibility model
    own_score_true: float
    own_score_random: float

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in dataclasses.asdict(self).items()}


def _mean_users_l1(across: Images) -> float:
    """Mean L1 over the k(k - 1)/2 pairs of users' designs within each group (nan with fewer than 2 users)."""
    groups, k = across.shape[:2]
    if k < 2 or groups == 0:
        return float("nan")
    left, right = np.triu_indices(k, k=1)
    a = across[:, left].reshape(-1, *across.shape[2:])
    b = across[:, right].reshape(-1, *across.shape[2:])
    return float(l1_error(a, b).mean())


def _diversity(groups: Images) -> float:
    return diversity(groups) if groups.shape[0] and groups.shape[1] >= 2 else float("nan")


def _judge_scores(judge: Judge, pairs: DesignPairs, designs: Images) -> tuple[float, float, float]:
    """Mean s(u, q, ·) of the designs, the true bottoms and the random bottoms."""
    return (float(judge.scores(pairs, judge.image_z(designs)).mean()),
            float(judge.scores(pairs, judge.item_z(pairs.targets)).mean()),
            float(judge.scores(pairs, judge.item_z(pairs.randoms)).mean()))  # fmt: skip


def measure(designs: Designs, pairs: DesignPairs, images: Images, features: FeatureNet, judge: Judge,
            own_judge: Judge | None = None, *, splits: int = 10) -> DesignQuality:  # fmt: skip
    """Every metric of one variant's designs for ``pairs`` (``own_judge`` defaults to ``judge``)."""
    if len(designs.one) != len(pairs):
        raise InvalidInputError(f"{len(designs.one)} designs for {len(pairs)} pairs")
    true = np.asarray(images[pairs.targets])
    f_design, p_design = features(designs.one)
    f_true, _ = features(true)
    inception, inception_std = inception_score(p_design, splits=min(splits, len(pairs)))
    common = _judge_scores(judge, pairs, designs.one)
    own = common if own_judge is None or own_judge is judge else _judge_scores(own_judge, pairs, designs.one)
    return DesignQuality(
        pairs=len(pairs), fid=fid_from_features(f_true, f_design), inception=inception, inception_std=inception_std,
        diversity=_diversity(designs.several), users_diversity=_diversity(designs.across),
        users_l1=_mean_users_l1(designs.across), ssim=float(ssim(designs.one, true).mean()),
        l1=float(l1_error(designs.one, true).mean()), score_design=common[0], score_true=common[1],
        score_random=common[2], own_score_design=own[0], own_score_true=own[1], own_score_random=own[2],
    )  # fmt: skip


@dataclass(frozen=True)
class RealReference:
    """What real bottoms score on the same scales: the floor of FID and the IS and diversity of real data."""

    fid_floor: float  # FID between two disjoint samples of real bottoms of the evaluated set size
    inception: float
    inception_std: float
    diversity: float  # opposite mean SSIM within groups of n real bottoms of different pairs

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in dataclasses.asdict(self).items()}


def real_reference(images: Images, targets: IntArray, other_targets: IntArray, features: FeatureNet, *,
                   n: int = 4, groups: int = 100, splits: int = 10) -> RealReference:  # fmt: skip
    """References for ``targets`` (the evaluated pairs' true bottoms); ``other_targets`` are the true bottoms of
    a disjoint sample of the same size and distribution (:func:`sample_pairs` with ``skip``).

    FID of designs is measured against ``targets`` with as many designs as targets; comparing two real samples
    of that same size gives the value sampling noise alone produces, which is what "close to real" means here.
    """
    real = np.asarray(images[targets])
    f_real, p_real = features(real)
    f_other, _ = features(np.asarray(images[other_targets]))
    inception, inception_std = inception_score(p_real, splits=min(splits, len(real)))
    groups = min(groups, len(real) // n)
    div = _diversity(real[: groups * n].reshape(groups, n, *real.shape[1:]))
    return RealReference(fid_from_features(f_real, f_other), inception, inception_std, div)
