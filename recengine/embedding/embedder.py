"""Retrieval embedders: catalogue (and query, and designed) images -> L2-normalised float32 vectors.

Every vector an index holds was made by one embedder *version*; the version string names the network and the
exact weights (``compatibility:default-full@<sha256[:12]>``), and is written into the index's manifest and its
``index_versions`` row, so vectors of different embedders are never mixed in one index.

The default is the catalogue image network (:mod:`recengine.nets.embedder`): on the real Myntra labels its
neighbours agree with the query's article type and colour far more often than those of encoder F of the
compatibility model or of a pixel baseline (``python -m benchmarks.embedder_choice``, numbers in
``benchmarks/RESULTS.md``). :class:`PixelEmbedder` is that baseline, kept as a dependency-free embedder for
tests and for catalogues without a trained model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, TypeVar

import numpy as np
import torch
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from recengine.datasets.image_cache import to_tensor
from recengine.errors import InvalidInputError, NotFoundError
from recengine.nets.compatibility import CompatibilityConfig, CompatibilityModel
from recengine.nets.embedder import EmbedderConfig, EmbedderNet
from recengine.nets.folding import inference_copy
from recengine.store.models import ModelVersion, get_row
from recengine.training.checkpoints import file_sha256, load_checkpoint

FloatArray = NDArray[np.float32]


class ImageEmbedder(Protocol):
    """(N, S, S, 3) uint8 prepared images (see :mod:`recengine.datasets.image_cache`) -> (N, dim) unit vectors."""

    @property
    def version(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def image_size(self) -> int: ...

    @property
    def model_version_id(self) -> int | None: ...

    def embed(self, images: NDArray[np.uint8]) -> FloatArray: ...


def normalise(vectors: FloatArray) -> FloatArray:
    """Rows scaled to unit L2 norm. A row with no direction (a blank photo under the pixel baseline) becomes
    the constant unit vector: the index takes only unit vectors, and every blank photo is alike."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: FloatArray = (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    blank = norms[:, 0] < 1e-9
    if blank.any():
        out[blank] = 1.0 / np.sqrt(vectors.shape[1])
    return out


def _check_images(images: NDArray[np.uint8], size: int) -> None:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (size, size, 3):
        raise InvalidInputError(f"expected (N, {size}, {size}, 3) uint8 images, got {images.dtype} {images.shape}")


@dataclass
class _NetworkEmbedder:
    """A trained torch network run in eval mode over batches of prepared images, outputs normalised."""

    model: torch.nn.Module
    version: str
    model_version_id: int | None = None
    batch: int = 512

    family: ClassVar[str]

    def __post_init__(self) -> None:
        self.model = inference_copy(self.model)  # folded, channels-last; the caller's model is not changed

    @property
    def dim(self) -> int:
        raise NotImplementedError

    @property
    def image_size(self) -> int:
        return int(getattr(self.model, "config").image_size)  # noqa: B009  # every network's config has it

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def embed(self, images: NDArray[np.uint8]) -> FloatArray:
        _check_images(images, self.image_size)
        out = np.empty((len(images), self.dim), dtype=np.float32)
        for start in range(0, len(images), self.batch):
            x = to_tensor(np.ascontiguousarray(images[start : start + self.batch]))
            out[start : start + len(x)] = self._forward(x.contiguous(memory_format=torch.channels_last)).numpy()
        return normalise(out)

    @classmethod
    def _build(cls, config: dict[str, Any]) -> torch.nn.Module:
        raise NotImplementedError

    @classmethod
    def from_checkpoint(cls, path: Path, *, name: str | None = None, model_version_id: int | None = None,
                        sha256: str | None = None) -> Self:  # fmt: skip
        payload = load_checkpoint(path, family=cls.family)
        model = cls._build(payload["config"])
        model.load_state_dict(payload["state_dict"])
        digest = sha256 or file_sha256(path)
        label = name or path.stem.removeprefix(f"{cls.family}-")
        return cls(model=model, version=f"{cls.family}:{label}@{digest[:12]}", model_version_id=model_version_id)


E = TypeVar("E", bound=_NetworkEmbedder)


class EncoderEmbedder(_NetworkEmbedder):
    """Encoder F of a trained compatibility model."""

    family = "compatibility"
    model: CompatibilityModel

    @property
    def dim(self) -> int:
        return self.model.config.z_dim

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        z: torch.Tensor = self.model.encoder(x)
        return z

    @classmethod
    def _build(cls, config: dict[str, Any]) -> torch.nn.Module:
        return CompatibilityModel(CompatibilityConfig.from_dict(config))


class CatalogueEmbedder(_NetworkEmbedder):
    """The catalogue image network (:mod:`recengine.nets.embedder`): the default retrieval embedder."""

    family = "embedder"
    model: EmbedderNet

    @property
    def dim(self) -> int:
        return self.model.config.dim

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        e: torch.Tensor = self.model(x)
        return e

    @classmethod
    def _build(cls, config: dict[str, Any]) -> torch.nn.Module:
        return EmbedderNet(EmbedderConfig.from_dict(config))


@dataclass(frozen=True)
class PixelEmbedder:
    """Baseline: the image shrunk to ``side`` x ``side`` colour pixels, centred, as a vector (3·side² dims)."""

    side: int = 8
    image_size: int = 64
    model_version_id: int | None = None

    @classmethod
    def from_version(cls, version: str) -> PixelEmbedder:
        """The pixel embedder whose :attr:`version` is ``version`` (``pixels:8x8@64``): an index built with
        other sizes than the defaults is synced with the same sizes."""
        match = re.fullmatch(r"pixels:(\d+)x\1@(\d+)", version)
        if match is None:
            raise InvalidInputError(f"{version!r} is not a pixel embedder's version (pixels:SxS@N)")
        return cls(side=int(match[1]), image_size=int(match[2]))

    @property
    def version(self) -> str:
        return f"pixels:{self.side}x{self.side}@{self.image_size}"

    @property
    def dim(self) -> int:
        return 3 * self.side * self.side

    def embed(self, images: NDArray[np.uint8]) -> FloatArray:
        _check_images(images, self.image_size)
        if self.image_size % self.side:
            raise InvalidInputError(f"image size {self.image_size} is not a multiple of {self.side}")
        f = self.image_size // self.side
        pooled = images.reshape(len(images), self.side, f, self.side, f, 3).mean(axis=(2, 4), dtype=np.float32)
        flat = (pooled / 255.0 - 0.5).reshape(len(images), -1)
        # The white background dominates every photo: removing the per-image mean colour keeps the garment's
        # shape and colour contrast instead.
        flat -= flat.mean(axis=1, keepdims=True)
        return normalise(flat.astype(np.float32))


def _registered(cls: type[E], version: ModelVersion | None, missing: str) -> E:
    if version is None or version.family != cls.family or not version.checkpoint_path:
        raise NotFoundError(missing)
    return cls.from_checkpoint(Path(version.checkpoint_path), name=version.name, model_version_id=version.id,
                               sha256=version.checkpoint_sha256)  # fmt: skip


def load_embedder(*, session: Session, model_version_id: int | None = None) -> EncoderEmbedder:
    """Encoder F of a registered compatibility model (default: the newest full model with θu)."""
    from recengine.preferences.service import default_model_version

    if model_version_id is None:
        version: ModelVersion | None = default_model_version(session=session)
    else:
        version = get_row(session, ModelVersion, model_version_id)
    missing = f"no compatibility model version {model_version_id} with a checkpoint to embed with"
    return _registered(EncoderEmbedder, version, missing)


#: Embedder kinds a job or command may name; the first is the default.
EMBEDDERS = ("catalogue", "compatibility", "pixels")


def load_catalogue_embedder(*, session: Session, model_version_id: int | None = None) -> CatalogueEmbedder:
    """A registered catalogue image network (default: the newest)."""
    if model_version_id is None:
        newest = ModelVersion.created_at.desc(), ModelVersion.id.desc()
        version = session.scalar(select(ModelVersion).where(ModelVersion.family == "embedder").order_by(*newest))
        missing = ("no catalogue embedder registered: `recengine models register checkpoints/embedder-catalogue.pt` "
                   "or `recengine train embedder`")  # fmt: skip
    else:
        version = get_row(session, ModelVersion, model_version_id)
        missing = f"no embedder model version {model_version_id} with a checkpoint"
    return _registered(CatalogueEmbedder, version, missing)


def resolve_embedder(*, session: Session, kind: str = EMBEDDERS[0], model_version_id: int | None = None,
                     version: str | None = None) -> ImageEmbedder:  # fmt: skip
    """The embedder a job's parameters name: the catalogue network (default), encoder F of a compatibility
    model, or the pixel baseline (with the sizes ``version`` names, when given: they are not in a registry)."""
    if kind == "catalogue":
        return load_catalogue_embedder(session=session, model_version_id=model_version_id)
    if kind == "compatibility":
        return load_embedder(session=session, model_version_id=model_version_id)
    if kind == "pixels":
        return PixelEmbedder.from_version(version) if version else PixelEmbedder()
    raise InvalidInputError(f"unknown embedder {kind!r}; choose one of {', '.join(EMBEDDERS)}")


def embedder_kind(version: str) -> str:
    """The kind of embedder that wrote vectors of this version string (the index manifest's)."""
    prefix = version.split(":", 1)[0]
    return {"embedder": "catalogue", "compatibility": "compatibility", "pixels": "pixels"}.get(prefix, prefix)
