"""Names that become file or folder names: an index's folder, a dataset's or a model's checkpoint file.

Each must be one plain path component. Before this check an empty index name put its versions beside the other
indexes' folders, and ``../x`` (or a dataset named ``a/b``) wrote outside the folder meant for it.
"""

from __future__ import annotations

import re

from recengine.errors import InvalidInputError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(what: str, name: str) -> str:
    """``name`` when it is one plain folder or file name part; else an :class:`InvalidInputError` naming ``what``."""
    if not NAME_RE.fullmatch(name):
        raise InvalidInputError(f"{what} {name!r} must be 1 to 64 letters, digits, '_', '.' or '-', starting with a "
                                "letter or digit")  # fmt: skip
    return name
