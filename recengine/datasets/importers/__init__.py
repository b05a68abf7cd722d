"""Catalogue and outfit importers, one per dataset layout; all idempotent and reporting what they did."""

from recengine.datasets.importers.records import ImportReport, ItemRecord, OutfitRecord, ProgressCallback, Skip, Tally
from recengine.datasets.importers.registry import IMPORTERS, default_catalogue, detect_format, run_import

__all__ = [
    "IMPORTERS", "ImportReport", "ItemRecord", "OutfitRecord", "ProgressCallback", "Skip", "Tally",
    "default_catalogue", "detect_format", "run_import",
]  # fmt: skip
