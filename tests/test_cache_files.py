"""Arrays cached on disk: whole or absent for a reader, a damaged file is computed again, not fatal, and a family
keeps only its last few files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from recengine.cache_files import KEEP, STALE_TEMP_S, load_array, prune_cache, prune_family, save_array


def test_a_saved_array_loads_back_whole_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "z.npy"
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    save_array(path, array)
    for mmap in (False, True):
        loaded = load_array(path, (3, 4), mmap=mmap)
        assert loaded is not None and np.array_equal(loaded, array)
    assert [p.name for p in path.parent.iterdir()] == ["z.npy"]


def test_missing_cut_short_foreign_or_misshapen_files_count_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "z.npy"
    assert load_array(path, (3, 4)) is None
    np.save(path, np.ones((3, 4), np.float32))
    assert load_array(path, (3, 5)) is None and load_array(path, (3, 4)) is not None
    path.write_bytes(path.read_bytes()[:90])  # a write cut short: the header promises more than the file holds
    assert load_array(path, (3, 4)) is None and load_array(path, (3, 4), mmap=True) is None
    path.write_text("not an array")
    assert load_array(path, (3, 4)) is None
    np.save(path, np.array([{"a": 1}], dtype=object))  # pickled objects are never loaded from a cache
    assert load_array(path, (1,)) is None


_HALF_WRITER = """
import sys, time
from pathlib import Path
import numpy as np
from recengine.cache_files import save_array

real_save = np.save

def half_save(file, array):  # writes half of the file, then hangs until killed
    real_save(file, array)
    data = Path(file).read_bytes()
    Path(file).write_bytes(data[: len(data) // 2])
    print("writing", flush=True)
    time.sleep(60)

np.save = half_save
save_array(Path(sys.argv[1]), np.ones((64, 64), np.float32))
"""


def test_a_writer_killed_mid_write_leaves_the_previous_file(tmp_path: Path) -> None:
    """np.save straight to the path (the encoder cache until 2026-12-07) left a file cut short by a SIGKILL."""
    path = tmp_path / "z.npy"
    save_array(path, np.zeros((64, 64), np.float32))
    cmd = [sys.executable, "-c", _HALF_WRITER, str(path)]
    writer = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    kept = load_array(path, (64, 64))
    assert kept is not None and not kept.any()  # the previous file, whole; the half-written one is a temp file


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _written(path: Path, age_s: float) -> Path:
    save_array(path, np.zeros(4, np.float32))
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_a_family_keeps_its_most_recently_used_files(tmp_path: Path) -> None:
    """Files named by a hash of their inputs were never deleted: each catalogue change left two more for good."""
    for n in range(6):
        _written(tmp_path / f"latents-{n}.npy", age_s=600 - n * 100)  # latents-5 is the newest
    _written(tmp_path / "vectors-0.npy", age_s=9000)
    assert load_array(tmp_path / "latents-0.npy", (4,)) is not None  # the oldest written, read just now

    pruned = prune_family(tmp_path, "latents-", keep=2)

    assert _names(tmp_path) == ["latents-0.npy", "latents-5.npy", "vectors-0.npy"]
    assert pruned.files == 4 and pruned.bytes == 4 * (tmp_path / "latents-5.npy").stat().st_size
    assert prune_family(tmp_path, "latents-", keep=2).files == 0
    with pytest.raises(ValueError, match="keep must be at least 1"):
        prune_family(tmp_path, "latents-", keep=0)


def test_prune_cache_deletes_legacy_files_and_stale_temp_files(tmp_path: Path) -> None:
    for n in range(KEEP + 2):
        _written(tmp_path / f"images-8-{n}.npy", age_s=100 - n)
    _written(tmp_path / "embeddings-abc-def.npy", age_s=10)  # written by newcomer fits before 2026-12-07
    stale = _written(tmp_path / ".images-8-x.tmp-1-ab.npy", age_s=STALE_TEMP_S + 60)
    live = _written(tmp_path / ".images-8-y.tmp-2-cd.npy", age_s=5)  # a writer at work

    pruned = prune_cache(tmp_path, ["images-8-"])

    kept = [f"images-8-{n}.npy" for n in range(2, KEEP + 2)]
    assert _names(tmp_path) == sorted([live.name, *kept]) and not stale.exists()
    assert pruned.files == 4
    assert prune_cache(tmp_path / "absent", ["images-8-"]).files == 0
