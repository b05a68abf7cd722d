"""Import throughput of the full Myntra catalogue against a raw baseline measured in the same run.

Raw baseline: read every photo from images.zip, decode it fully with PIL and sha256 it, one process.
recengine: `import_myntra` into a fresh, migrated database (embedded PostgreSQL unless
RECENGINE_DATABASE_URL is set): CSV parse, the same full decode check and hashing, COPY of rows and image
bytes, one committed transaction. Then the idempotent re-import (everything unchanged) is timed too.

    .venv/bin/python -m benchmarks.import_catalogue [--catalogue ../shared/data/myntra]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import time
import zipfile
from pathlib import Path

from PIL import Image as PILImage
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from benchmarks._common import describe_database, scratch_database
from recengine.datasets.importers.myntra import import_myntra


def raw_baseline(catalogue: Path) -> tuple[int, float]:
    start = time.perf_counter()
    with zipfile.ZipFile(catalogue / "images.zip") as zf:
        names = [n for n in zf.namelist() if n.endswith(".jpg")]
        for name in names:
            data = zf.read(name)
            hashlib.sha256(data).hexdigest()
            with PILImage.open(io.BytesIO(data)) as img:
                img.load()
    return len(names), time.perf_counter() - start


def timed_import(engine: Engine, catalogue: Path) -> tuple[int, float, float]:
    start = time.perf_counter()
    with Session(engine) as session, session.begin():
        report = import_myntra(catalogue, session=session)
    first = time.perf_counter() - start
    start = time.perf_counter()
    with Session(engine) as session, session.begin():
        again = import_myntra(catalogue, session=session)
    second = time.perf_counter() - start
    assert again.items.added == 0 and again.items.unchanged == report.items.added, again.items
    return report.items.added, first, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, default=Path("../shared/data/myntra"))
    args = parser.parse_args()
    n_raw, raw_s = raw_baseline(args.catalogue)
    print(f"raw PIL decode + sha256 (1 process): {n_raw} images in {raw_s:.2f} s = {n_raw / raw_s:.0f}/s")
    with scratch_database() as engine:
        n, first_s, again_s = timed_import(engine, args.catalogue)
    print(f"recengine import (fresh database):   {n} items in {first_s:.2f} s = {n / first_s:.0f}/s")
    print(f"recengine re-import (all unchanged): {n} items in {again_s:.2f} s = {n / again_s:.0f}/s")
    rate, raw_rate = n / first_s, n_raw / raw_s
    print(f"cpus={os.cpu_count()} database={describe_database()}")
    print(
        f"RESULT items={n} items_per_s={rate:.0f} raw_items_per_s={raw_rate:.0f} ratio={rate / raw_rate:.2f} "
        f"reimport_items_per_s={n / again_s:.0f}"
    )


if __name__ == "__main__":
    main()
