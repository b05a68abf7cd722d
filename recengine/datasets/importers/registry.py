"""The importer registry: format names, layout detection and the default catalogue of the main job."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from recengine.config import DEBIAN_FASHION_MNIST, SHARED_MYNTRA, Settings
from recengine.datasets.importers.csv_generic import import_csv
from recengine.datasets.importers.fashion_mnist import import_fashion_mnist
from recengine.datasets.importers.maryland import import_maryland_polyvore
from recengine.datasets.importers.myntra import import_myntra
from recengine.datasets.importers.polyvore import import_polyvore_outfits
from recengine.datasets.importers.records import ImportReport
from recengine.errors import ConfigurationError

#: format name -> importer(path, *, session, progress, limit, ...)
IMPORTERS: dict[str, Callable[..., ImportReport]] = {
    "myntra": import_myntra,
    "fashion-mnist": import_fashion_mnist,
    "polyvore-outfits": import_polyvore_outfits,
    "maryland-polyvore": import_maryland_polyvore,
    "csv": import_csv,
}


def detect_format(path: Path) -> str:
    """Guess the importer for ``path`` from the files it holds."""
    if path.is_file() and path.suffix == ".csv":
        return "csv"
    names = {p.name for p in path.iterdir()} if path.is_dir() else set()
    if names & {"styles.csv", "metadata.csv"}:
        return "myntra"
    if any(n.startswith("train-images-idx3-ubyte") for n in names):
        return "fashion-mnist"
    if any(n.endswith("_no_dup.json") for n in names):
        return "maryland-polyvore"
    if "categories.csv" in names:
        return "polyvore-outfits"
    raise ConfigurationError(f"{path}: not a catalogue layout recengine knows ({', '.join(IMPORTERS)})")


def default_catalogue(settings: Settings) -> tuple[str, Path]:
    """The catalogue the main job imports: the setting, else shared Myntra, else Debian's Fashion-MNIST."""
    if settings.catalogue_path is not None:
        if not settings.catalogue_path.exists():
            raise ConfigurationError(f"RECENGINE_CATALOGUE_PATH={settings.catalogue_path} does not exist")
        return detect_format(settings.catalogue_path), settings.catalogue_path
    if SHARED_MYNTRA.exists():
        return "myntra", SHARED_MYNTRA
    if DEBIAN_FASHION_MNIST.exists():
        return "fashion-mnist", DEBIAN_FASHION_MNIST
    raise ConfigurationError(
        "no catalogue found: set RECENGINE_CATALOGUE_PATH to a Myntra/Kaggle 'Fashion Product Images' folder "
        f"or a CSV, or provide {SHARED_MYNTRA}, or install Debian's dataset-fashion-mnist ({DEBIAN_FASHION_MNIST})"
    )


def run_import(fmt: str, path: Path, **kwargs: Any) -> ImportReport:
    try:
        importer = IMPORTERS[fmt]
    except KeyError:
        raise ConfigurationError(f"unknown import format {fmt!r}; known: {', '.join(IMPORTERS)}") from None
    return importer(path, **kwargs)
