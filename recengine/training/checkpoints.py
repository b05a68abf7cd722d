"""Checkpoints that describe themselves: family, config, weights and training state, loadable with
``torch.load(..., weights_only=True)`` (plain containers and tensors only, no pickled objects of ours)."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any

import torch

from recengine.errors import InvalidInputError, NotFoundError

FORMAT = "recengine.checkpoint/1"
_KEYS: dict[str, type] = {"family": str, "config": dict, "state_dict": dict, "extra": dict}


def save_checkpoint(path: Path, *, family: str, config: dict[str, Any], state_dict: dict[str, Any],
                    extra: dict[str, Any] | None = None) -> str:  # fmt: skip
    """Write atomically (temp file + rename) and return the file's sha256."""
    payload = {"format": FORMAT, "family": family, "config": config, "state_dict": state_dict, "extra": extra or {}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return file_sha256(path)


def load_checkpoint(path: Path, *, family: str | None = None) -> dict[str, Any]:
    """The checkpoint's payload; checks its format and (optionally) its family."""
    if not path.exists():
        raise NotFoundError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise InvalidInputError(f"checkpoint {path} is not a file")
    # torch.save writes a zip archive; without this check a truncated or foreign file surfaces as whatever torch's
    # unpickler tripped on (``KeyError: 101`` for a text file).
    if not zipfile.is_zipfile(path):
        raise InvalidInputError(f"{path}: not a readable recengine checkpoint (not the zip archive torch.save "
                                "writes: truncated, or another kind of file)")  # fmt: skip
    try:
        payload: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for a damaged or foreign file
        raise InvalidInputError(f"{path}: not a readable recengine checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InvalidInputError(f"{path}: not a recengine checkpoint (format {FORMAT} expected)")
    missing = sorted(_KEYS.keys() - payload.keys())
    malformed = missing or [key for key, kind in _KEYS.items() if not isinstance(payload[key], kind)]
    if malformed:
        raise InvalidInputError(f"{path}: a damaged recengine checkpoint "
                                f"(missing or malformed: {', '.join(malformed)})")  # fmt: skip
    if family is not None and payload["family"] != family:
        raise InvalidInputError(f"{path}: a {payload['family']!r} checkpoint, expected {family!r}")
    return payload


def network_file(kind: str, where: str, default_embedder: Path | None) -> Path | None:
    """The file a pretrained-network spec ``kind[:where]`` (``embedder[:PATH]``, ``vgg16:PATH``) names: ``where``
    when given, else for ``embedder`` the default catalogue network (None when there is none).

    Raises:
        InvalidInputError: ``vgg16`` without its weights file.
    """
    if where:
        return Path(where).expanduser()
    if kind == "vgg16":
        raise InvalidInputError("vgg16 needs its weights: vgg16:/path/to/vgg16.pth (torchvision format)")
    return default_embedder


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_checkpoint(source: Path, target: Path) -> str:
    """Copy a checkpoint without its training state (optimiser moments): the file to ship or deploy."""
    payload = load_checkpoint(source)
    extra = {k: v for k, v in payload["extra"].items() if k not in ("optimizer", "optimizers")}
    return save_checkpoint(target, family=payload["family"], config=payload["config"],
                           state_dict=payload["state_dict"], extra=extra)  # fmt: skip
