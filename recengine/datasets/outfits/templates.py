"""Outfit templates learned from real outfits: which slots a real outfit fills, and how often.

The catalogue simulated users shop from (Myntra) has no outfits, so the *shape* of each outfit they compose
(say ``top + bottom + shoes + bag``) is drawn from the shapes of real Polyvore outfits: ``category_map.csv``
says which article types fill each slot, :func:`load_polyvore_compositions` reduces real outfits to sorted
slot tuples and :class:`TemplateDistribution` samples them. The statistics below describe any composition
list, so built outfits can be reported side by side with the real ones.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recengine.errors import InvalidInputError

#: A real or simulated outfit reduced to its slot names, sorted; a repeated slot appears once per item.
Composition = tuple[str, ...]

#: recengine's slot names, in the order reports list them.
SLOTS: tuple[str, ...] = ("top", "bottom", "shoes", "bag", "accessory", "jewellery", "all-body", "outerwear",
                          "hat", "scarf", "sunglasses")  # fmt: skip

#: Polyvore semantic category -> recengine slot.
SLOT_OF_SEMANTIC: Mapping[str, str] = MappingProxyType({
    "tops": "top", "bottoms": "bottom", "shoes": "shoes", "bags": "bag", "accessories": "accessory",
    "jewellery": "jewellery", "all-body": "all-body", "outerwear": "outerwear", "hats": "hat",
    "scarves": "scarf", "sunglasses": "sunglasses",
})  # fmt: skip

#: Polyvore fine categories whose slot wins over their semantic category. The release files these items
#: under two semantic categories (``categories.csv`` lists id 57 "sunglasses" as both accessories and
#: sunglasses, id 61 "watch" as both accessories and jewellery), and 1,127 of the 1,140 sunglasses of the
#: validation split say "accessories": read literally, the sunglasses slot would almost never be drawn
#: while the accessory slot would be filled with belts and socks where the real outfit had sunglasses.
FINE_CATEGORY_SLOTS: Mapping[str, str] = MappingProxyType({
    "sunglasses": "sunglasses", "male sunglasses": "sunglasses", "watch": "accessory", "male watch": "accessory",
    "male scarves": "scarf",
})  # fmt: skip

#: Semantic categories that say nothing about the item's role; such items are dropped.
UNDEFINED_SEMANTIC = frozenset({"", "undefined"})
MAP_HEADER = ("semantic_category", "slot", "master_category", "sub_category", "article_type")
#: Co-occurrences reported by :func:`format_comparison`: (slot, given slot).
MAIN_PAIRS: tuple[tuple[str, str], ...] = (
    ("bottom", "top"), ("top", "bottom"), ("shoes", "top"), ("bag", "top"), ("accessory", "top"),
    ("jewellery", "top"), ("outerwear", "top"), ("shoes", "all-body"), ("bag", "all-body"),
)  # fmt: skip
#: Outfit sizes from this one on share one row in :func:`format_comparison`.
SIZE_CAP = 8
JSON_FORMAT = "recengine.outfit-templates/1"


@dataclass(frozen=True)
class CategoryMap:
    """Which catalogue article types fill which outfit slot.

    Attributes:
        slot_of: article type -> slot.
        article_types: slot -> its article types, sorted; slots without any are absent.
        triples: ``(master_category, sub_category, article_type)`` -> slot, for the exact catalogue rows the
            map accepts (Myntra files a few article types under several sub-categories, e.g. free gifts).
    """

    slot_of: Mapping[str, str]
    article_types: Mapping[str, tuple[str, ...]]
    triples: Mapping[tuple[str, str, str], str]

    def slot_for(self, master_category: str, sub_category: str, article_type: str) -> str | None:
        """The slot of a catalogue item with these labels, or None when the map does not use it."""
        return self.triples.get((master_category, sub_category, article_type))


def _read_csv(file: Path) -> list[list[str]]:
    """All rows of ``file``; unreadable or malformed files raise InvalidInputError naming the file."""
    try:
        with file.open(newline="", encoding="utf-8-sig") as fh:
            return list(csv.reader(fh, strict=True))  # an unclosed quote fails, instead of eating the later rows
    except OSError as exc:
        raise InvalidInputError(f"{file}: cannot read ({exc})") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInputError(f"{file}: not a readable UTF-8 CSV file ({exc})") from exc


def _check_map_row(where: str, cells: list[str]) -> tuple[str, str, str, str]:
    """``(slot, master, sub, article_type)`` of one map row after checking its names."""
    if len(cells) != len(MAP_HEADER) or not all(cells):
        raise InvalidInputError(f"{where}: expected {len(MAP_HEADER)} non-empty cells, found {cells!r}")
    semantic, slot, master, sub, article = cells
    if slot not in SLOTS:
        raise InvalidInputError(f"{where}: unknown slot {slot!r}; slots are {', '.join(SLOTS)}")
    if semantic not in SLOT_OF_SEMANTIC:
        raise InvalidInputError(f"{where}: unknown Polyvore semantic category {semantic!r}")
    if SLOT_OF_SEMANTIC[semantic] != slot:
        raise InvalidInputError(
            f"{where}: semantic category {semantic!r} is slot {SLOT_OF_SEMANTIC[semantic]!r}, not {slot!r}"
        )
    return slot, master, sub, article


def _build_map(name: str, rows: list[list[str]]) -> CategoryMap:
    """A :class:`CategoryMap` from the rows of a map file (header included)."""
    if not rows or [c.strip() for c in rows[0]] != list(MAP_HEADER):
        raise InvalidInputError(f"{name}: the header must be {','.join(MAP_HEADER)}")
    slot_of: dict[str, str] = {}
    triples: dict[tuple[str, str, str], str] = {}
    first_line: dict[str, int] = {}
    for line, raw in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in raw):
            continue
        slot, master, sub, article = _check_map_row(f"{name} line {line}", [c.strip() for c in raw])
        if (master, sub, article) in triples:
            raise InvalidInputError(f"{name} line {line}: {master}/{sub}/{article} is listed twice")
        if slot_of.get(article, slot) != slot:
            raise InvalidInputError(
                f"{name} line {line}: article type {article!r} is mapped to slot {slot!r} here and to "
                f"{slot_of[article]!r} on line {first_line[article]}"
            )
        triples[(master, sub, article)] = slot
        slot_of[article] = slot
        first_line.setdefault(article, line)
    if not triples:
        raise InvalidInputError(f"{name}: the map has no rows")
    by_slot = {s: tuple(sorted(a for a, t in slot_of.items() if t == s)) for s in SLOTS}
    return CategoryMap(
        slot_of=MappingProxyType(slot_of),
        article_types=MappingProxyType({s: a for s, a in by_slot.items() if a}),
        triples=MappingProxyType(triples),
    )


def load_category_map(path: Path | str | None = None) -> CategoryMap:
    """Read a slot map CSV (header ``semantic_category,slot,master_category,sub_category,article_type``).

    Args:
        path: the CSV file; None reads the ``category_map.csv`` shipped with recengine.

    Returns:
        The map, after checking every row.

    Raises:
        InvalidInputError: unreadable file, wrong header, a short row, an unknown slot or semantic category,
            a semantic category paired with the wrong slot, a row listed twice, or an article type mapped to
            two slots.
    """
    if path is not None:
        return _build_map(str(path), _read_csv(Path(path)))
    resource = resources.files(__package__) / "category_map.csv"
    with resources.as_file(resource) as file:
        return _build_map(str(file), _read_csv(file))


def _columns(file: Path, header: list[str]) -> tuple[int, int, int | None]:
    """Indexes of ``set_id``, ``semantic_category`` and (None when absent) ``fine_category``."""
    cleaned = [h.strip() for h in header]
    for name in ("set_id", "semantic_category"):
        if name not in cleaned:
            raise InvalidInputError(f"{file}: no {name!r} column (found {', '.join(cleaned)})")
    fine = cleaned.index("fine_category") if "fine_category" in cleaned else None
    return cleaned.index("set_id"), cleaned.index("semantic_category"), fine


def _item_slots(file: Path, rows: list[list[str]], overrides: Mapping[str, str]) -> dict[str, list[str]]:
    """set id -> slots of its categorised items, in order of first appearance of the set."""
    set_col, sem_col, fine_col = _columns(file, rows[0])
    outfits: dict[str, list[str]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) <= max(set_col, sem_col, fine_col or 0) or not row[set_col].strip():
            raise InvalidInputError(f"{file} line {line}: short row or empty set_id: {row!r:.100}")
        fine = row[fine_col].strip() if fine_col is not None else ""
        semantic = row[sem_col].strip().lower()
        slot = overrides.get(fine) or SLOT_OF_SEMANTIC.get(semantic)
        if slot is None and semantic not in UNDEFINED_SEMANTIC:
            raise InvalidInputError(f"{file} line {line}: unknown semantic category {semantic!r}")
        if slot is not None:
            outfits.setdefault(row[set_col].strip(), []).append(slot)
    return outfits


def load_polyvore_compositions(
    folder: Path | str, fine_overrides: Mapping[str, str] = FINE_CATEGORY_SLOTS
) -> list[Composition]:
    """The composition of every real outfit in ``folder/outfit_items.csv``, in order of first appearance.

    Items whose semantic category is empty or "undefined" are dropped, and so are outfits left without
    items; a slot filled twice (two bracelets) appears twice.

    Args:
        folder: a Polyvore outfits folder holding ``outfit_items.csv`` (columns ``set_id`` and
            ``semantic_category``; ``fine_category`` is used when present).
        fine_overrides: fine category -> slot, winning over the semantic category (see
            :data:`FINE_CATEGORY_SLOTS`); pass ``{}`` to map by semantic category alone.

    Raises:
        InvalidInputError: missing or malformed file, missing column, empty set id, or an unknown semantic
            category or override slot.
    """
    file = Path(folder) / "outfit_items.csv"
    bad = sorted(set(fine_overrides.values()) - set(SLOTS))
    if bad:
        raise InvalidInputError(f"fine_overrides: unknown slots {bad}; slots are {', '.join(SLOTS)}")
    rows = _read_csv(file)
    if not rows:
        raise InvalidInputError(f"{file}: the file is empty")
    return [tuple(sorted(slots)) for slots in _item_slots(file, rows, fine_overrides).values()]


def usable_for_recommendation(composition: Sequence[str]) -> bool:
    """Whether an outfit has a top and a bottom, or an all-body piece: the outfits recengine recommends."""
    return ("top" in composition and "bottom" in composition) or "all-body" in composition


@dataclass(frozen=True)
class TemplateDistribution:
    """Empirical distribution over outfit compositions.

    Attributes:
        compositions: distinct sorted compositions, most frequent first (ties in lexicographic order), so the
            distribution and its samples do not depend on the order outfits were read in.
        counts: how many real outfits had each composition.
    """

    compositions: tuple[Composition, ...]
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.compositions or len(self.compositions) != len(self.counts):
            raise InvalidInputError("template distribution: needs one count per composition, and at least one")
        if len(set(self.compositions)) != len(self.compositions):
            raise InvalidInputError("template distribution: a composition is listed twice")
        for comp, count in zip(self.compositions, self.counts, strict=True):
            if not comp or list(comp) != sorted(comp) or not set(comp) <= set(SLOTS):
                raise InvalidInputError(f"template distribution: {comp!r} is not a sorted tuple of known slots")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise InvalidInputError(f"template distribution: count {count!r} of {comp!r} is not positive")

    @property
    def total(self) -> int:
        """Number of outfits the distribution was counted from."""
        return sum(self.counts)

    @property
    def probabilities(self) -> tuple[float, ...]:
        """Probability of each composition, in the order of :attr:`compositions`."""
        return tuple(c / self.total for c in self.counts)

    @classmethod
    def from_compositions(cls, compositions: Iterable[Sequence[str]], min_count: int = 1) -> TemplateDistribution:
        """Count the compositions usable for recommendation, keeping those seen at least ``min_count`` times.

        Raises:
            InvalidInputError: ``min_count`` below 1, or no composition left.
        """
        if min_count < 1:
            raise InvalidInputError(f"min_count must be at least 1, got {min_count}")
        counter = Counter(tuple(sorted(c)) for c in compositions if usable_for_recommendation(c))
        kept = sorted(((n, c) for c, n in counter.items() if n >= min_count), key=lambda nc: (-nc[0], nc[1]))
        if not kept:
            raise InvalidInputError(f"no top+bottom or all-body outfit is seen {min_count} time(s) or more")
        return cls(tuple(c for _, c in kept), tuple(n for n, _ in kept))

    def sample(self, rng: np.random.Generator, n: int) -> list[Composition]:
        """``n`` compositions drawn with replacement; the same generator state gives the same list."""
        if n < 0:
            raise InvalidInputError(f"cannot sample {n} compositions")
        picks = rng.choice(len(self.compositions), size=n, p=np.asarray(self.probabilities))
        return [self.compositions[int(i)] for i in picks]

    def to_json(self) -> str:
        """The exact distribution as JSON text (probabilities are included for readers, not read back)."""
        templates = [
            {"slots": list(c), "count": n, "probability": round(p, 8)}
            for c, n, p in zip(self.compositions, self.counts, self.probabilities, strict=True)
        ]
        return json.dumps({"format": JSON_FORMAT, "total": self.total, "templates": templates}, indent=1)

    @classmethod
    def from_json(cls, text: str, source: str = "template distribution JSON") -> TemplateDistribution:
        """Read back :meth:`to_json`; ``source`` names the file in error messages."""
        try:
            doc: Any = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InvalidInputError(f"{source}: not valid JSON ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != JSON_FORMAT or not isinstance(doc.get("templates"), list):
            raise InvalidInputError(f"{source}: expected an object with format {JSON_FORMAT!r} and a templates list")
        comps: list[Composition] = []
        counts: list[int] = []
        for n, entry in enumerate(doc["templates"]):
            slots = entry.get("slots") if isinstance(entry, dict) else None
            if not isinstance(slots, list) or not all(isinstance(s, str) for s in slots):
                raise InvalidInputError(f"{source}: templates[{n}] has no list of slot names")
            comps.append(tuple(slots))
            counts.append(entry.get("count"))
        try:
            return cls(tuple(comps), tuple(counts))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{source}: {exc}") from exc


def _presence(compositions: Sequence[Sequence[str]], slots: Sequence[str]) -> tuple[NDArray[np.bool_], ...]:
    """(outfits, slots) masks: the outfit has the slot; the outfit has it twice or more."""
    index = {s: i for i, s in enumerate(slots)}
    present = np.zeros((len(compositions), len(slots)), dtype=bool)
    repeated = np.zeros_like(present)
    for row, comp in enumerate(compositions):
        for slot, k in Counter(comp).items():
            if slot in index:
                present[row, index[slot]] = True
                repeated[row, index[slot]] = k >= 2
    return present, repeated


def cooccurrence(compositions: Sequence[Sequence[str]], slots: Sequence[str] = SLOTS) -> NDArray[np.float64]:
    """``M[i, j]`` = P(slot j in the outfit | slot i in the outfit), over outfits.

    The diagonal holds instead the fraction of outfits with slot i that have it twice or more (two
    bracelets), which says more than a constant 1. Rows of slots that no outfit has are NaN.

    Raises:
        InvalidInputError: a slot named twice in ``slots``.
    """
    if len(set(slots)) != len(slots):
        raise InvalidInputError(f"cooccurrence: slots must be distinct, got {list(slots)}")
    present, repeated = _presence(compositions, slots)
    having = present.sum(axis=0).astype(np.float64)
    joint = present.T.astype(np.float64) @ present.astype(np.float64)
    np.fill_diagonal(joint, repeated.sum(axis=0))
    out = np.full(joint.shape, np.nan)
    np.divide(joint, having[:, None], out=out, where=having[:, None] > 0)
    return out


def slot_frequencies(compositions: Sequence[Sequence[str]], slots: Sequence[str] = SLOTS) -> dict[str, float]:
    """Fraction of outfits holding each slot: ``slots`` first, then any other slot seen, sorted; 0.0 each
    when there are no outfits."""
    seen = Counter(s for comp in compositions for s in set(comp))
    names = list(dict.fromkeys(slots)) + sorted(set(seen) - set(slots))
    return {s: seen[s] / len(compositions) if compositions else 0.0 for s in names}


def size_histogram(compositions: Sequence[Sequence[str]], cap: int | None = None) -> dict[int, float]:
    """Fraction of outfits with each number of items, by increasing size (sizes from ``cap`` on, when given,
    count as ``cap``); empty for no outfits."""
    sizes = Counter(len(c) if cap is None else min(len(c), cap) for c in compositions)
    return {k: sizes[k] / len(compositions) for k in sorted(sizes)}


def mean_size(compositions: Sequence[Sequence[str]]) -> float:
    """Mean number of items per outfit; NaN for no outfits."""
    return sum(len(c) for c in compositions) / len(compositions) if compositions else math.nan


def _fmt(value: float, signed: bool = False) -> str:
    if math.isnan(value):
        return "n/a"
    value = round(value, 3) + 0.0  # adding 0.0 turns -0.0 into 0.0, so no "-0.000" cell
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def format_comparison(
    real: Sequence[Sequence[str]], built: Sequence[Sequence[str]], slots: Sequence[str] = SLOTS
) -> str:
    """A Markdown table comparing two composition lists: outfit counts, mean size, slot frequencies, the
    :data:`MAIN_PAIRS` co-occurrences among ``slots``, and the size distribution."""
    stats: list[tuple[str, float, float]] = [("mean outfit size", mean_size(real), mean_size(built))]
    real_freq, built_freq = slot_frequencies(real, slots), slot_frequencies(built, slots)
    stats += [(f"P({s})", real_freq[s], built_freq[s]) for s in slots]
    real_co, built_co = cooccurrence(real, slots), cooccurrence(built, slots)
    index = {s: i for i, s in enumerate(slots)}
    for slot, given in MAIN_PAIRS:
        if slot in index and given in index:
            i, j = index[given], index[slot]
            stats.append((f"P({slot} \\| {given})", float(real_co[i, j]), float(built_co[i, j])))
    real_sizes, built_sizes = size_histogram(real, SIZE_CAP), size_histogram(built, SIZE_CAP)
    for size in sorted(set(real_sizes) | set(built_sizes)):
        label = f"P(size ≥ {size})" if size == SIZE_CAP else f"P(size = {size})"
        stats.append((label, real_sizes.get(size, 0.0), built_sizes.get(size, 0.0)))
    lines = [
        "| statistic | real | built | built - real |",
        "|---|---:|---:|---:|",
        f"| outfits | {len(real)} | {len(built)} | |",
    ]
    lines += [f"| {name} | {_fmt(r)} | {_fmt(b)} | {_fmt(b - r, signed=True)} |" for name, r, b in stats]
    return "\n".join(lines) + "\n"
