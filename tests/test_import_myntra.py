from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select, text

from recengine.datasets.importers.myntra import import_myntra
from recengine.errors import InvalidInputError
from recengine.store.models import Image, Item
from tests.conftest import MYNTRA, require

HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (60, 80), colour).save(buf, format="JPEG")
    return buf.getvalue()


def _small_catalogue(root: Path, rows: list[str], images: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "styles.csv").write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    (root / "images").mkdir(exist_ok=True)
    for name, data in images.items():
        (root / "images" / name).write_bytes(data)
    return root


@pytest.mark.slow
def test_full_myntra_catalogue_imports_every_row_and_reimports_idempotently(session) -> None:
    path = require(MYNTRA)
    with (path / "metadata.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    report = import_myntra(path, session=session)
    assert report.items.added == len(rows) == 40072
    assert report.skipped == []
    assert session.scalar(select(func.count()).select_from(Item)) == 40072
    assert session.scalar(select(func.count()).select_from(Image)) <= 40072
    some = rows[123]
    item = session.scalars(select(Item).where(Item.external_id == some["id"])).one()
    assert (item.article_type, item.colour, item.gender) == (some["articleType"], some["baseColour"], some["gender"])
    with zipfile.ZipFile(path / "images.zip") as zf:
        data = zf.read(some["image"])
    stored = session.scalar(select(Image.data).where(Image.sha256 == item.image_sha256))
    assert stored == data
    assert item.image is not None and (item.image.width, item.image.height) == PILImage.open(io.BytesIO(data)).size

    again = import_myntra(path, session=session)
    assert (again.items.added, again.items.updated, again.items.unchanged) == (0, 0, 40072)
    assert session.scalar(select(func.count()).select_from(Item)) == 40072


def test_changed_rows_update_and_bad_rows_are_skipped_with_reasons(session, tmp_path: Path) -> None:
    red, blue = _jpeg((200, 0, 0)), _jpeg((0, 0, 200))
    rows = [
        "a1,Men,Apparel,Topwear,Tshirts,Red,Summer,2012.0,Casual,Red Tee",
        "a2,Women,Apparel,Bottomwear,Jeans,Blue,Fall,2013,Casual,Blue Jeans",
        "a3,Men,Footwear,Shoes,Casual Shoes,Black,Summer,,Casual,No Image Shoe",
        "a4,Men,Apparel,Topwear,Shirts,White,Summer,2012,Formal,Corrupt Shirt",
        "a1,Men,Apparel,Topwear,Tshirts,Red,Summer,2012,Casual,Duplicate Tee",
        "a5,Men,Apparel,Topwear,Shirts,White,Summer,2012,Formal,Too,Many,Fields",
        "a6,Men,Apparel,Topwear,Shirts,White,Summer,20x2,Formal,Bad Year",
    ]
    images = {"a1.jpg": red, "a2.jpg": blue, "a4.jpg": b"\xff\xd8\xff not really a jpeg", "a6.jpg": red}
    root = _small_catalogue(tmp_path / "cat", rows, images)
    report = import_myntra(root, session=session)
    assert report.items.added == 2
    reasons = {s.ref: s.reason for s in report.skipped}
    assert reasons["styles.csv:4"] == "missing image images/a3.jpg"
    assert "not a readable image" in reasons["styles.csv:5"]
    assert "duplicate id 'a1'" in reasons["styles.csv:6"]
    assert reasons["styles.csv:7"] == "row has 12 fields, the header has 10"
    assert "bad year" in reasons["styles.csv:8"]
    assert len(report.skipped) == 5

    (root / "styles.csv").write_text(
        HEADER + "\n" + "a1,Men,Apparel,Topwear,Tshirts,Maroon,Summer,2012,Casual,Red Tee\n"
        "a2,Women,Apparel,Bottomwear,Jeans,Blue,Fall,2013,Casual,Blue Jeans\n"
    )
    again = import_myntra(root, session=session)
    assert (again.items.added, again.items.updated, again.items.unchanged) == (0, 1, 1)
    assert session.scalar(select(Item.colour).where(Item.external_id == "a1")) == "Maroon"


def test_unknown_column_fails_and_leaves_the_database_as_it_was(session, tmp_path: Path) -> None:
    root = _small_catalogue(tmp_path / "ok", ["b1,Men,Apparel,Topwear,Tshirts,Red,Summer,2012,Casual,Tee"],
                            {"b1.jpg": _jpeg((1, 2, 3))})  # fmt: skip
    import_myntra(root, session=session)
    before = session.execute(text("select count(*) from items")).scalar()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "styles.csv").write_text(HEADER + ",price\nb2,Men,Apparel,Topwear,Tshirts,Red,Summer,2012,Casual,Tee,9\n")
    (bad / "images").mkdir()
    savepoint = session.begin_nested()
    with pytest.raises(InvalidInputError, match=r"unknown column\(s\) \['price'\]"):
        import_myntra(bad, session=session)
    savepoint.rollback()
    assert session.execute(text("select count(*) from items")).scalar() == before


def test_truncated_zip_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    root.mkdir()
    (root / "styles.csv").write_text(HEADER + "\n")
    (root / "images.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InvalidInputError, match="not a readable zip"):
        import_myntra(root, session=None)  # type: ignore[arg-type]
