"""Checking what arrives: identifiers normalized, events validated one by one."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from siyu.core.errors import SiyuError
from siyu.customers.identifiers import normalize
from siyu.ingest.schemas import EventIn, EventResult


def identifiers_of(raw: dict[str, str], prefix: str = "identifiers") -> list[tuple[str, str]]:
    """Normalize a record's identifiers; the first bad one is an error naming it."""
    return [
        (kind, _normalized(kind, value, f"{prefix}.{kind}"))
        if isinstance(value, str)
        else (kind, normalize(kind, value, f"{prefix}.{kind}"))
        for kind, value in raw.items()
    ]


@lru_cache(maxsize=1 << 16)
def _normalized(kind: str, value: str, field: str) -> str:
    # An import checks a value several times (row, order, OneID) and buyers repeat: once is
    # enough. Errors are raised, not cached.
    return normalize(kind, value, field)


_EVENTS = TypeAdapter(list[EventIn])


def validate_events(
    items: list[dict[str, Any]],
) -> tuple[list[EventResult], list[tuple[int, EventIn, list[tuple[str, str]]]]]:
    """Rejected events' results, and the valid ones (index, event, normalized identifiers)."""
    results: list[EventResult] = []
    parsed: list[tuple[int, EventIn, list[tuple[str, str]]]] = []
    try:
        # The common case, every event well formed, in one call; else one by one for errors.
        events = _EVENTS.validate_python(items)
        return results, [(i, e, identifiers_of(e.identifiers)) for i, e in enumerate(events)]
    except (ValidationError, SiyuError):
        pass
    for index, item in enumerate(items):
        try:
            event = EventIn.model_validate(item)
            parsed.append((index, event, identifiers_of(event.identifiers)))
        except ValidationError as exc:
            errors = [
                {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]}
                for e in exc.errors()
            ]
            results.append(
                EventResult(index=index, event_id=_event_id(item), status="rejected", errors=errors)
            )
        except SiyuError as exc:
            results.append(
                EventResult(
                    index=index,
                    event_id=_event_id(item),
                    status="rejected",
                    errors=exc.detail.get("errors", []),
                )
            )
    return results, parsed


def _event_id(item: Any) -> str | None:
    value = item.get("event_id") if isinstance(item, dict) else None
    return value if isinstance(value, str) else None
