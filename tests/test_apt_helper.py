"""scripts/apt.sh, which setup.sh and browser.sh use for their optional Debian packages.

apt-get, sudo and id are stand-ins first on PATH that record their calls, so the helper's own logic runs for real
and nothing is installed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Fails like apt-get does while another apt run holds the dpkg lock, unless told to wait for it; knows the package
# only after an update when $NEEDS_UPDATE is set; $BROKEN makes every install fail.
APT_GET = """#!/bin/bash
echo "apt-get $*" >> "$CALLS"
case "$*" in *" update"*) touch "$STATE/updated"; exit 0 ;; esac
case "$*" in *DPkg::Lock::Timeout=*) ;; *)
  echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)"; exit 100 ;;
esac
[ -n "$BROKEN" ] && { echo "E: Sub-process /usr/bin/dpkg returned an error code (1)"; exit 100; }
[ -n "$NEEDS_UPDATE" ] && [ ! -e "$STATE/updated" ] && { echo "E: Unable to locate package $6"; exit 100; }
echo "Setting up $*"
"""

SUDO = """#!/bin/bash
echo "sudo $*" >> "$CALLS"
[ -n "$NO_SUDO" ] && { echo "sudo: a password is required" >&2; exit 1; }
shift  # -n
[ "$1" = true ] && exit 0
exec "$@"
"""

ID = """#!/bin/bash
[ "$1" = -u ] && { echo "${FAKE_UID}"; exit 0; }
exec /usr/bin/id "$@"
"""


@pytest.fixture()
def stand_ins(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("apt-get", APT_GET), ("sudo", SUDO), ("id", ID)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "state").mkdir()
    return tmp_path


def _install(tmp: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    script = f"source {ROOT / 'scripts' / 'apt.sh'}; apt_install dataset-fashion-mnist; echo rc=$?"
    full_env = {
        "PATH": f"{tmp / 'bin'}:/usr/bin:/bin",
        "CALLS": str(tmp / "calls.log"),
        "STATE": str(tmp / "state"),
        "FAKE_UID": "0",
        "NEEDS_UPDATE": "",
        "BROKEN": "",
        "NO_SUDO": "",
        **env,
    }
    done = subprocess.run(["bash", "-c", script], env=full_env, capture_output=True, text=True, timeout=60)
    calls_file = tmp / "calls.log"
    calls = calls_file.read_text().splitlines() if calls_file.exists() else []
    return done, calls


def test_it_waits_for_the_dpkg_lock_instead_of_failing(stand_ins: Path) -> None:
    done, calls = _install(stand_ins)

    assert done.stdout.strip() == "rc=0", done.stderr
    assert len(calls) == 1  # one install; the package lists knew the package, so no update
    assert "DPkg::Lock::Timeout=300 install dataset-fashion-mnist" in calls[0]
    assert done.stderr == ""


def test_it_updates_the_package_lists_only_when_the_package_is_unknown(stand_ins: Path) -> None:
    done, calls = _install(stand_ins, NEEDS_UPDATE="1")

    assert done.stdout.strip() == "rc=0", done.stderr
    assert [c.split()[5] for c in calls] == ["install", "update", "install"]


def test_a_failure_names_apt_gets_own_reason(stand_ins: Path) -> None:
    done, _ = _install(stand_ins, BROKEN="1")

    assert done.stdout.strip() == "rc=1"  # the caller goes on: both packages are optional
    assert "apt-get could not install dataset-fashion-mnist" in done.stderr
    assert "dpkg returned an error code" in done.stderr
    assert "root" not in done.stderr  # it ran as root: that was not the cause


def test_without_root_or_sudo_it_says_so_and_runs_nothing(stand_ins: Path) -> None:
    done, calls = _install(stand_ins, FAKE_UID="1000", NO_SUDO="1")

    assert done.stdout.strip() == "rc=1"
    assert "needs root or sudo" in done.stderr
    assert not any(c.startswith("apt-get") for c in calls)


def test_a_user_with_sudo_installs_through_it(stand_ins: Path) -> None:
    done, calls = _install(stand_ins, FAKE_UID="1000")

    assert done.stdout.strip() == "rc=0", done.stderr
    assert any(c.startswith("sudo -n env DEBIAN_FRONTEND=noninteractive apt-get") for c in calls)
