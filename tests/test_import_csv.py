"""The generic CSV importer on small catalogues made with real Myntra photos (read from the shared zip)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from recengine.datasets.importers.csv_generic import import_csv
from recengine.errors import InvalidInputError
from recengine.store.models import Image, Item
from tests.conftest import MYNTRA, require

pytestmark = pytest.mark.db

PHOTOS = ("1163", "1164", "1165", "1525", "1528")
HEADER = "id,image,name,gender,master_category,sub_category,article_type,colour,season,usage,year"
ROWS = [
    "1163,photos/1163.jpg,Nike Jersey,Men,Apparel,Topwear,Tshirts,Blue,Summer,Sports,2011.0",
    "1164,photos/1164.jpg,Nike T20 Jersey,Men,Apparel,Topwear,Tshirts,Blue,Winter,Sports,2015",
    "1165,./photos/1165.jpg,,,,,,,,,",
    "1163,photos/1164.jpg,Again,Men,Apparel,Topwear,Tshirts,Blue,Summer,Sports,2011",
    "9999,photos/9999.jpg,Ghost,Men,Apparel,Topwear,Tshirts,Blue,Summer,Sports,2011",
    "1525,photos/broken.jpg,Broken,Men,Apparel,Topwear,Tshirts,Blue,Summer,Sports,2011",
    "1528,photos/1528.jpg,Short row",
    "2001,photos/1525.jpg,Bad year,Men,Apparel,Topwear,Tshirts,Blue,Summer,Sports,20x1",
    "2002,photos/1525.jpg,Half year,Men,Apparel,Topwear,Tshirts,Blue,Summer,Sports,2011.5",
    "2003,../outside.jpg,Escapes,Men,Apparel,Topwear,Tshirts,Blue,Summer,Sports,2011",
    f"2004,photos/1525.jpg,Long type,Men,Apparel,Topwear,{'x' * 65},Blue,Summer,Sports,2011",
    ",photos/1525.jpg,No id,Men,Apparel,Topwear,Tshirts,Blue,Summer,Sports,2011",
    "2005,photos,A folder,Men,Apparel,Topwear,Tshirts,Blue,Summer,Sports,2011",
    '1528,photos/1528.jpg,"Puma Shoe, black",Unisex,Footwear,Shoes,Casual Shoes,Black,Fall,Casual,2012',
]
EXPECTED_SKIPS = [
    ("catalogue.csv:8", "row has 3 fields, the header has 11"),
    ("catalogue.csv:9", "bad year: '20x1' is not a number"),
    ("catalogue.csv:10", "bad year: '2011.5' is not a year between 1900 and 2100"),
    ("catalogue.csv:11", "image path '../outside.jpg' is not inside the CSV's folder"),
    ("catalogue.csv:12", "article_type is 65 characters long, the limit is 64"),
    ("catalogue.csv:13", "empty id"),
    ("catalogue.csv:5", "duplicate id '1163' (first seen at catalogue.csv:2)"),
    ("catalogue.csv:6", "missing image photos/9999.jpg"),
    ("catalogue.csv:7", "image photos/broken.jpg: not a readable image"),
    ("catalogue.csv:14", "image photos: cannot read"),
]


@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    """A few real catalogue photos, read straight from the shared zip (never copied into the repository)."""
    with zipfile.ZipFile(require(MYNTRA) / "images.zip") as zf:
        return {name: zf.read(f"images/{name}.jpg") for name in PHOTOS}


def _catalogue(root: Path, photos: dict[str, bytes], rows: list[str] = ROWS, header: str = HEADER) -> Path:
    (root / "photos").mkdir(parents=True, exist_ok=True)
    for name, data in photos.items():
        (root / "photos" / f"{name}.jpg").write_bytes(data)
    (root / "photos" / "broken.jpg").write_bytes(b"this is not a jpeg at all" * 4)
    csv_path = root / "catalogue.csv"
    csv_path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return csv_path


def _skips(report: Any) -> list[tuple[str, str]]:
    # The decoder's or the OS's own words, in brackets at the end, vary between versions.
    return [(s.ref, s.reason.split(" (", 1)[0] if s.reason.startswith("image ") else s.reason) for s in report.skipped]


def test_rows_are_imported_or_skipped_with_their_reason(session: Session, tmp_path: Path, photos: dict) -> None:
    csv_path = _catalogue(tmp_path / "shop", photos)
    report = import_csv(csv_path, session=session, source="my-shop")

    assert _skips(report) == EXPECTED_SKIPS
    assert (report.items.added, report.items.updated, report.items.unchanged) == (4, 0, 0)
    items = {i.external_id: i for i in session.scalars(select(Item).where(Item.source == "my-shop"))}
    assert sorted(items) == ["1163", "1164", "1165", "1528"]

    shoe = items["1528"]
    assert (shoe.name, shoe.gender, shoe.master_category, shoe.sub_category, shoe.article_type) == (
        "Puma Shoe, black", "Unisex", "Footwear", "Shoes", "Casual Shoes",
    )  # fmt: skip
    assert (shoe.colour, shoe.season, shoe.usage, shoe.year, shoe.image_source) == (
        "Black", "Fall", "Casual", 2012, "photos/1528.jpg",
    )  # fmt: skip
    assert (items["1163"].year, items["1164"].year, items["1165"].year) == (2011, 2015, None)
    # Empty cells are NULLs, and "./photos/x" is stored normalised.
    bare = items["1165"]
    assert (bare.name, bare.gender, bare.article_type, bare.image_source) == (None, None, None, "photos/1165.jpg")
    assert bare.image is not None
    assert bare.image.data == photos["1165"]
    assert (bare.image.format, bare.image.width, bare.image.height) == ("JPEG", 60, 80)
    assert session.scalar(select(func.count()).select_from(Image)) == 4


def test_reimport_is_idempotent_and_counts_changed_rows(session: Session, tmp_path: Path, photos: dict) -> None:
    csv_path = _catalogue(tmp_path / "shop", photos)
    import_csv(csv_path, session=session)

    again = import_csv(csv_path, session=session)
    assert _skips(again) == EXPECTED_SKIPS
    assert (again.items.added, again.items.updated, again.items.unchanged) == (0, 0, 4)

    rows = list(ROWS)
    rows[0] = rows[0].replace("Nike Jersey", "Nike Team India Jersey")
    rows[2] = "1165,photos/1163.jpg,,,,,,,,,"  # a new photo for an item is a change too
    _catalogue(tmp_path / "shop", photos, rows)
    third = import_csv(csv_path, session=session)
    assert (third.items.added, third.items.updated, third.items.unchanged) == (0, 2, 2)
    assert session.scalars(select(Item.name).where(Item.external_id == "1163")).one() == "Nike Team India Jersey"
    assert session.scalar(select(func.count()).select_from(Item)) == 4


def test_columns_a_file_does_not_have_keep_their_stored_values(session: Session, tmp_path: Path,
                                                               photos: dict) -> None:  # fmt: skip
    full = _catalogue(tmp_path / "full", photos, [ROWS[0], ROWS[-1]])
    import_csv(full, session=session, source="my-shop")
    session.execute(update(Item).where(Item.external_id == "1163").values(attributes={"fit": "regular"}))
    # A price-list style file: new names only. Before, it emptied every other column of both items (their
    # article type, so their category, included) and the attributes no CSV column can set.
    names = _catalogue(tmp_path / "names", photos, ["1163,photos/1163.jpg,Nike Team India Jersey",
                                                    "1528,photos/1528.jpg,"], header="id,image,name")  # fmt: skip
    report = import_csv(names, session=session, source="my-shop")
    assert (report.items.added, report.items.updated, report.items.unchanged) == (0, 2, 0)
    items = {i.external_id: i for i in session.scalars(select(Item).where(Item.source == "my-shop"))}
    jersey, shoe = items["1163"], items["1528"]
    assert (jersey.name, jersey.article_type, jersey.colour, jersey.year) == (
        "Nike Team India Jersey", "Tshirts", "Blue", 2011,
    )  # fmt: skip
    assert jersey.attributes == {"fit": "regular"}
    assert (shoe.name, shoe.article_type, shoe.season) == (None, "Casual Shoes", "Fall")  # an empty cell clears
    again = import_csv(names, session=session, source="my-shop")
    assert (again.items.updated, again.items.unchanged) == (0, 2)
    fresh = _catalogue(tmp_path / "fresh", photos, ["1164,photos/1164.jpg,New"], header="id,image,name")
    import_csv(fresh, session=session, source="my-shop")
    new = session.scalars(select(Item).where(Item.external_id == "1164")).one()
    assert (new.name, new.article_type, new.year, new.attributes) == ("New", None, None, {})


def test_an_id_another_source_holds_is_skipped_and_its_item_kept(session: Session, tmp_path: Path,
                                                                 photos: dict) -> None:  # fmt: skip
    import_csv(_catalogue(tmp_path / "a", photos, [ROWS[0]]), session=session, source="supplier-a")
    # A second feed numbering its items alike: before, its row took item 1163 over (source, name, photo).
    other = _catalogue(tmp_path / "b", photos, ["1163,photos/1528.jpg,Other feed's shoe", "1164,photos/1164.jpg,New"],
                       header="id,image,name")  # fmt: skip
    report = import_csv(other, session=session, source="supplier-b")
    assert (report.items.added, report.items.updated, report.items.unchanged) == (1, 0, 0)
    assert [(s.ref, s.reason.split(":")[0]) for s in report.skipped] == [
        ("catalogue.csv:2", "id '1163' is an item of source 'supplier-a', not 'supplier-b'")
    ]
    kept = session.scalars(select(Item).where(Item.external_id == "1163")).one()
    assert (kept.source, kept.name, kept.image_source) == ("supplier-a", "Nike Jersey", "photos/1163.jpg")


def test_limit_and_progress(session: Session, tmp_path: Path, photos: dict) -> None:
    csv_path = _catalogue(tmp_path / "shop", photos)
    calls: list[tuple[int, int | None]] = []
    report = import_csv(csv_path, session=session, limit=2, progress=lambda d, t: calls.append((d, t)))
    assert report.items.added == 2
    assert report.skipped == []
    assert calls == [(2, 2)]


def test_unknown_column_fails_naming_it(session: Session, tmp_path: Path, photos: dict) -> None:
    csv_path = _catalogue(tmp_path / "shop", photos, ["1163,photos/1163.jpg,10"], header="id,image,price")
    with pytest.raises(InvalidInputError, match=r"catalogue\.csv: unknown column\(s\) \['price'\]"):
        import_csv(csv_path, session=session)
    assert session.scalar(select(func.count()).select_from(Item)) == 0


def test_a_header_separated_by_semicolons_says_so(session: Session, tmp_path: Path, photos: dict) -> None:
    csv_path = _catalogue(tmp_path / "shop", photos, ["1163;photos/1163.jpg"], header="id;image")
    with pytest.raises(InvalidInputError, match=r"one column holding semicolons: columns must be separated by commas"):
        import_csv(csv_path, session=session)


def test_a_quote_never_closed_fails_naming_its_line_and_imports_nothing(session: Session, tmp_path: Path,
                                                                       photos: dict) -> None:  # fmt: skip
    """The csv module read every later line into the open field: rows 1164 and 1165 vanished, no skip shown."""
    rows = ['1163,photos/1163.jpg,"Nike Jersey', "1164,photos/1164.jpg,Nike T20", "1165,photos/1165.jpg,Third"]
    csv_path = _catalogue(tmp_path / "shop", photos, rows, header="id,image,name")
    with pytest.raises(InvalidInputError, match=r"catalogue\.csv:2: a quoted field that starts on this line is never"):
        import_csv(csv_path, session=session)
    rows = ["1163,photos/1163.jpg,Nike", '1164,photos/1164.jpg,"Nike" T20']
    csv_path = _catalogue(tmp_path / "shop", photos, rows, header="id,image,name")
    with pytest.raises(InvalidInputError, match=r"catalogue\.csv:3: malformed CSV quoting"):
        import_csv(csv_path, session=session)
    assert session.scalar(select(func.count()).select_from(Item)) == 0
    rows = ['1163,photos/1163.jpg,"Nike, two', 'lines"', "1164,photos/1164.jpg,Nike T20"]  # closed: one field
    csv_path = _catalogue(tmp_path / "shop", photos, rows, header="id,image,name")
    report = import_csv(csv_path, session=session)
    assert report.items.added == 2 and report.skipped == []
    names = session.scalars(select(Item.name).order_by(Item.external_id)).all()
    assert names == ["Nike, two\nlines", "Nike T20"]


def test_missing_required_column(session: Session, tmp_path: Path, photos: dict) -> None:
    csv_path = _catalogue(tmp_path / "shop", photos, ["1163,Nike"], header="id,name")
    with pytest.raises(InvalidInputError, match=r"missing required column\(s\) \['image'\]"):
        import_csv(csv_path, session=session)


def test_files_that_are_not_csv(session: Session, tmp_path: Path, photos: dict) -> None:
    csv_path = _catalogue(tmp_path / "shop", photos)
    csv_path.write_bytes(HEADER.encode() + b"\n1163,photos/1163.jpg,Caf\xe9,,,,,,,,\n")
    with pytest.raises(InvalidInputError, match=r"catalogue\.csv: not a readable UTF-8 CSV file"):
        import_csv(csv_path, session=session)
    with pytest.raises(InvalidInputError, match=r"nowhere\.csv: cannot open"):
        import_csv(tmp_path / "nowhere.csv", session=session)
    with pytest.raises(InvalidInputError, match=r"source must be 1 to 64 characters"):
        import_csv(csv_path, session=session, source="")
    assert session.scalar(select(func.count()).select_from(Item)) == 0


def test_nul_character_is_a_skip_not_a_database_error(session: Session, tmp_path: Path, photos: dict) -> None:
    csv_path = _catalogue(tmp_path / "shop", photos)
    csv_path.write_bytes(HEADER.encode() + b"\n1163,photos/1163.jpg,N\x00ke,,,,,,,,\n1164,photos/1164.jpg,,,,,,,,,\n")
    report = import_csv(csv_path, session=session)
    assert [(s.ref, s.reason) for s in report.skipped] == [
        ("catalogue.csv:2", "name contains a NUL character or invalid Unicode")
    ]
    assert report.items.added == 1
