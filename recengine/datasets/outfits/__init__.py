"""Simulated outfits composed from a real catalogue, following the composition of real outfits.

The stylist rules (:mod:`~recengine.datasets.outfits.rules`) and the simulated users
(:mod:`~recengine.datasets.outfits.users`) are documented stand-ins; see ``docs/data.md``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from recengine.datasets.outfits.build import BuildSummary, build_stylist_outfits
from recengine.datasets.outfits.composer import SLOT_ORDER, CatalogueArrays, Composer, load_catalogue
from recengine.datasets.outfits.simulate import simulate_users
from recengine.datasets.outfits.templates import (
    CategoryMap,
    TemplateDistribution,
    load_category_map,
    load_polyvore_compositions,
)
from recengine.datasets.outfits.users import SimulationParams


def load_templates(polyvore: Path | None = None) -> TemplateDistribution:
    """Outfit templates from a Polyvore Outfits folder, or the ones shipped with recengine.

    The shipped ``polyvore_templates.json`` holds the composition counts of the 3,076 usable outfits of the
    real Polyvore Outfits validation split (Vasileva et al. 2018), derived with this same function.
    """
    if polyvore is not None:
        return TemplateDistribution.from_compositions(load_polyvore_compositions(polyvore))
    shipped = resources.files("recengine.datasets.outfits") / "polyvore_templates.json"
    return TemplateDistribution.from_json(shipped.read_text(), source=str(shipped))


__all__ = [
    "SLOT_ORDER", "BuildSummary", "CatalogueArrays", "CategoryMap", "Composer", "SimulationParams",
    "TemplateDistribution", "build_stylist_outfits", "load_catalogue", "load_category_map", "load_templates",
    "simulate_users",
]  # fmt: skip
