"""Where importers read files from: a folder or a zip, addressed by the name a dataset row gives."""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from recengine.errors import InvalidInputError


class ImageFiles:
    """Images under a folder or inside a zip, found by their path relative to the dataset root.

    Zips made by hand often add a top folder (``myntradataset/images/1.jpg``) and rows name files relative to
    the dataset (``images/1.jpg``) or to the image folder (``1.jpg``); a name is therefore also looked up by its
    last two parts and by its file name, so every one of these resolves.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}
        if root.is_file():
            try:
                self._zip = zipfile.ZipFile(root)
            except (zipfile.BadZipFile, OSError) as exc:
                raise InvalidInputError(f"{root}: not a readable zip archive ({exc})") from exc
            for name in self._zip.namelist():
                self._members.setdefault(_tail(name), name)
                self._members.setdefault(name.rsplit("/", 1)[-1], name)
        elif not root.is_dir():
            raise InvalidInputError(f"{root}: no such image folder or zip")

    def read(self, name: str) -> bytes:
        """Bytes of ``name``; raises ``FileNotFoundError`` when absent."""
        if self._zip is None:
            try:
                return (self.root / name).read_bytes()
            except FileNotFoundError:
                return (self.root / name.rsplit("/", 1)[-1]).read_bytes()
        member = self._members.get(_tail(name)) or self._members.get(name.rsplit("/", 1)[-1])
        if member is None:
            raise FileNotFoundError(name)
        try:
            return self._zip.read(member)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise InvalidInputError(f"{self.root}: member {member} is damaged ({exc})") from exc

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def file_loader(path: Path, shown: str) -> Callable[[], bytes]:
    """A lazy reader of ``path``; unreadable files become skips (``shown`` names them in the reason)."""

    def load() -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise  # the writer reports it as "missing image"
        except OSError as exc:
            raise InvalidInputError(f"image {shown}: cannot read ({exc.strerror or exc})") from exc

    return load


def _tail(name: str) -> str:
    """The last two parts of a posix path: ``a/images/1.jpg`` -> ``images/1.jpg``."""
    return "/".join(name.rsplit("/", 2)[-2:])


def read_csv_rows(path: Path, *, known: set[str], required: set[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line number, row)``; a bad header, malformed quoting or an unreadable file raises, ragged rows
    get ``__error__``."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            # strict: a quote that is never closed is an error. Otherwise the csv module reads every later line
            # into that one field, and the rows it swallowed vanish without a skip to show for them.
            yield from _rows(_records(csv.reader(fh, strict=True), path), path, known=known, required=required)
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot open ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not a readable UTF-8 CSV file ({exc})") from exc


def _records(reader: Any, path: Path) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of each record; malformed quoting raises, naming the line the record starts on."""
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise InvalidInputError(f"{path}:{start}: a quoted field that starts on this line is never closed "
                                        "(a stray \" would swallow every later row)") from exc  # fmt: skip
            raise InvalidInputError(f"{path}:{reader.line_num}: malformed CSV quoting ({exc})") from exc
        yield reader.line_num, values


def _separator_hint(header: list[str]) -> str:
    for separator, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
        if len(header) == 1 and separator in header[0]:
            return f" (the header is one column holding {name}: columns must be separated by commas)"
    return ""


def _rows(records: Iterator[tuple[int, list[str]]], path: Path, *, known: set[str],
          required: set[str]) -> Iterator[tuple[int, dict[str, str]]]:  # fmt: skip
    first = next(records, None)
    if first is None:
        raise InvalidInputError(f"{path}: empty file, expected a header row")
    header = [h.strip() for h in first[1]]
    unknown = [h for h in header if h not in known]
    if unknown:
        raise InvalidInputError(
            f"{path}: unknown column(s) {unknown}; expected some of {sorted(known)}{_separator_hint(header)}"
        )
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise InvalidInputError(f"{path}: column(s) {repeated} appear more than once")
    missing = required - set(header)
    if missing:
        raise InvalidInputError(f"{path}: missing required column(s) {sorted(missing)}")
    for line, values in records:
        if not values:
            continue
        if len(values) != len(header):
            yield line, {"__error__": f"row has {len(values)} fields, the header has {len(header)}"}
            continue
        yield line, {k: v.strip() for k, v in zip(header, values, strict=True)}
