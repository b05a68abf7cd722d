"""Names that become file and folder names (index folders, checkpoint files) are one plain path component."""

from __future__ import annotations

import re

import pytest

from recengine.errors import InvalidInputError
from recengine.names import check_name


@pytest.mark.parametrize("name", ["catalogue", "default", "stylist-2", "tiny_dpconv", "v1.2", "A" * 64])
def test_plain_names_pass(name: str) -> None:
    assert check_name("index name", name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "a\\b", ".hidden", "-flag", "a b", "é", "A" * 65,
                                  "a\x00b", "a\nb"])  # fmt: skip
def test_names_that_are_not_one_plain_path_part_are_refused_by_what_they_name(name: str) -> None:
    with pytest.raises(InvalidInputError, match="^" + re.escape(f"embedder name {name!r} must be 1 to 64 letters")):
        check_name("embedder name", name)
