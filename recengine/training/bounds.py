"""Ranges of the numeric training parameters, checked before any work starts.

A training run's numbers arrive from the command line, a job row's JSON or a library call. Unchecked, a zero
validation period failed the run at its first step (``ZeroDivisionError``), a negative seed deep inside numpy,
an empty batch inside a reshape, and negative steps trained anyway for a different number of steps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from recengine.errors import InvalidInputError


@dataclass(frozen=True)
class Bound:
    """A parameter's type (``int`` or ``float``) and its lowest value (excluded when ``strict``)."""

    kind: type
    low: float
    strict: bool = False

    def problem(self, value: object) -> str | None:
        """What is wrong with ``value``, or None."""
        integer = isinstance(value, int) and not isinstance(value, bool)
        if self.kind is int and not integer:
            return f"must be an integer, got {value!r}"
        if not (integer or isinstance(value, float)):
            return f"must be a number, got {value!r}"
        number = float(value)  # type: ignore[arg-type]  # an int or a float by now
        if not math.isfinite(number):
            return f"must be finite, got {value!r}"
        if number < self.low or (self.strict and number == self.low):
            return f"must be {'above' if self.strict else 'at least'} {self.low:g}, got {value!r}"
        return None


def check_bounds(values: Mapping[str, object], bounds: Mapping[str, Bound]) -> None:
    """Raise one :class:`InvalidInputError` naming every value of ``values`` outside its bound (None: unset)."""
    problems = []
    for name, bound in bounds.items():
        value = values.get(name)
        problem = None if value is None else bound.problem(value)
        if problem is not None:
            problems.append(f"{name}: {problem}")
    if problems:
        raise InvalidInputError("invalid training parameters: " + "; ".join(problems))


COUNT, SIZE, RATE, WEIGHT = Bound(int, 0), Bound(int, 1), Bound(float, 0, strict=True), Bound(float, 0)
