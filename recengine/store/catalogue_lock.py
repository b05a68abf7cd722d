"""One catalogue import at a time, and no single-item creation while one runs.

An import reads which external ids and image hashes exist, then inserts the rest with ``COPY``, which has no
``ON CONFLICT``: a second import of the same file, or an item created through the API meanwhile, inserted the
same keys first and the import ended in a ``UniqueViolation`` traceback. Imports therefore hold a transaction
advisory lock exclusively (a second import waits and then finds the rows there, unchanged), and the API's
inserts hold it shared (many at once; refused with a clear error while an import runs rather than left hanging
for the import's minutes: a 503 with ``Retry-After`` in the API, which generic HTTP retry logic honours, where
a 409 read as final). Transaction locks end with the commit or rollback of the transaction that writes.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.orm import Session

from recengine.errors import BusyError
from recengine.store.locks import advisory_key, xact_lock

_log = logging.getLogger(__name__)
_LABEL = "recengine-catalogue-inserts"
_KEY = advisory_key(_LABEL)
#: Seconds a refused creation should wait before trying again: imports take tens of seconds to minutes.
IMPORT_RETRY_S = 30


def lock_for_import(session: Session) -> None:
    """Hold the catalogue exclusively until the session's transaction ends, waiting for another import first."""
    if session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _KEY}):
        return
    _log.info("another catalogue import is running: waiting for it to commit or roll back")
    xact_lock(session, _LABEL)


def lock_for_insert(session: Session) -> None:
    """Share the catalogue with other single-item inserts until the transaction ends; refused during an import."""
    if not session.scalar(text("SELECT pg_try_advisory_xact_lock_shared(:key)"), {"key": _KEY}):
        raise BusyError("a catalogue import is running: items can be created once it has finished; retry then",
                        retry_after_s=IMPORT_RETRY_S)  # fmt: skip
