"""Comparing the contract's string-exact values with a typed YAML reader's values."""

from __future__ import annotations

import math

from transforms.values import to_boolean


def agrees(ours, theirs) -> bool:
    """A string-exact value matches a typed reader's value (PyYAML's or YAML 1.2's)."""
    if isinstance(theirs, dict):
        return (
            isinstance(ours, dict)
            and set(ours) == set(theirs)
            and all(agrees(ours[k], theirs[k]) for k in theirs)
        )
    if isinstance(theirs, list):
        return (
            isinstance(ours, list)
            and len(ours) == len(theirs)
            and all(agrees(o, t) for o, t in zip(ours, theirs, strict=True))
        )
    if theirs is None:
        return ours is None
    if isinstance(theirs, bool):
        return to_boolean(ours) == (theirs, None)
    if isinstance(theirs, int | float):
        return isinstance(ours, str) and _number(ours) == theirs
    return ours == theirs


def _number(text: str) -> float | None:
    for parse in (float, lambda t: int(t, 0)):
        try:
            value = parse(text)
        except ValueError:
            continue
        return value if not (isinstance(value, float) and math.isnan(value)) else None
    return None
