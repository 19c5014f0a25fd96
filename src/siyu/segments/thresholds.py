"""Stored percentile thresholds: computed in each full pass, read by incremental recomputes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.clock import now
from siyu.segments import rules
from siyu.segments.compiler import percentile_key, percentile_value
from siyu.segments.models import PercentileThreshold, Segment
from siyu.tags.models import Tag

Thresholds = dict[str, float | None]


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
    session: Session, workspace_id: int, pairs: set[tuple[str, int]], known: dict[str, Any]
) -> Thresholds:
    out: Thresholds = {}
    for field, percentile in sorted(pairs):
        value = percentile_value(session, workspace_id, field, percentile)
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


def recompute(session: Session, workspace_id: int) -> Thresholds:
    """Every threshold the workspace uses, computed now and stored (the full pass)."""
    return _store(session, workspace_id, used(session, workspace_id), _rows(session, workspace_id))


def current(session: Session, workspace_id: int) -> Thresholds:
    """The stored thresholds; one a rule uses but nobody computed yet is computed now."""
    rows = _rows(session, workspace_id)
    found: Thresholds = {key: row.value for key, row in rows.items()}
    missing = {p for p in used(session, workspace_id) if percentile_key(*p) not in found}
    if missing:
        found.update(_store(session, workspace_id, missing, rows))
    return found
