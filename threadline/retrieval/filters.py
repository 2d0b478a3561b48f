"""Search `filters` on vector store files' attributes: a `ComparisonFilter` (eq, ne, gt,
gte, lt, lte, in, nin) or a `CompoundFilter` (and, or) of them, nested freely.

Numbers compare with numbers and strings with strings (ordered comparisons of strings are
lexicographic); booleans only equal booleans. A file without the key, or with a value of
another type, matches only `ne` and `nin`."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from threadline.protocol.vector_stores import ComparisonFilter, CompoundFilter

__all__ = ["Filter", "matches"]

Filter = ComparisonFilter | CompoundFilter
Scalar = str | bool | float
_ORDERED: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _kind(value: object) -> str:
    """Which values compare with which: bool is not a number here."""
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, int | float) else type(value).__name__


def _equal(left: object, right: object) -> bool:
    return _kind(left) == _kind(right) and left == right


def _compare(comparison: ComparisonFilter, actual: Scalar | None) -> bool:
    kind, expected = comparison.type, comparison.value
    if kind in ("in", "nin"):
        options = expected if isinstance(expected, list) else [expected]
        found = actual is not None and any(_equal(actual, option) for option in options)
        return found == (kind == "in")
    if kind in ("eq", "ne"):
        same = actual is not None and _equal(actual, expected)
        return same == (kind == "eq")
    if actual is None or _kind(actual) != _kind(expected) or _kind(actual) == "bool":
        return False
    return bool(_ORDERED[kind](actual, expected))


def matches(condition: Filter, attributes: Mapping[str, Scalar] | None) -> bool:
    """Whether a file with these attributes passes the filter."""
    if isinstance(condition, CompoundFilter):
        results = (matches(inner, attributes) for inner in condition.filters)
        return all(results) if condition.type == "and" else any(results)
    return _compare(condition, (attributes or {}).get(condition.key))
