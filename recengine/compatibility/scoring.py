"""Scoring with a trained compatibility model: item embeddings computed once, then M(θu ⊙ zq ⊙ zc) in batches.

The exhaustive path (every catalogue item of a category for one (user, query)) is the reference that the
generate-then-retrieve path of later issues is measured against.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray

from recengine.datasets.image_cache import to_tensor
from recengine.nets.compatibility import CompatibilityModel

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@torch.no_grad()
def embed_images(model: CompatibilityModel, images: NDArray[np.uint8], batch: int = 512) -> torch.Tensor:
    """(N, S, S, 3) uint8 -> (N, z_dim) float32 embeddings F(x), in eval mode."""
    model.eval()
    out = []
    for start in range(0, len(images), batch):
        x = to_tensor(np.ascontiguousarray(images[start : start + batch])).contiguous(memory_format=torch.channels_last)
        out.append(model.encoder(x))
    return torch.cat(out) if out else torch.empty(0, model.config.z_dim)


class CompatibilityScorer:
    """:class:`~recengine.evaluation.protocol.PairScorer` over precomputed item embeddings.

    Args:
        model: The trained model (its encoder is not run again here).
        embeddings: (I, z_dim) F(x) of every item index.
        user_rows: (U,) row of each data user in the model's θu table, -1 for users the model was not
            trained on (newcomers), who then need ``thetas``.
        thetas: (U, z_dim) θu to use instead of the model's table (fitted newcomers); NaN rows fall back to
            the model's table.
    """

    def __init__(self, model: CompatibilityModel, embeddings: torch.Tensor, user_rows: IntArray,
                 thetas: FloatArray | None = None) -> None:  # fmt: skip
        self.model = model.eval()
        self.z = embeddings
        self.user_rows = torch.as_tensor(user_rows)
        self.thetas = None if thetas is None else torch.as_tensor(thetas, dtype=torch.float32)

    def _theta(self, users: torch.Tensor) -> torch.Tensor | None:
        if self.model.theta is None:
            return None
        rows = self.user_rows[users]
        theta: torch.Tensor = self.model.theta(rows.clamp(min=0))
        if self.thetas is not None:
            fitted = self.thetas[users]
            has_fit = ~torch.isnan(fitted).any(dim=1)
            theta = torch.where(has_fit[:, None], fitted, theta)
            rows = torch.where(has_fit, 0, rows)
        if bool((rows < 0).any()):
            raise ValueError("users the model was not trained on need fitted θu (thetas)")
        return theta

    def _bias(self, users: torch.Tensor) -> torch.Tensor | None:
        rows = self.user_rows[users]
        bias = self.model.user_bias(rows.clamp(min=0))
        if bias is None:
            return None
        # A discrete label exists only for training users; anyone else gets the neutral (zero) term.
        masked: torch.Tensor = bias * (rows >= 0)[:, None]
        return masked

    @torch.no_grad()
    def score(self, users: IntArray, queries: IntArray, candidates: IntArray) -> FloatArray:
        u = torch.as_tensor(users)
        theta, bias = self._theta(u), self._bias(u)
        cand = torch.as_tensor(np.ascontiguousarray(candidates))
        z_o = self.z[torch.as_tensor(queries)][:, None, :] * self.z[cand]
        s = self.model.score_latent(z_o, None if theta is None else theta[:, None, :],
                                    None if bias is None else bias[:, None, :])  # fmt: skip
        return s.double().numpy()


@torch.no_grad()
def score_catalogue(model: CompatibilityModel, z_query: torch.Tensor, z_items: torch.Tensor,
                    theta: torch.Tensor | None = None, batch: int = 16384) -> torch.Tensor:  # fmt: skip
    """Exhaustive scoring: s(u, q, c) for every item c, from precomputed embeddings.

    Args:
        model: The trained model (only M is run).
        z_query: (z_dim,) F(x_q).
        z_items: (I, z_dim) F(x_c) of the items to score, e.g. every item of the target category.
        theta: (z_dim,) θu, or None for a model without θu.
        batch: Items scored per M call (bounds memory).

    Returns:
        (I,) float32 scores.
    """
    model.eval()
    out = torch.empty(len(z_items))
    for start in range(0, len(z_items), batch):
        z_o = z_items[start : start + batch] * z_query
        out[start : start + batch] = model.score_latent(z_o, theta)
    return out
