"""One small exception hierarchy; the CLI and the HTTP layer map it to messages and status codes in one place."""


class RecengineError(Exception):
    """Base class of every error recengine raises on purpose."""


class InvalidInputError(RecengineError, ValueError):
    """Input that recengine refuses: the message names what is wrong and where."""


class NotFoundError(RecengineError, LookupError):
    """A referenced entity (item, user, model, index, file) does not exist."""


class ConfigurationError(RecengineError):
    """Settings that cannot work together, or a missing required resource."""


class DatabaseError(RecengineError):
    """The database could not be reached, started or migrated."""


class ConflictError(RecengineError):
    """A change that collides with the current state (an external id that is already taken, say)."""


class BusyError(ConflictError):
    """Work that cannot run now because other work holds what it needs, and can once that ends: ask again after
    ``retry_after_s`` seconds (an item's creation while a catalogue import runs, say)."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
