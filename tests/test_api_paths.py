"""Routing on the raw path: an encoded id stays one path segment and decodes to itself (no database)."""

from __future__ import annotations

from urllib.parse import quote, unquote

from hypothesis import given
from hypothesis import strategies as st

from recengine.api.links import item_url
from recengine.api.paths import route_path


@given(st.text(min_size=1, max_size=40))
def test_an_encoded_id_is_one_segment_that_decodes_to_itself(external_id: str) -> None:
    routed = route_path(item_url("", external_id) + "/image")
    prefix, _, rest = routed.partition("/v1/items/")
    segment, _, tail = rest.rpartition("/")
    assert prefix == "" and tail == "image" and "/" not in segment
    assert unquote(segment) == external_id


@given(st.text(min_size=1, max_size=40))
def test_the_routed_path_agrees_with_a_full_decoding(text: str) -> None:
    raw = quote(text, safe="/%:")  # stray percent signs too: the middleware checks this agreement before rerouting
    assert unquote(route_path(raw)) == unquote(raw)


def test_escapes_in_any_case() -> None:
    assert route_path("/v1/items/a%2fb%c3%a9%2541") == "/v1/items/a%2Fbé%2541"
