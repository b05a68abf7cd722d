"""Outfit templates: the slot map, real Polyvore compositions, their distribution and statistics."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from recengine.datasets.importers.fashion_mnist import CLASSES as FASHION_MNIST_CLASSES
from recengine.datasets.outfits.templates import (
    MAP_HEADER,
    SLOTS,
    CategoryMap,
    TemplateDistribution,
    cooccurrence,
    format_comparison,
    load_category_map,
    load_polyvore_compositions,
    mean_size,
    size_histogram,
    slot_frequencies,
    usable_for_recommendation,
)
from recengine.errors import InvalidInputError
from tests.conftest import MYNTRA, POLYVORE, require

#: Small hand-made compositions whose statistics are worked out by hand below.
HAND_MADE = [
    ("bottom", "shoes", "top"),
    ("accessory", "accessory", "bottom", "top"),
    ("all-body", "shoes"),
    ("bag", "top"),
]


@pytest.fixture(scope="module")
def real() -> list[tuple[str, ...]]:
    return load_polyvore_compositions(require(POLYVORE))


def _semantic_by_outfit() -> dict[str, set[str]]:
    """Set id -> its non-empty semantic categories, read straight from the CSV."""
    out: dict[str, set[str]] = defaultdict(set)
    with (POLYVORE / "outfit_items.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            semantic = row["semantic_category"].strip()
            if semantic and semantic != "undefined":
                out[row["set_id"]].add(semantic)
    return out


def test_one_composition_per_categorised_outfit(real: list[tuple[str, ...]]) -> None:
    expected = _semantic_by_outfit()
    assert len(real) == len(expected) == 4992
    assert all(c and list(c) == sorted(c) and set(c) <= set(SLOTS) for c in real)


def test_top_bottom_and_all_body_fractions(real: list[tuple[str, ...]]) -> None:
    outfits = _semantic_by_outfit().values()
    top_bottom = sum({"tops", "bottoms"} <= s for s in outfits) / len(outfits)
    all_body = sum("all-body" in s for s in outfits) / len(outfits)
    assert sum("top" in c and "bottom" in c for c in real) / len(real) == pytest.approx(top_bottom)
    assert sum("all-body" in c for c in real) / len(real) == pytest.approx(all_body)
    assert 0.3 < top_bottom < 0.4


def test_repeated_slots_are_kept(real: list[tuple[str, ...]]) -> None:
    assert any(c.count("jewellery") >= 2 for c in real)
    # sunglasses filed under "accessories" in the release move to their own slot by default, not otherwise
    literal = load_polyvore_compositions(POLYVORE, fine_overrides={})
    assert slot_frequencies(real)["sunglasses"] > 0.2 > 0.01 > slot_frequencies(literal)["sunglasses"]


def test_shipped_map_covers_every_slot_with_real_article_types() -> None:
    mapping = load_category_map()
    assert set(mapping.article_types) == set(SLOTS)
    assert mapping.slot_of["Tshirts"] == "top" and mapping.slot_of["Dresses"] == "all-body"
    assert mapping.slot_for("Free Items", "Free Gifts", "Backpacks") is None
    assert mapping.slot_for("Accessories", "Bags", "Backpacks") == "bag"
    metadata = MYNTRA / "metadata.csv"
    if not metadata.exists():
        pytest.skip(f"{metadata} is not on this machine")
    with metadata.open(newline="", encoding="utf-8-sig") as fh:
        triples = {(r["masterCategory"], r["subCategory"], r["articleType"]) for r in csv.DictReader(fh)}
    # The other source of real triples: Fashion-MNIST's classes, as its importer labels them (the fallback).
    triples |= {(master, sub, article) for article, master, sub in FASHION_MNIST_CLASSES}
    assert set(mapping.triples) <= triples, set(mapping.triples) - triples
    assert {a for a, _, _ in FASHION_MNIST_CLASSES} <= set(mapping.slot_of)  # every class fills a slot


def _write_map(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "map.csv"
    path.write_text("\n".join([",".join(MAP_HEADER), *rows]) + "\n")
    return path


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        (["tops,shirt,Apparel,Topwear,Tshirts"], "unknown slot 'shirt'"),
        (
            ["tops,top,Apparel,Topwear,Tshirts", "bottoms,bottom,Apparel,Bottomwear,Tshirts"],
            "mapped to slot .bottom. here and to .top. on line 2",
        ),
        (["tops,top,Apparel,Topwear,Tshirts", "tops,top,Apparel,Topwear,Tshirts"], "listed twice"),
        (["bottoms,top,Apparel,Topwear,Tshirts"], "is slot 'bottom'"),
        (["tops,top,Apparel,Topwear"], "non-empty cells"),
        ([], "no rows"),
        (['tops,top,Apparel,Topwear,"Tshirts', "bottoms,bottom,Apparel,Bottomwear,Jeans"], "unexpected end of data"),
    ],
)
def test_malformed_map_raises(tmp_path: Path, rows: list[str], problem: str) -> None:
    path = _write_map(tmp_path, *rows)
    with pytest.raises(InvalidInputError, match=problem) as info:
        load_category_map(path)
    assert str(path) in str(info.value)


def test_map_header_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("slot,article_type\ntop,Tshirts\n")
    with pytest.raises(InvalidInputError, match="header"):
        load_category_map(bad)
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_category_map(tmp_path / "absent.csv")


def test_custom_map_allows_one_article_type_under_two_sub_categories(tmp_path: Path) -> None:
    mapping = load_category_map(
        _write_map(
            tmp_path, "bags,bag,Accessories,Bags,Messenger Bag", "bags,bag,Accessories,Accessories,Messenger Bag"
        )
    )
    assert isinstance(mapping, CategoryMap)
    assert mapping.article_types == {"bag": ("Messenger Bag",)}
    assert len(mapping.triples) == 2


def test_distribution_samples_are_deterministic_and_converge(real: list[tuple[str, ...]]) -> None:
    dist = TemplateDistribution.from_compositions(real)
    usable = [c for c in real if usable_for_recommendation(c)]
    assert dist.total == len(usable) and sum(dist.probabilities) == pytest.approx(1.0)
    first = dist.sample(np.random.default_rng(7), 20_000)
    assert first == dist.sample(np.random.default_rng(7), 20_000)
    assert first != dist.sample(np.random.default_rng(8), 20_000)
    expected, seen = slot_frequencies(usable), slot_frequencies(first)
    for slot in SLOTS:
        assert seen[slot] == pytest.approx(expected[slot], abs=0.01), slot
    assert all(usable_for_recommendation(c) for c in first)


def test_distribution_json_round_trip_and_min_count(real: list[tuple[str, ...]]) -> None:
    dist = TemplateDistribution.from_compositions(real, min_count=5)
    assert min(dist.counts) >= 5
    assert list(dist.counts) == sorted(dist.counts, reverse=True)
    again = TemplateDistribution.from_json(dist.to_json())
    assert again == dist
    assert again.sample(np.random.default_rng(1), 50) == dist.sample(np.random.default_rng(1), 50)
    with pytest.raises(InvalidInputError, match=r"templates\.json"):
        TemplateDistribution.from_json('{"format": "other"}', source="templates.json")
    with pytest.raises(InvalidInputError, match="not positive"):
        TemplateDistribution.from_json(dist.to_json().replace('"count": ', '"count": -', 1))
    with pytest.raises(InvalidInputError, match="seen 100000"):
        TemplateDistribution.from_compositions(real, min_count=100_000)


def test_cooccurrence_of_hand_made_compositions() -> None:
    slots = ("top", "bottom", "shoes", "accessory", "all-body", "hat")
    m = cooccurrence(HAND_MADE, slots)
    nan = math.nan
    expected = np.array(
        [
            # top is in outfits 0, 1, 3: bottom in 2 of them, shoes in 1, accessory in 1; never twice
            [0.0, 2 / 3, 1 / 3, 1 / 3, 0.0, 0.0],
            [1.0, 0.0, 1 / 2, 1 / 2, 0.0, 0.0],
            [1 / 2, 1 / 2, 0.0, 0.0, 1 / 2, 0.0],
            # the one outfit with an accessory has two of them: diagonal 1
            [1.0, 1.0, 0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
            [nan, nan, nan, nan, nan, nan],
        ]
    )
    np.testing.assert_allclose(m, expected, equal_nan=True)


def test_frequencies_and_sizes_of_hand_made_compositions() -> None:
    freq = slot_frequencies(HAND_MADE)
    assert list(freq)[: len(SLOTS)] == list(SLOTS)
    assert freq["top"] == 3 / 4 and freq["accessory"] == 1 / 4 and freq["hat"] == 0.0
    assert size_histogram(HAND_MADE) == {2: 0.5, 3: 0.25, 4: 0.25}
    assert size_histogram(HAND_MADE, cap=3) == {2: 0.5, 3: 0.5}
    assert mean_size(HAND_MADE) == 11 / 4
    assert math.isnan(mean_size([])) and size_histogram([]) == {}
    assert slot_frequencies([("top", "cape")])["cape"] == 1.0


def test_format_comparison_is_a_markdown_table() -> None:
    text = format_comparison(HAND_MADE, HAND_MADE[:2])
    lines = text.splitlines()
    assert lines[0].startswith("| statistic | real | built |")
    assert "| outfits | 4 | 2 | |" in lines
    assert "| P(top) | 0.750 | 1.000 | +0.250 |" in lines
    assert "| P(bottom \\| top) | 0.667 | 1.000 | +0.333 |" in lines
    assert "| P(shoes \\| all-body) | 1.000 | n/a | n/a |" in lines
    assert "| mean outfit size | 2.750 | 3.500 | +0.750 |" in lines
    assert all(line.count("|") - line.count("\\|") == 5 for line in lines)
