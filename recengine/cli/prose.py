"""Command help read as prose: a docstring's single line breaks are spaces, as in the source's intent.

Typer (0.2x, "rich" markup) keeps them: a command's later paragraphs and the first paragraph in its group's
listing came out broken in two wherever the source wrapped at 120 characters, under Rich's own wrapping
(``recengine jobs prune --help``: "...whose workers are stopped, or to free" then "space at once..."). Blank
lines still separate paragraphs, and a paragraph that starts with click's ``\\b`` keeps its lines.
"""

from __future__ import annotations

import inspect
from typing import Any

import typer
from typer.core import TyperCommand


def reflow(text: str) -> str:
    """``text`` with the line breaks inside each paragraph made spaces."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(p if p.startswith("\b") else " ".join(p.split()) for p in paragraphs)


class ProseCommand(TyperCommand):
    """A command whose help is reflowed (:func:`reflow`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.help:
            self.help = reflow(self.help)


class Typer(typer.Typer):
    """``typer.Typer`` whose commands are :class:`ProseCommand` unless told otherwise."""

    def command(self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or ProseCommand, **kwargs)
