"""The data importers produce: item and outfit records, and the report of what an import did."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class ProgressCallback(Protocol):
    def __call__(self, done: int, total: int | None) -> None: ...


@dataclass(slots=True)
class ItemRecord:
    """One catalogue row as parsed from a source; ``load_image`` reads the image bytes lazily."""

    external_id: str
    source: str
    ref: str
    name: str | None = None
    gender: str | None = None
    master_category: str | None = None
    sub_category: str | None = None
    article_type: str | None = None
    colour: str | None = None
    season: str | None = None
    usage: str | None = None
    year: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    image_source: str | None = None
    load_image: Callable[[], bytes] | None = None
    #: Fields the source does not carry (a CSV without that column): an update leaves them as stored, a new
    #: item gets them empty. A field the source carries but leaves empty is cleared.
    keep: frozenset[str] = frozenset()


@dataclass(slots=True)
class OutfitRecord:
    external_id: str
    source: str
    ref: str
    item_external_ids: list[str]
    owner_user_id: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Tally:
    added: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.added + self.updated + self.unchanged


@dataclass(slots=True)
class Skip:
    ref: str
    reason: str


@dataclass
class ImportReport:
    """What an import did: counts per entity and every skipped row with its reason."""

    source: str
    items: Tally = field(default_factory=Tally)
    outfits: Tally = field(default_factory=Tally)
    skipped: list[Skip] = field(default_factory=list)

    def skip(self, ref: str, reason: str) -> None:
        self.skipped.append(Skip(ref, reason))

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "items": {"added": self.items.added, "updated": self.items.updated, "unchanged": self.items.unchanged},
            "outfits": {
                "added": self.outfits.added, "updated": self.outfits.updated, "unchanged": self.outfits.unchanged,
            },
            "skipped": [{"ref": s.ref, "reason": s.reason} for s in self.skipped],
        }  # fmt: skip
