"""The ``model_versions`` row of a (family, name), claimed for the caller's transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from recengine.store.models import ModelVersion


def claim_model_version(*, session: Session, family: str, name: str) -> ModelVersion:
    """The row of ``(family, name)``, created when absent and locked until the transaction ends.

    Registrations of one name at once (two training jobs of one dataset and variant, ``models register`` run
    twice) apply one after the other, the later one's values kept; a look-up followed by an insert let both
    insert and the second end in a ``UniqueViolation`` after its whole training.
    """
    session.execute(insert(ModelVersion).values(family=family, name=name)
                    .on_conflict_do_nothing(constraint="uq_model_versions_family_name"))  # fmt: skip
    stmt = (select(ModelVersion).where(ModelVersion.family == family, ModelVersion.name == name)
            .with_for_update().execution_options(populate_existing=True))  # fmt: skip
    return session.scalars(stmt).one()
