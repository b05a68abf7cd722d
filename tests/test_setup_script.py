"""scripts/setup.sh, the first step of both README commands: a failed install must stop it and leave no stamp.

The venv's Python is a shim that records its arguments and fails the step a test names, so the script's own
logic runs for real without installing anything.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SHIM = """#!/usr/bin/env bash
echo "$*" >> "$(dirname "$0")/../calls.log"
case "$*" in
  *"$FAIL_ON"*) echo "ERROR: pretend pip could not install $*"; exit 1 ;;
esac
echo "Requirement already satisfied: $*"
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    for script in ("setup.sh", "apt.sh"):
        shutil.copy(ROOT / "scripts" / script, tmp_path / "scripts" / script)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(SHIM)
    python.chmod(0o755)
    # The script installs Fashion-MNIST with apt-get where it is missing: never from a test.
    for tool in ("apt-get", "sudo"):
        fake = tmp_path / "bin" / tool
        fake.parent.mkdir(exist_ok=True)
        fake.write_text("#!/bin/sh\nexit 1\n")
        fake.chmod(0o755)
    return tmp_path


def _source(project: Path, fail_on: str) -> subprocess.CompletedProcess[str]:
    # Sourced, as test.sh and demo.sh do; the line after it shows whether the caller went on.
    script = f"source {project / 'scripts' / 'setup.sh'}; echo CALLER-WENT-ON; type -t pip_install || true"
    env = {"PATH": f"{project / 'bin'}:/usr/bin:/bin", "FAIL_ON": fail_on, "HOME": str(project)}
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)


def test_a_failed_install_stops_the_caller_and_leaves_no_stamp(project: Path) -> None:
    done = _source(project, fail_on="install -e")

    assert done.returncode == 1
    assert "CALLER-WENT-ON" not in done.stdout
    assert "pip install -e .[dev] failed" in done.stderr
    assert "ERROR: pretend pip could not install" in done.stderr  # the log's tail, so the cause is on screen
    # Without a stamp the next run installs again, instead of trusting a venv that misses a dependency.
    assert not (project / ".venv" / ".recengine-installed").exists()


def test_a_failed_pip_upgrade_is_only_a_note(project: Path) -> None:
    done = _source(project, fail_on="--upgrade pip")

    assert done.returncode == 0, done.stderr
    assert "could not upgrade pip" in done.stderr
    assert "CALLER-WENT-ON" in done.stdout


def test_a_good_install_is_stamped_quietly_and_not_repeated(project: Path) -> None:
    first = _source(project, fail_on="no step fails")

    assert first.returncode == 0, first.stderr
    assert "CALLER-WENT-ON" in first.stdout
    assert first.stdout.strip().splitlines()[-1] == "CALLER-WENT-ON"  # its helper is not left in the caller
    assert "Requirement already satisfied" not in first.stderr  # pip's chatter is in the log, not on screen
    calls = (project / ".venv" / "calls.log").read_text().splitlines()
    assert any("install torch==2.13.0" in c for c in calls)
    assert calls.index(next(c for c in calls if "torch==2.13.0" in c)) < calls.index(
        next(c for c in calls if "install -e" in c)
    )  # the CPU wheel before the project, whose requirements would otherwise pull a CUDA build
    assert (project / ".venv" / ".recengine-installed").exists()

    second = _source(project, fail_on="no step fails")
    assert second.returncode == 0
    assert (project / ".venv" / "calls.log").read_text().splitlines() == calls  # nothing ran again
