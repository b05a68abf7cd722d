"""If-None-Match as RFC 9110 reads it: a list of tags, compared weakly, or ``*``."""

from __future__ import annotations

import pytest

from recengine.api.caching import not_modified

ETAG = '"abc"'


@pytest.mark.parametrize("header", ['"abc"', 'W/"abc"', '"x", "abc"', '"x",W/"abc" ', "*", ' "abc" '])
def test_a_header_naming_the_current_tag_means_not_modified(header: str) -> None:
    assert not_modified(header, ETAG)


@pytest.mark.parametrize("header", [None, "", '"abcd"', '"x", "y"', "abc", 'W/"ab"'])
def test_any_other_header_means_send_it(header: str | None) -> None:
    assert not not_modified(header, ETAG)


def test_a_weak_current_tag_matches_its_strong_form() -> None:
    assert not_modified('"abc"', 'W/"abc"')
