"""Stored percentile thresholds: computed in each full pass, read by incremental recomputes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, func, literal, select
from sqlalchemy.orm import Session

from siyu.core.clock import now
from siyu.segments import rules
from siyu.segments.compiler import percentile_key, ranked_buyers
from siyu.segments.models import PercentileThreshold, Segment
from siyu.tags.models import Tag

Thresholds = dict[str, float | None]
# How a full pass computes one threshold: (field, percentile) -> value (None: no buyers).
ValueOf = Callable[[str, int], Any]


def percentile_query(workspace_id: int, field: str, percentile: int) -> Select[Any]:
    """The nearest-rank p-th percentile among live buyers: the k-th smallest, k = ceil(p*n/100),
    i.e. the least value v with 100 * #(x <= v) >= p * n (one query for either engine)."""
    ranked = ranked_buyers(workspace_id, field)
    test = literal(100) * ranked.c.at_or_below >= percentile * ranked.c.population
    return select(func.min(ranked.c.value)).where(test)


def used(session: Session, workspace_id: int) -> set[tuple[str, int]]:
    """(field, percentile) pairs the workspace's rule tags and segments use."""
    found: set[tuple[str, int]] = set()
    models: tuple[Any, ...] = (Tag, Segment)
    for model in models:
        stmt = select(model.rule).where(model.workspace_id == workspace_id)
        for raw in session.scalars(stmt):
            if raw:
                for node, _path, _depth in rules.walk(rules.parse_rule(raw)):
                    if isinstance(node, rules.Percentile):
                        found.add((node.field, node.percentile))
    return found


def _store(
    session: Session,
    workspace_id: int,
    pairs: set[tuple[str, int]],
    known: dict[str, Any],
    value_of: ValueOf | None = None,
) -> Thresholds:
    if value_of is None:

        def value_of(field: str, percentile: int) -> Any:
            return session.scalar(percentile_query(workspace_id, field, percentile))

    out: Thresholds = {}
    for field, percentile in sorted(pairs):
        value = value_of(field, percentile)
        key = percentile_key(field, percentile)
        row = known.get(key)
        if row is None:
            row = PercentileThreshold(workspace_id=workspace_id, field=field, percentile=percentile)
            session.add(row)
        row.value, row.computed_at = (None if value is None else float(value)), now()
        out[key] = row.value
    session.flush()
    return out


def _rows(session: Session, workspace_id: int) -> dict[str, PercentileThreshold]:
    stmt = select(PercentileThreshold).where(PercentileThreshold.workspace_id == workspace_id)
    return {percentile_key(r.field, r.percentile): r for r in session.scalars(stmt)}


def recompute(session: Session, workspace_id: int, value_of: ValueOf | None = None) -> Thresholds:
    """Every threshold the workspace uses, computed now (on the store, or by `value_of`) and
    stored (the full pass)."""
    pairs, rows = used(session, workspace_id), _rows(session, workspace_id)
    return _store(session, workspace_id, pairs, rows, value_of)


def current(session: Session, workspace_id: int) -> Thresholds:
    """The stored thresholds; one a rule uses but nobody computed yet is computed now."""
    rows = _rows(session, workspace_id)
    found: Thresholds = {key: row.value for key, row in rows.items()}
    missing = {p for p in used(session, workspace_id) if percentile_key(*p) not in found}
    if missing:
        found.update(_store(session, workspace_id, missing, rows))
    return found
