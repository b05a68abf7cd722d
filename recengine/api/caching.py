"""Conditional GETs (RFC 9110, section 13.1.2): whether a client's ``If-None-Match`` names what it would get."""

from __future__ import annotations


def _opaque(tag: str) -> str:
    # Weak comparison: W/"x" and "x" are the same representation as far as a GET is concerned. Proxies that
    # compress (nginx with gzip) hand clients the weak form of a strong tag.
    return tag[2:] if tag.startswith("W/") else tag


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """True when the header is ``*`` or lists ``etag`` (weakly): the answer is then a 304.

    Args:
        if_none_match: The request's ``If-None-Match`` header, or None.
        etag: The current representation's entity tag, quoted (``"abc"``).
    """
    if not if_none_match:
        return False
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in tags or _opaque(etag) in {_opaque(tag) for tag in tags}
