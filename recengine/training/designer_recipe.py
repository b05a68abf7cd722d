"""Training recipe of the personalised designer: the seed's Algorithm 1 (Sec. 3.3, Eq. 1, 2, 10, 11).

One iteration, on a batch of positives (user, query top, true bottom) with the compatibility recipe's Eq. 6/7
negatives:

0. designs x* = G(F(x_q), θu, noise) are drawn with the current networks (Algorithm 1, line 3);
1. F, M and θu take one step on L_FM (Eq. 10), as :class:`CompatibilityRecipe` trains them, with the negatives
   the shipped designer checkpoints were trained with (:meth:`NegativeMix.in_batch_even`);
2. D takes ``n_d`` = 2 steps on RaLSGAN_D (Eq. 1) between the true bottoms and the (fixed) designs; λ2 scales
   D's step, i.e. its learning rate (Adam is invariant to the scale of a loss, so scaling the loss would not);
3. G takes one step on λ1 L_FM_G (Eq. 11) + λ3 RaLSGAN_G (Eq. 2) with D, F, M and θu frozen: the gradient flows
   through D, F(x*) and M into G, and only G's parameters move. Not in the seed (whose G has no noise input):
   + λ_ms times the mode-seeking term of MSGAN (Mao et al., CVPR 2019), 1 / (mean |G(c, n1) - G(c, n2)| /
   mean |n1 - n2|), on half the batch designed twice with other noise. Without it G ignored its noise (four
   designs of one (user, query) were the same image after 500 iterations, docs/decisions.md).

In step 3 F runs in eval mode: the compatibility discriminator then scores designs as the deployed scorer
would, and designs never leak into F's batch-norm statistics. D always runs on batch statistics (its running
statistics are never used). Evaluation: mean personalised compatibility score of one design, of the true bottom
and of a random training bottom on a fixed sample of validation pairs, design diversity (opposite mean SSIM),
FITB of the fine-tuned compatibility model, and a PNG grid of a few (user, query) pairs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from recengine.datasets.image_cache import to_tensor
from recengine.evaluation.image_metrics import diversity
from recengine.evaluation.protocol_data import ProtocolData
from recengine.nets.designer import Designer, compatibility_matching_loss, ralsgan_d_loss, ralsgan_g_loss
from recengine.training.compatibility_recipe import Batch, CompatibilityRecipe, NegativeMix
from recengine.training.trainer import TrainConfig, optimizer_step
from recengine.viz import Tile, save_grid

IntArray = NDArray[np.int64]


@dataclass
class DesignerBatch:
    pairs: Batch  # positives and Eq. 6 random bottoms, as the compatibility recipe draws them
    noise: torch.Tensor  # (B, noise_dim) G's noise for this batch's designs
    second_noise: torch.Tensor  # (B // 2, noise_dim) other noise for the first half's mode-seeking designs


@dataclass(frozen=True)
class LossWeights:
    """λ1 (L_FM_G), λ2 (D's step), λ3 (RaLSGAN_G) of Eq. 12 and Algorithm 1; the seed sets all to 1."""

    fm_g: float = 1.0
    d: float = 1.0
    gan: float = 1.0
    n_d: int = 2
    mode_seeking: float = 1.0  # λ_ms of MSGAN's term (not in the seed; see the module docstring)


@contextmanager
def frozen(*modules: torch.nn.Module) -> Iterator[None]:
    """Parameters that gradients pass through but do not accumulate in (and no optimiser could move)."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@contextmanager
def evaluating(module: torch.nn.Module) -> Iterator[None]:
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def to_uint8(images: torch.Tensor) -> NDArray[np.uint8]:
    """(..., 3, S, S) in [-1, 1] -> (..., S, S, 3) uint8."""
    pixels = ((images.detach().float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    out: NDArray[np.uint8] = pixels.movedim(-3, -1).numpy()
    return out


class DesignerRecipe:
    """See the module docstring; ``weight_decay`` and ``user_lr`` are the compatibility recipe's (F, M, θu)."""

    family = "designer"

    def __init__(self, model: Designer, data: ProtocolData, images: NDArray[np.uint8], user_rows: IntArray, *,
                 weights: LossWeights | None = None, weight_decay: float = 1e-5, user_lr: float = 1e-2,
                 eval_pairs: int = 300, eval_questions: int = 500, diversity_designs: tuple[int, int] = (16, 4),
                 sample_designs: tuple[int, int] = (6, 4), samples_dir: Path | None = None,
                 name: str = "designer", seed: int = 0) -> None:  # fmt: skip
        self.model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.compatibility = CompatibilityRecipe(model.compatibility, data, images, user_rows, seed=seed,
                                                 weight_decay=weight_decay, user_lr=user_lr,
                                                 eval_questions=eval_questions,
                                                 negatives=NegativeMix.in_batch_even())  # fmt: skip
        self.data = data
        self.images = self.compatibility.images
        self.weights = weights or LossWeights()
        self.diversity_designs, self.sample_designs = diversity_designs, sample_designs
        self.samples_dir, self.name, self.seed = samples_dir, name, seed
        users, queries, targets, _ = data.pairs("valid")
        keep = np.flatnonzero(user_rows[users] >= 0)  # users with a θu row (newcomers need a fitted one)
        pick = np.random.default_rng(seed).permutation(keep)[:eval_pairs]
        self.user_external = [data.user_external[u] for u in users[pick]]
        self.valid_pairs = (torch.as_tensor(user_rows[users[pick]]), torch.as_tensor(queries[pick]),
                     torch.as_tensor(targets[pick]))  # fmt: skip
        self._optimizers: dict[str, torch.optim.Optimizer] = {}

    def optimizers(self, config: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        m = self.model
        self._optimizers = {
            "compatibility": torch.optim.Adam(self.compatibility.parameter_groups(), lr=config.lr,
                                              betas=config.betas),
            "discriminator": torch.optim.Adam(m.discriminator.parameters(), lr=self.weights.d * config.lr,
                                              betas=config.betas),
            "generator": torch.optim.Adam(m.decoder.parameters(), lr=config.lr, betas=config.betas),
        }  # fmt: skip
        return self._optimizers

    def batches(self, generator: torch.Generator, batch_size: int) -> Iterator[DesignerBatch]:
        for pairs in self.compatibility.batches(generator, batch_size):
            dim = self.model.config.noise_dim
            yield DesignerBatch(pairs, torch.randn(batch_size, dim, generator=generator),
                                torch.randn(batch_size // 2, dim, generator=generator))  # fmt: skip

    def pixels(self, items: torch.Tensor) -> torch.Tensor:
        return to_tensor(self.images[items]).contiguous(memory_format=torch.channels_last)

    def _step(self, name: str, loss: torch.Tensor) -> float:
        return optimizer_step(self._optimizers[name], loss)

    def query_latents(self, x_query: torch.Tensor) -> torch.Tensor:
        """F(x_q) as the deployed designer sees the query (eval mode, no gradient)."""
        with torch.no_grad(), evaluating(self.model.compatibility):
            z: torch.Tensor = self.model.compatibility.encoder(x_query)
        return z

    def draw_designs(self, users: torch.Tensor, x_query: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Line 3 of Algorithm 1: x* with the graph into G kept for G's step (G does not move before it)."""
        designs: torch.Tensor = self.model.generate(users, self.query_latents(x_query), noise)
        return designs

    def mode_seeking_loss(self, users: torch.Tensor, z_query: torch.Tensor, fake: torch.Tensor, noise: torch.Tensor,
                          second_noise: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """MSGAN's term on the first ``len(second_noise)`` rows: small when other noise gives another design.
        ``z_query`` is F(x_q) of those rows (:meth:`query_latents`)."""
        h = len(second_noise)
        again = self.model.generate(users[:h], z_query[:h], second_noise)
        ratio = (fake[:h] - again).abs().mean() / (noise[:h] - second_noise).abs().mean()
        loss: torch.Tensor = 1 / (ratio + 1e-5)
        return loss

    def step_compatibility(self, pairs: Batch) -> float:
        """Step 1: F, M and θu on L_FM (Eq. 10), the compatibility recipe's in-batch loss."""
        loss, _ = self.compatibility.loss(pairs)
        return self._step("compatibility", loss)

    def step_discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> float:
        """Step 2 (one of the n_d): D on RaLSGAN_D (Eq. 1); real and fake in separate batch-norm batches."""
        d = self.model.discriminator
        return self._step("discriminator", ralsgan_d_loss(d(real), d(fake.detach())))

    def step_generator(self, users: torch.Tensor, x_query: torch.Tensor, x_true: torch.Tensor, fake: torch.Tensor,
                       noise: torch.Tensor | None = None,
                       second_noise: torch.Tensor | None = None) -> dict[str, float]:  # fmt: skip
        """Step 3: G on λ1 L_FM_G (Eq. 11) + λ3 RaLSGAN_G (Eq. 2) (+ λ_ms mode seeking when both noises are
        given), everything else frozen."""
        m, w = self.model, self.weights
        c = m.compatibility
        logs: dict[str, float] = {}
        with frozen(c, m.discriminator), evaluating(c):
            z_query = self.query_latents(x_query)  # F after this iteration's L_FM step, shared by both terms
            with torch.no_grad():
                d_real = m.discriminator(x_true)
            gan = ralsgan_g_loss(d_real, m.discriminator(fake))
            loss = w.gan * gan
            if w.fm_g:  # the "remove L_FM_G" ablation skips the compatibility discriminator altogether
                with torch.no_grad():
                    z_true = c.encoder(x_true)
                theta, bias = c.user_vectors(users), c.user_bias(users)
                s_pos = c.score_latent(z_query * z_true, theta, bias)
                s_design = c.score_latent(z_query * c.encoder(fake), theta, bias)
                fm_g = compatibility_matching_loss(s_pos, s_design)
                loss = loss + w.fm_g * fm_g
                logs = {"loss_fm_g": fm_g.item(), "score_true": s_pos.mean().item(),
                        "score_design": s_design.mean().item()}  # fmt: skip
            if w.mode_seeking and noise is not None and second_noise is not None and len(second_noise):
                ms = self.mode_seeking_loss(users, z_query, fake, noise, second_noise)
                loss = loss + w.mode_seeking * ms
                logs["loss_ms"] = ms.item()
            self._step("generator", loss)
        return {"loss_g": gan.item(), **logs}

    def train_step(self, batch: DesignerBatch) -> dict[str, float]:
        pairs, w = batch.pairs, self.weights
        x_query, x_true = self.pixels(pairs.queries), self.pixels(pairs.positives)
        fake = self.draw_designs(pairs.users, x_query, batch.noise)
        loss_fm = self.step_compatibility(pairs)
        loss_d = [self.step_discriminator(x_true, fake) for _ in range(w.n_d)][-1]
        logs = self.step_generator(pairs.users, x_query, x_true, fake, batch.noise, batch.second_noise)
        total = loss_fm + w.fm_g * logs.get("loss_fm_g", 0.0) + w.d * loss_d + w.gan * logs["loss_g"]  # Eq. 12
        total += w.mode_seeking * logs.get("loss_ms", 0.0)
        return {"loss": total, "loss_fm": loss_fm, "loss_d": loss_d, **logs}

    @torch.no_grad()
    def evaluate(self, step: int) -> dict[str, float]:
        m = self.model
        c = m.compatibility
        out = self.compatibility.evaluate()  # FITB of the fine-tuned F, M, θu (also puts c in eval mode)
        m.eval()
        users, queries, targets = self.valid_pairs
        generator = torch.Generator().manual_seed(self.seed)  # the same noise at every evaluation
        randoms = self.compatibility.bottoms[torch.randint(0, len(self.compatibility.bottoms), (len(users),),
                                                           generator=generator)]  # fmt: skip
        scores: dict[str, list[torch.Tensor]] = {"design": [], "true": [], "random": []}
        for s in range(0, len(users), 100):
            u, q = users[s : s + 100], self.pixels(queries[s : s + 100])
            z_query = c.encoder(q)
            design = m.design(u, z_query, 1, generator)[:, 0]
            theta, bias = c.user_vectors(u), c.user_bias(u)
            for key, z in (("design", c.encoder(design)), ("true", c.encoder(self.pixels(targets[s : s + 100]))),
                           ("random", c.encoder(self.pixels(randoms[s : s + 100])))):  # fmt: skip
                scores[key].append(c.score_latent(z_query * z, theta, bias))
        for key, values in scores.items():
            out[f"valid_score_{key}"] = float(torch.cat(values).mean()) if values else 0.0
        groups, n = self.diversity_designs
        if len(users) and n >= 2:
            designs = m.design(users[:groups], c.encoder(self.pixels(queries[:groups])), n, generator)
            out["valid_diversity"] = diversity(to_uint8(designs))
        if self.samples_dir is not None:
            self.save_samples(self.samples_dir / f"designer-{self.name}-step{step}.png")
        return out

    @torch.no_grad()
    def save_samples(self, path: Path) -> Path:
        """A grid of the first evaluation pairs: query, designs from different noise, the true bottom."""
        m = self.model
        pairs, n = self.sample_designs
        users, queries, targets = (t[:pairs] for t in self.valid_pairs)
        generator = torch.Generator().manual_seed(self.seed + 1)
        designs = to_uint8(m.design(users, m.compatibility.encoder(self.pixels(queries)), n, generator))
        images = self.images.numpy()
        rows = [
            [
                Tile(images[q], "query"),
                *(Tile(d, f"design {k + 1}") for k, d in enumerate(row)),
                Tile(images[t], "true"),
            ]
            for q, t, row in zip(queries.tolist(), targets.tolist(), designs, strict=True)
        ]
        return save_grid(rows, path, titles=self.user_external[:pairs])

    def checkpoint_extra(self) -> dict[str, Any]:
        w = self.weights
        return {**self.compatibility.checkpoint_extra(), "lambda_fm_g": w.fm_g, "lambda_d": w.d,
                "lambda_gan": w.gan, "n_d": w.n_d, "lambda_ms": w.mode_seeking}  # fmt: skip
