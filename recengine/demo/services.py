"""The demo's running services: ``recengine serve`` and ``recengine worker`` as child processes.

They are the same commands an operator runs, started with this process's settings (data dir, database), so
they share its embedded PostgreSQL; their logs go to files the report links to.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from recengine.config import Settings
from recengine.errors import RecengineError

#: The API loads the designer and the catalogue latents before /readyz says ready (once, then from a cache).
READY_TIMEOUT_S = 300.0
_CLI = ("-c", "from recengine.cli import main; main()")


class ServiceError(RecengineError):
    """A demo service did not start or stopped early; the message names its log."""


@dataclass(frozen=True)
class Services:
    base_url: str
    api_log: Path
    worker_log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(RECENGINE_DATA_DIR=str(settings.data_dir), PYTHONUNBUFFERED="1")
    if settings.database_url:
        env["RECENGINE_DATABASE_URL"] = str(settings.database_url)
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, *_CLI, *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(log: Path, chars: int = 2000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def wait_ready(base_url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll ``/readyz`` until it answers 200; :class:`ServiceError` if the API exits or the time runs out."""
    deadline, last = time.monotonic() + timeout_s, "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(f"the API exited with {process.returncode}; its log {log} ends:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{base_url}/readyz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except urllib.error.HTTPError as exc:  # 503 names what is still missing
            last = exc.read().decode(errors="replace")
        except OSError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise ServiceError(f"the API was not ready after {timeout_s:.0f} s ({json.dumps(last)[:300]}); log: {log}")


@contextmanager
def running_services(settings: Settings, log_dir: Path, *, port: int | None = None) -> Iterator[Services]:
    """Start a worker and the API on loopback, wait until the API is ready, stop both on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    env = _env(settings)
    api_log, worker_log = log_dir / "api.log", log_dir / "worker.log"
    port = port or free_port()
    worker = _start(["worker", "--loglevel", "INFO"], env, worker_log)
    api = _start(["serve", "--port", str(port), "--log-level", "warning"], env, api_log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, api, api_log)
        if worker.poll() is not None:
            raise ServiceError(f"the worker exited with {worker.returncode}; log {worker_log}:\n{_tail(worker_log)}")
        yield Services(base, api_log, worker_log)
    finally:
        _stop(api)
        _stop(worker)
