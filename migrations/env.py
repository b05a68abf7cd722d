"""Alembic environment: metadata from recengine's ORM, connection from the caller or from Settings."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from recengine.config import Settings
from recengine.store.database import database
from recengine.store.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    """Leave the broker's and result backend's tables (kombu_*, celery_*) to Celery: they are not ours."""
    return not (type_ == "table" and name is not None and name.startswith(("kombu_", "celery_")))


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True, include_name=_ours)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    settings = Settings()
    if not settings.database_url:
        raise SystemExit("offline (--sql) migrations need RECENGINE_DATABASE_URL")
    context.configure(url=settings.database_url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    with database(Settings()) as db, db.engine.connect() as conn:
        _run(conn)
        conn.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
