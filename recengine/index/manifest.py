"""On-disk format of a catalogue index, verified on load, and a store of versions with a CURRENT pointer.

One index directory holds ``index.faiss`` (every partition, each written by ``faiss.write_index``, one after
the other), ``meta.npz`` (item ids, category codes and names, partition order and factories) and
``manifest.json`` (format version, sizes, embedder version, FAISS version and the sha256 of both files).

Crash safety. ``write_index_dir`` writes into a hidden sibling temp directory, fsyncs every file and the
directory, then renames it into place, so an index directory is complete or absent. ``IndexStore`` never
overwrites a version: it writes ``v000013/`` and then replaces ``CURRENT`` (a one-line file) with
``os.replace`` of an fsynced temp file. A crash
  * while writing the temp directory leaves a ``.v000013.tmp-*`` directory that ``prune`` deletes;
  * after the rename but before ``CURRENT`` is replaced leaves a complete ``v000013/`` that is not current;
  * after ``os.replace`` but before the root directory is fsynced leaves ``CURRENT`` naming either version.
In every case ``CURRENT`` names a complete, verified-loadable version. One writer per store root is assumed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import faiss
import numpy as np
import numpy.typing as npt

from recengine.errors import ConfigurationError, InvalidInputError, NotFoundError
from recengine.index.gpu import to_cpu
from recengine.names import check_name
from recengine.training.checkpoints import file_sha256

if TYPE_CHECKING:
    from recengine.index.catalogue_index import CatalogueIndex

FORMAT_VERSION = 1
INDEX_FILE, META_FILE, MANIFEST_FILE, CURRENT_FILE = "index.faiss", "meta.npz", "manifest.json", "CURRENT"
VERSION_RE = re.compile(r"^v\d{6}$")


class IndexIntegrityError(InvalidInputError):
    """Index files that are corrupt, truncated, inconsistent or of an unknown format."""


@dataclass(frozen=True)
class Manifest:
    """``manifest.json``. ``factory`` is the one requested for every partition, or ``auto`` (each partition's
    own is in ``meta.npz``); the sha256 values and ``created_at`` are set once the files are written."""

    factory: str
    dim: int
    metric: str
    embedder_version: str
    item_count: int
    partitions: int = 0
    format_version: int = FORMAT_VERSION
    index_sha256: str | None = None
    meta_sha256: str | None = None
    created_at: str | None = None
    faiss_version: str = faiss.__version__

    @property
    def sha256(self) -> str | None:
        """The index file's sha256: the version's identity (its metadata is covered by ``meta_sha256``)."""
        return self.index_sha256

    @classmethod
    def from_json(cls, data: object, where: Path) -> Manifest:
        fields = set(cls.__dataclass_fields__)
        if not isinstance(data, dict) or fields - data.keys():
            missing = sorted(fields - data.keys()) if isinstance(data, dict) else ["everything"]
            raise IndexIntegrityError(f"{where} lacks {', '.join(missing)}")
        if data["format_version"] != FORMAT_VERSION:
            raise IndexIntegrityError(f"{where} has index format {data['format_version']}, expected {FORMAT_VERSION}")
        return cls(**{key: data[key] for key in fields})


@dataclass(frozen=True)
class IndexFiles:
    manifest: Manifest
    arrays: dict[str, npt.NDArray[Any]]
    names: list[str]
    partitions: list[tuple[str, faiss.Index]]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> str:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return hashlib.sha256(data).hexdigest()


def _write_partitions(path: Path, partitions: list[tuple[str, faiss.Index]]) -> str:
    """Stream every partition through ``faiss.write_index`` into one file, hashing on the way."""
    digest = hashlib.sha256()
    with path.open("wb") as f:

        def write(chunk: bytes) -> None:
            digest.update(chunk)
            f.write(chunk)

        for _factory, index in partitions:
            faiss.write_index(to_cpu(index), faiss.PyCallbackIOWriter(write))  # type: ignore[attr-defined]
        f.flush()
        os.fsync(f.fileno())
    return digest.hexdigest()


def write_index_dir(directory: Path, *, partitions: list[tuple[str, faiss.Index]],
                    arrays: dict[str, npt.NDArray[Any]], names: list[str], manifest: Manifest) -> Manifest:  # fmt: skip
    """Write a complete index directory at ``directory`` (which must not exist) or nothing at all; returns the
    manifest as written."""
    if directory.exists():
        raise ConfigurationError(f"{directory} already exists; save a new version with IndexStore instead")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.parent / f".{directory.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        index_sha = _write_partitions(tmp / INDEX_FILE, partitions)
        buffer = io.BytesIO()
        meta = {**arrays, "names": np.array(names, dtype=str), "part_factories": np.array([f for f, _ in partitions])}
        np.savez(buffer, **meta)  # type: ignore[arg-type]
        meta_sha = _write_file(tmp / META_FILE, buffer.getvalue())
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        manifest = dataclasses.replace(manifest, partitions=len(partitions), index_sha256=index_sha,
                                       meta_sha256=meta_sha, created_at=created,
                                       faiss_version=faiss.__version__)  # fmt: skip
        text = json.dumps(dataclasses.asdict(manifest), indent=2, sort_keys=True)
        _write_file(tmp / MANIFEST_FILE, text.encode())
        _fsync_dir(tmp)
        os.rename(tmp, directory)
        _fsync_dir(directory.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _read_manifest(directory: Path) -> Manifest:
    if not directory.is_dir():
        raise NotFoundError(f"no index directory at {directory}")
    try:
        data = json.loads((directory / MANIFEST_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise IndexIntegrityError(f"{directory / MANIFEST_FILE} is missing or not valid JSON: {exc}") from exc
    manifest = Manifest.from_json(data, directory / MANIFEST_FILE)
    for name, expected in ((INDEX_FILE, manifest.index_sha256), (META_FILE, manifest.meta_sha256)):
        path = directory / name
        if not path.is_file() or file_sha256(path) != expected:
            raise IndexIntegrityError(f"{path} is missing or does not match its sha256 in the manifest (corrupt)")
    return manifest


def _read_partitions(f: IO[bytes], count: int, path: Path) -> list[faiss.Index]:
    try:
        indexes = [faiss.read_index(faiss.PyCallbackIOReader(f.read)) for _ in range(count)]  # type: ignore[attr-defined]
    except RuntimeError as exc:
        raise IndexIntegrityError(f"{path} cannot be read by FAISS: {exc}") from exc
    if f.read(1):
        raise IndexIntegrityError(f"{path} has trailing bytes after {count} partitions")
    return indexes


def read_index_dir(directory: Path) -> IndexFiles:
    """Load and verify one index directory; any mismatch is an ``IndexIntegrityError`` naming the file."""
    manifest = _read_manifest(directory)
    try:
        with np.load(directory / META_FILE, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        names = [str(n) for n in arrays.pop("names")]
        factories = [str(f) for f in arrays.pop("part_factories")]
        ids, codes, part_codes = arrays["ids"], arrays["codes"], arrays["part_codes"]
    except (OSError, ValueError, KeyError) as exc:
        raise IndexIntegrityError(f"{directory / META_FILE} is not a valid index metadata file: {exc}") from exc
    with (directory / INDEX_FILE).open("rb") as f:
        indexes = _read_partitions(f, len(factories), directory / INDEX_FILE)
    problems = []
    if not (ids.size == codes.size == manifest.item_count == sum(int(i.ntotal) for i in indexes)):
        problems.append("item counts of manifest, metadata and partitions differ")
    if any(int(i.d) != manifest.dim for i in indexes):
        problems.append(f"a partition's dimension is not {manifest.dim}")
    if part_codes.size != len(indexes) or (codes.size and (codes.min() < 0 or codes.max() >= len(names))):
        problems.append("category codes do not match the partitions")
    if problems:
        raise IndexIntegrityError(f"{directory}: " + "; ".join(problems))
    return IndexFiles(manifest, arrays, names, list(zip(factories, indexes, strict=True)))


def index_path(indexes_dir: Path, name: str) -> Path:
    """The folder of index ``name``; a name that is not one plain folder name is refused (an empty one would put
    its versions beside the other indexes' folders, ``../x`` outside the data dir)."""
    return indexes_dir / check_name("index name", name)


class Saveable(Protocol):
    def save(self, directory: Path) -> None: ...


class IndexStore:
    """Numbered index versions under ``root`` and an atomically replaced ``CURRENT`` naming the live one."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def list_versions(self) -> list[str]:
        """Complete versions, oldest first (temp directories of interrupted saves are not versions)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and VERSION_RE.match(p.name))

    def current_version(self) -> str | None:
        try:
            name = (self.root / CURRENT_FILE).read_text().strip()
        except FileNotFoundError:
            return None
        if not VERSION_RE.match(name):
            raise IndexIntegrityError(f"{self.root / CURRENT_FILE} names {name!r}, not a version")
        return name

    def save_version(self, index: Saveable) -> tuple[str, Path]:
        """Write ``index`` as the next version, then make it current."""
        versions = self.list_versions()
        name = f"v{int(versions[-1][1:]) + 1 if versions else 1:06d}"
        path = self.root / name
        index.save(path)
        tmp = self.root / f".{CURRENT_FILE}.tmp-{uuid.uuid4().hex[:8]}"
        _write_file(tmp, f"{name}\n".encode())
        os.replace(tmp, self.root / CURRENT_FILE)
        _fsync_dir(self.root)
        return name, path

    def load_version(self, name: str) -> CatalogueIndex:
        """One version, verified (``IndexIntegrityError`` when corrupt, ``NotFoundError`` when absent)."""
        from recengine.index.catalogue_index import CatalogueIndex

        if not VERSION_RE.match(name):
            raise InvalidInputError(f"{name!r} is not a version name (v000001, ...)")
        return CatalogueIndex.load(self.root / name)

    def load_current(self) -> CatalogueIndex | None:
        """The current version, verified; ``None`` before the first ``save_version`` (a normal state of a new
        shop, unlike a corrupt or missing version directory, which raises)."""
        name = self.current_version()
        return None if name is None else self.load_version(name)

    def prune(self, keep: int = 3) -> list[str]:
        """Delete all but the newest ``keep`` versions (never the current one) and leftovers of crashed saves."""
        if keep < 1:
            raise InvalidInputError(f"keep must be >= 1, got {keep}")
        current, versions = self.current_version(), self.list_versions()
        doomed = [v for v in versions[:-keep] if v != current]
        for name in doomed:
            shutil.rmtree(self.root / name)
        for leftover in self.root.glob(".*.tmp-*"):
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        return doomed
