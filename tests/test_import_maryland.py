"""The Maryland Polyvore importer on a small dataset made in the release's layout."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recengine.datasets.importers.maryland import import_maryland_polyvore
from recengine.errors import InvalidInputError
from recengine.store.models import Image, Item, Outfit, OutfitItem

pytestmark = pytest.mark.db

CATEGORIES = "11 Tops\n27 Jeans\n41 Shoes\n\n4466 Men's Watches & Jewelry\n"


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (20, 24), colour).save(buf, format="JPEG")
    return buf.getvalue()


def _item(index: int, categoryid: int, price: float = 24.0, likes: int = 10) -> dict[str, Any]:
    return {
        "index": index, "name": f"thing {index}", "price": price, "likes": likes, "categoryid": categoryid,
        "image": f"http://img1.polyvoreimg.com/cgi/img-thing?.out=jpg&size=m&tid={index}",
    }  # fmt: skip


def _outfit(set_id: str, items: list[dict[str, Any]], likes: int = 7) -> dict[str, Any]:
    return {
        "name": f"look {set_id}", "views": 120, "items": items, "image": "http://example.invalid/set.jpg",
        "likes": likes, "date": "One month", "set_url": f"http://www.polyvore.com/x/set?id={set_id}",
        "set_id": set_id, "desc": "a test outfit",
    }  # fmt: skip


OUTFITS = [
    # Items listed out of index order; index 3 was dropped by the release (indices may skip numbers).
    _outfit("1001", [_item(4, 41), _item(1, 11, price=9.5), _item(2, 27)]),
    # Only one item survives: 2 has no photo, 3 is garbage bytes.
    _outfit("1002", [_item(1, 11), _item(2, 27), _item(3, 41)]),
    # 3 has no photo: the outfit keeps its two other items.
    _outfit("1003", [_item(1, 11), _item(2, 27), _item(3, 41)]),
    # 999 is not in category_id.txt.
    _outfit("1004", [_item(1, 4466), _item(2, 999)]),
    _outfit("1001", [_item(1, 11), _item(2, 11)]),
]
MISSING = {("1002", 2), ("1003", 3)}
CORRUPT = {("1002", 3)}


def _dataset(root: Path, outfits: list[dict[str, Any]] = OUTFITS, categories: str | None = CATEGORIES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train_no_dup.json").write_text(json.dumps(outfits, indent=4))
    if categories is not None:
        (root / "category_id.txt").write_text(categories)
    for n, outfit in enumerate(outfits):
        if not isinstance(outfit, dict):
            continue
        folder = root / "images" / outfit["set_id"]
        folder.mkdir(parents=True, exist_ok=True)
        for k, item in enumerate(outfit["items"]):
            key = (outfit["set_id"], item["index"])
            if key in MISSING or (folder / f"{item['index']}.jpg").exists():
                continue
            data = b"\x00garbage\xff" * 20 if key in CORRUPT else _jpeg((30 * n, 10 * k, 90))
            (folder / f"{item['index']}.jpg").write_bytes(data)
    return root


def _slots(session: Session, external_id: str) -> list[str]:
    outfit = session.scalars(select(Outfit).where(Outfit.external_id == external_id)).one()
    return [session.get(Item, s.item_id).external_id for s in outfit.slots]  # type: ignore[union-attr]


def _counts(session: Session) -> tuple[int, int, int]:
    items = session.scalar(select(func.count()).select_from(Item).where(Item.source == "maryland-polyvore"))
    outfits = session.scalar(select(func.count()).select_from(Outfit).where(Outfit.source == "maryland-polyvore"))
    slots = session.scalar(select(func.count()).select_from(OutfitItem))
    return items or 0, outfits or 0, slots or 0


EXPECTED_SKIPS = [
    ("train_no_dup.json[4]", "duplicate set_id '1001' (first seen at train_no_dup.json[0])"),
    ("train_no_dup.json[1].items[1]", "missing image images/1002/2.jpg"),
    ("train_no_dup.json[1].items[2]", "image images/1002/3.jpg: not a readable image"),
    ("train_no_dup.json[2].items[2]", "missing image images/1003/3.jpg"),
    ("train_no_dup.json[1]", "outfit '1002': only 1 of 3 items imported"),
]


def _skips(report: Any) -> list[tuple[str, str]]:
    # The decoder's own words after "not a readable image" vary with the PIL version.
    cut = "not a readable image"
    return [(s.ref, s.reason[: s.reason.find(cut) + len(cut)] if cut in s.reason else s.reason) for s in report.skipped]


def test_counts_reasons_and_fields(session: Session, tmp_path: Path) -> None:
    root = _dataset(tmp_path / "maryland")
    report = import_maryland_polyvore(root, session=session)

    assert _skips(report) == EXPECTED_SKIPS
    assert (report.items.added, report.items.updated, report.items.unchanged) == (8, 0, 0)
    assert (report.outfits.added, report.outfits.updated, report.outfits.unchanged) == (3, 0, 0)
    assert _counts(session) == (8, 3, 7)
    assert session.scalar(select(func.count()).select_from(Image)) == 8

    assert _slots(session, "maryland:1001") == ["maryland:1001_1", "maryland:1001_2", "maryland:1001_4"]
    assert _slots(session, "maryland:1003") == ["maryland:1003_1", "maryland:1003_2"]
    top = session.scalars(select(Item).where(Item.external_id == "maryland:1001_1")).one()
    assert (top.source, top.name, top.article_type) == ("maryland-polyvore", "thing 1", "Tops")
    assert top.attributes == {"price": 9.5, "likes": 10, "categoryid": 11}
    assert top.image_source == "images/1001/1.jpg"
    assert (top.image.width, top.image.height) == (20, 24)  # type: ignore[union-attr]
    query = select(Item.external_id, Item.article_type).where(Item.external_id.like("%1004%"))
    types = dict(session.execute(query).all())
    assert types == {"maryland:1004_1": "Men's Watches & Jewelry", "maryland:1004_2": "999"}
    outfit = session.scalars(select(Outfit).where(Outfit.external_id == "maryland:1001")).one()
    assert outfit.attributes == {"name": "look 1001", "likes": 7, "views": 120}


def test_reimport_is_idempotent_and_tracks_changes(session: Session, tmp_path: Path) -> None:
    root = _dataset(tmp_path / "maryland")
    import_maryland_polyvore(root, session=session)

    again = import_maryland_polyvore(root, session=session)
    assert _skips(again) == EXPECTED_SKIPS
    assert (again.items.added, again.items.updated, again.items.unchanged) == (0, 0, 8)
    assert (again.outfits.added, again.outfits.updated, again.outfits.unchanged) == (0, 0, 3)
    assert _counts(session) == (8, 3, 7)

    changed = json.loads(json.dumps(OUTFITS))
    changed[0]["likes"] = 8
    changed[3]["items"][0]["price"] = 30.0
    (root / "train_no_dup.json").write_text(json.dumps(changed))
    # A photo that disappears drops its item from the outfit (two remain), not the outfit.
    (root / "images" / "1001" / "4.jpg").unlink()
    third = import_maryland_polyvore(root, session=session)
    assert (third.items.added, third.items.updated, third.items.unchanged) == (0, 1, 6)
    assert (third.outfits.added, third.outfits.updated, third.outfits.unchanged) == (0, 1, 2)
    assert _slots(session, "maryland:1001") == ["maryland:1001_1", "maryland:1001_2"]
    assert session.scalars(select(Outfit).where(Outfit.external_id == "maryland:1001")).one().attributes["likes"] == 8


def test_without_category_names(session: Session, tmp_path: Path) -> None:
    root = _dataset(tmp_path / "maryland", OUTFITS[:1], categories=None)
    report = import_maryland_polyvore(root, session=session)
    assert report.skipped == []
    types = session.scalars(select(Item.article_type).order_by(Item.external_id)).all()
    assert types == ["11", "27", "41"]


def test_limit_split_and_bad_items(session: Session, tmp_path: Path) -> None:
    outfits = [
        _outfit("2001", [_item(1, 11), _item(1, 27), {"index": "x"}, {**_item(3, 41), "price": "cheap"}, _item(4, 41)]),
        "not an outfit",
        _outfit("2002", []),
        {**_outfit("2003", [_item(1, 11), _item(2, 11)]), "name": "nul \u0000 name"},
        _outfit("2004", [{**_item(1, 11), "name": "bad \ud800 half"}, _item(2, 11)]),
        _outfit("2005", [{**_item(1, 11), "price": float("nan")}, _item(2, 11), _item(3, 27)]),
    ]
    root = _dataset(tmp_path / "maryland", outfits)
    (root / "train_no_dup.json").rename(root / "valid_no_dup.json")
    report = import_maryland_polyvore(root, session=session, split="valid")
    assert [(s.ref, s.reason) for s in report.skipped] == [
        ("valid_no_dup.json[0].items[1]", "outfit '2001' has two items at index 1"),
        ("valid_no_dup.json[0].items[2]", "item without a valid index: {'index': 'x'}"),
        ("valid_no_dup.json[0].items[3]", "price, likes and categoryid must be numbers, found 'cheap'"),
        ("valid_no_dup.json[1]", "expected an outfit object, found str"),
        ("valid_no_dup.json[2]", "outfit '2002' has no items list"),
        ("valid_no_dup.json[3]", "outfit '2003': name contains a NUL character or invalid Unicode"),
        ("valid_no_dup.json[4].items[0]", "name contains a NUL character or invalid Unicode"),
        ("valid_no_dup.json[5].items[0]", "price, likes and categoryid must be numbers, found nan"),
        ("valid_no_dup.json[4]", "outfit '2004': only 1 of 2 items imported"),
    ]
    assert _slots(session, "maryland:2001") == ["maryland:2001_1", "maryland:2001_4"]
    assert _slots(session, "maryland:2005") == ["maryland:2005_2", "maryland:2005_3"]
    # The first item at a repeated index is the one kept.
    assert session.scalars(select(Item.article_type).where(Item.external_id == "maryland:2001_1")).one() == "Tops"

    limited = import_maryland_polyvore(root, session=session, split="valid", limit=1)
    assert len(limited.skipped) == 3
    assert (limited.outfits.unchanged, limited.items.unchanged) == (1, 2)


def test_truncated_json_fails_and_writes_nothing(session: Session, tmp_path: Path) -> None:
    root = _dataset(tmp_path / "maryland")
    data = (root / "train_no_dup.json").read_bytes()
    (root / "train_no_dup.json").write_bytes(data[: len(data) - 200])
    with pytest.raises(InvalidInputError, match=r"train_no_dup\.json: not valid JSON"):
        import_maryland_polyvore(root, session=session)
    assert _counts(session) == (0, 0, 0)


def test_bad_layout_errors(session: Session, tmp_path: Path) -> None:
    root = _dataset(tmp_path / "maryland")
    with pytest.raises(InvalidInputError, match=r"no test_no_dup\.json"):
        import_maryland_polyvore(root, session=session, split="test")
    (root / "category_id.txt").write_text("11 Tops\nJeans\n")
    with pytest.raises(InvalidInputError, match=r"category_id\.txt:2: expected '<id> <name>'"):
        import_maryland_polyvore(root, session=session)
    (root / "category_id.txt").unlink()
    (root / "train_no_dup.json").write_text('{"set_id": "1"}')
    with pytest.raises(InvalidInputError, match=r"expected a JSON list of outfits, found dict"):
        import_maryland_polyvore(root, session=session)
    assert _counts(session) == (0, 0, 0)
