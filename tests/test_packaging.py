"""recengine installed from its wheel, away from a checkout: what a shop's backend gets from ``pip install``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the sources (the build writes beside them), unpacked as site-packages."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("recengine", "workers", "migrations"):
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=ignore)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"),
               str(src)]  # fmt: skip
    build = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    site = tmp / "site"
    with zipfile.ZipFile(next((tmp / "dist").glob("recengine-*.whl"))) as wheel:
        wheel.extractall(site)
    return site


def _run(site: Path, *args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECENGINE_")}
    env.update(PYTHONPATH=str(site), RECENGINE_DATA_DIR=str(data_dir), COLUMNS="200")
    return subprocess.run([sys.executable, *args], env=env, cwd=site.parent, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_an_installed_wheel_migrates_without_a_checkout(installed: Path, tmp_path: Path) -> None:
    where = _run(installed, "-c", "import recengine; print(recengine.__file__)", data_dir=tmp_path)
    assert where.stdout.startswith(str(installed)), where.stdout + where.stderr  # not the checkout's editable copy
    assert not (installed / "alembic.ini").exists()
    cli = ("-c", "from recengine.cli import main; main()")
    upgraded = _run(installed, *cli, "db", "upgrade", data_dir=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    status = _run(installed, *cli, "db", "status", data_dir=tmp_path)
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout + status.stderr
    heads = sorted(p.name for p in (ROOT / "migrations" / "versions").glob("*.py"))
    assert sorted(p.name for p in (installed / "recengine" / "_migrations" / "versions").glob("*.py")) == heads
