"""The Polyvore Outfits importer against the real validation split and small copies of its layout."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recengine.datasets.importers.polyvore import import_polyvore_outfits
from recengine.errors import InvalidInputError
from recengine.store.models import Image, Item, Outfit, OutfitItem
from tests.conftest import POLYVORE, require

pytestmark = pytest.mark.db


def _counts(session: Session) -> tuple[int, int, int]:
    items = session.scalar(select(func.count()).select_from(Item).where(Item.source == "polyvore-outfits"))
    outfits = session.scalar(select(func.count()).select_from(Outfit).where(Outfit.source == "polyvore-outfits"))
    slots = session.scalar(
        select(func.count()).select_from(OutfitItem).join(Outfit).where(Outfit.source == "polyvore-outfits")
    )
    return items or 0, outfits or 0, slots or 0


def _jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (12, 16)) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", size, colour).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture
def small_copy(tmp_path: Path) -> Path:
    """The first three real outfits with their category files (trimmed to their items); no images yet."""
    root = require(POLYVORE)
    outfits = json.loads((root / "valid.json").read_text())[:3]
    ids = {i["item_id"] for o in outfits for i in o["items"]}
    categories = json.loads((root / "train_category.json").read_text())
    folder = tmp_path / "polyvore"
    folder.mkdir()
    (folder / "valid.json").write_text(json.dumps(outfits))
    (folder / "train_category.json").write_text(json.dumps({k: v for k, v in categories.items() if k in ids}))
    shutil.copyfile(root / "categories.csv", folder / "categories.csv")  # not its read-only mode: tests edit it
    return folder


def test_real_validation_split(session: Session) -> None:
    root = require(POLYVORE)
    with (root / "outfit_items.csv").open(newline="") as fh:
        expected = list(csv.DictReader(fh))
    assert len(expected) == 26_781

    report = import_polyvore_outfits(root, session=session)

    distinct = {r["item_id"]: r for r in expected}
    assert report.skipped == []
    assert (report.outfits.added, report.outfits.updated, report.outfits.unchanged) == (5000, 0, 0)
    assert (report.items.added, report.items.updated, report.items.unchanged) == (len(distinct), 0, 0)
    assert _counts(session) == (len(distinct), 5000, 26_781)

    # Every item carries the categories of the release's own flattened join (empty cells: no category).
    stored = {
        row.external_id: (row.article_type, row.sub_category, row.image_sha256)
        for row in session.execute(select(Item.external_id, Item.article_type, Item.sub_category, Item.image_sha256))
    }
    for item_id, row in distinct.items():
        want = (row["fine_category"] or None, row["semantic_category"] or None, None)
        assert stored[f"polyvore:{item_id}"] == want, item_id

    # Slots follow "index": the first outfit of valid.json, item by item.
    outfit = session.scalars(select(Outfit).where(Outfit.external_id == "polyvore:224930161")).one()
    slot_items = [session.get(Item, s.item_id).external_id for s in outfit.slots]  # type: ignore[union-attr]
    assert slot_items == ["polyvore:213343990", "polyvore:206270853", "polyvore:202059322", "polyvore:53908391"]
    shoe = session.scalars(select(Item).where(Item.external_id == "polyvore:213343990")).one()
    assert shoe.attributes == {"category_id": "266"}
    assert session.scalars(select(Item).where(Item.external_id == "polyvore:202059322")).one().attributes == {}

    again = import_polyvore_outfits(root, session=session)
    assert again.skipped == []
    assert (again.items.added, again.items.updated, again.items.unchanged) == (0, 0, len(distinct))
    assert (again.outfits.added, again.outfits.updated, again.outfits.unchanged) == (0, 0, 5000)
    assert _counts(session) == (len(distinct), 5000, 26_781)


def test_limit_and_progress(session: Session) -> None:
    root = require(POLYVORE)
    calls: list[tuple[int, int | None]] = []
    report = import_polyvore_outfits(root, session=session, limit=10, progress=lambda d, t: calls.append((d, t)))
    assert report.outfits.added == 10
    assert _counts(session)[1:] == (
        10,
        sum(len(o["items"]) for o in json.loads((root / "valid.json").read_text())[:10]),
    )
    assert calls[-1] == (report.items.added + 10, report.items.added + 10)


def test_images_are_stored_when_present(session: Session, small_copy: Path) -> None:
    outfits = json.loads((small_copy / "valid.json").read_text())
    first = [i["item_id"] for i in outfits[0]["items"]]
    (small_copy / "images").mkdir()
    for n, item_id in enumerate(first[:2]):
        (small_copy / "images" / f"{item_id}.jpg").write_bytes(_jpeg((40 * n, 100, 200)))

    report = import_polyvore_outfits(small_copy, session=session)

    assert report.skipped == []
    assert report.outfits.added == 3
    with_image = session.scalars(select(Item).where(Item.image_sha256.is_not(None))).all()
    assert sorted(i.external_id for i in with_image) == sorted(f"polyvore:{i}" for i in first[:2])
    assert {(i.image.width, i.image.height, i.image.format) for i in with_image} == {(12, 16, "JPEG")}  # type: ignore[union-attr]
    assert {i.image_source for i in with_image} == {f"images/{i}.jpg" for i in first[:2]}
    assert session.scalar(select(func.count()).select_from(Image)) == 2
    assert session.scalar(select(func.count()).select_from(Item).where(Item.image_sha256.is_(None))) == (
        report.items.added - 2
    )

    # A changed photo is an update of that item only.
    (small_copy / "images" / f"{first[0]}.jpg").write_bytes(_jpeg((255, 0, 0)))
    again = import_polyvore_outfits(small_copy, session=session)
    assert (again.items.added, again.items.updated) == (0, 1)
    assert (again.outfits.added, again.outfits.updated, again.outfits.unchanged) == (0, 0, 3)


def test_corrupt_image_skips_item_and_its_outfit(session: Session, small_copy: Path) -> None:
    outfits = json.loads((small_copy / "valid.json").read_text())
    victim = outfits[1]["items"][0]["item_id"]
    (small_copy / "images").mkdir()
    (small_copy / "images" / f"{victim}.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")

    report = import_polyvore_outfits(small_copy, session=session)

    reasons = {s.ref: s.reason for s in report.skipped}
    assert len(reasons) == 2
    assert reasons[f"valid.json[1] item {victim}"].startswith(f"image images/{victim}.jpg: not a readable image")
    assert reasons["valid.json[1]"] == f"outfit {outfits[1]['set_id']!r} uses item {victim!r}, which was skipped"
    assert report.outfits.added == 2
    assert session.scalar(select(func.count()).select_from(Item).where(Item.external_id == f"polyvore:{victim}")) == 0


def test_truncated_json_fails_and_writes_nothing(session: Session, small_copy: Path) -> None:
    data = (small_copy / "valid.json").read_bytes()
    (small_copy / "valid.json").write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidInputError, match=r"valid\.json: not valid JSON"):
        import_polyvore_outfits(small_copy, session=session)
    assert _counts(session) == (0, 0, 0)


def test_missing_split_file(session: Session, small_copy: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"no test\.json"):
        import_polyvore_outfits(small_copy, session=session, split="test")
    with pytest.raises(InvalidInputError, match=r"split must be a plain name"):
        import_polyvore_outfits(small_copy, session=session, split="../valid")


def test_duplicate_and_malformed_outfits_are_skipped(session: Session, small_copy: Path) -> None:
    outfits = json.loads((small_copy / "valid.json").read_text())
    repeat = {"set_id": outfits[0]["set_id"], "items": [{"item_id": "999999999", "index": 1}]}
    no_index = {"set_id": "42", "items": [{"item_id": "1"}]}
    twice = {"set_id": "43", "items": [{"item_id": "1", "index": 1}, {"item_id": "2", "index": 1}]}
    (small_copy / "valid.json").write_text(json.dumps([*outfits, repeat, no_index, twice, "junk"]))

    report = import_polyvore_outfits(small_copy, session=session)

    assert [(s.ref, s.reason) for s in report.skipped] == [
        ("valid.json[3]", f"duplicate set_id {outfits[0]['set_id']!r} (first seen at valid.json[0])"),
        ("valid.json[4]", "outfit '42' has an item without a valid item_id and integer index: {'item_id': '1'}"),
        ("valid.json[5]", "outfit '43' has two items at index 1"),
        ("valid.json[6]", "expected an outfit object, found str"),
    ]
    assert report.outfits.added == 3
    # The skipped duplicate's item is not imported either.
    assert session.scalar(select(func.count()).select_from(Item).where(Item.external_id == "polyvore:999999999")) == 0


def test_unknown_category_leaves_item_uncategorised(session: Session, small_copy: Path) -> None:
    outfits = json.loads((small_copy / "valid.json").read_text())
    item_id = outfits[0]["items"][0]["item_id"]
    (small_copy / "train_category.json").write_text(json.dumps({item_id: "123456"}))
    import_polyvore_outfits(small_copy, session=session, limit=1)
    item = session.scalars(select(Item).where(Item.external_id == f"polyvore:{item_id}")).one()
    assert (item.article_type, item.sub_category, item.attributes) == (None, None, {"category_id": "123456"})


def test_malformed_categories_csv(session: Session, small_copy: Path) -> None:
    (small_copy / "categories.csv").write_text("2,undefined,\n3\n")
    with pytest.raises(InvalidInputError, match=r"categories\.csv:2: expected id,fine_category,semantic_category"):
        import_polyvore_outfits(small_copy, session=session)
    (small_copy / "categories.csv").write_text('2,"undefined,\n3,tops,tops\n4,shoes,shoes\n')  # rows 3 and 4 swallowed
    with pytest.raises(InvalidInputError, match=r"categories\.csv: not a readable CSV file \(unexpected end of data"):
        import_polyvore_outfits(small_copy, session=session)
