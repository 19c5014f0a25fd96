"""The full pass of rule tags and segments on the analytics engine, written back as differences.

One DuckDB engine (analytics/engine.py; on SQLite one child process) serves the whole pass.
DuckDB reads what is COMMITTED, so nothing it reads may change during the pass: a rule that
uses a rule tag or another segment gets that definition inlined (the same customers, since
after the pass each holds exactly where its rule does), and percentile rules compare with
thresholds computed first in DuckDB. For each tag and segment one query returns only who
differs from the stored members; the caller's transaction writes those (entries and exits
are events) and the new size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from siyu.analytics.engine import Analytics
from siyu.core import outbox
from siyu.core.clock import now
from siyu.core.db import Database
from siyu.segments import membership, rules, thresholds
from siyu.segments.compiler import compile_rule
from siyu.segments.models import SegmentMember
from siyu.segments.portable import render_statement
from siyu.tags.models import CustomerTag, Tag

Unit = tuple[str, int]  # ("tag", id) or ("segment", id)
# What the rules and the differences read: copied into the engine once per pass where small
# enough (on SQLite each query would otherwise read them again through the sqlite scanner).
SNAPSHOT = (
    "event",
    "orders",
    "order_line",
    "identity",
    "customer",
    "customer_metrics",
    "customer_tag",
    "segment_member",
)


@dataclass
class FullPass:
    """What a full pass changed, by segment, and where its time went (seconds)."""

    changes: dict[int, tuple[int, int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def refresh_all(db: Database, session: Session, workspace_id: int) -> FullPass:
    """Recompute every rule tag and segment of a workspace through one analytics engine.

    Incremental refreshes queued before the pass reads the store are marked done at its end.
    """
    from siyu.segments.service import INCREMENTAL, ordered, workspace_tz
    from siyu.tags.service import apply

    out, started, at = FullPass(), time.perf_counter(), now()
    through = outbox.pending_through(session, INCREMENTAL, workspace_id)
    tz = workspace_tz(session, workspace_id)
    tags = list(
        session.scalars(select(Tag).where(Tag.workspace_id == workspace_id, Tag.kind == "rule"))
    )
    segments = ordered(session, workspace_id)
    parsed: dict[Unit, Any] = {("tag", t.id): rules.parse_rule(t.rule) for t in tags}
    parsed |= {("segment", s.id): rules.parse_rule(s.rule) for s in segments}
    diffs: dict[Unit, tuple[list[int], list[int]]] = {}
    with Analytics(db) as analytics, analytics.snapshot(SNAPSHOT):
        out.seconds["start"] = time.perf_counter() - started

        def value_of(name: str, percentile: int) -> Any:
            stmt = thresholds.percentile_query(workspace_id, name, percentile)
            return analytics.query(*render_statement(stmt))[0][0]

        limits = thresholds.recompute(session, workspace_id, value_of)
        for unit, rule in parsed.items():
            clock = time.perf_counter()
            wanted = compile_rule(
                inline(rule, parsed), workspace_id, at, tz, portable=True, thresholds=limits
            )
            diffs[unit] = _differences(analytics, difference(wanted, _stored(unit, workspace_id)))
            out.seconds[f"{unit[0]}:{unit[1]}"] = time.perf_counter() - clock
    clock = time.perf_counter()
    for tag in tags:
        gained, lost = diffs[("tag", tag.id)]
        apply(session, tag, gained, lost, "rule")
        tag.refreshed_at = at
    changes = []
    for segment in segments:
        entered, exited = diffs[("segment", segment.id)]
        size = _count(session, segment.id) + len(entered) - len(exited)
        changes.append(membership.Change(segment.id, entered, exited, size))
        out.changes[segment.id] = (len(entered), len(exited))
    membership.write(session, workspace_id, changes, at, tz)
    outbox.supersede(session, INCREMENTAL, workspace_id, through)
    session.flush()
    out.seconds["write"] = time.perf_counter() - clock
    out.seconds["total"] = time.perf_counter() - started
    return out


def inline(rule: Any, parsed: dict[Unit, Any]) -> Any:
    """The rule with every rule tag and segment it names replaced by that one's own rule."""
    if isinstance(rule, rules.TagRef | rules.SegmentRef):
        kind, ref, holds = (
            ("tag", rule.tag_id, rule.has)
            if isinstance(rule, rules.TagRef)
            else ("segment", rule.segment_id, rule.member)
        )
        if (kind, ref) not in parsed:
            return rule  # a manual tag: its rows do not change in this pass
        inner = inline(parsed[(kind, ref)], parsed)
        return inner if holds else rules.Not(type="not", child=inner)
    if isinstance(rule, rules.And | rules.Or):
        return rule.model_copy(update={"children": [inline(c, parsed) for c in rule.children]})
    if isinstance(rule, rules.Not):
        return rule.model_copy(update={"child": inline(rule.child, parsed)})
    return rule


def _stored(unit: Unit, workspace_id: int) -> Select[Any]:
    if unit[0] == "tag":
        return (
            select(CustomerTag.customer_id.label("customer_id"))
            .where(CustomerTag.workspace_id == workspace_id, CustomerTag.tag_id == unit[1])
            .distinct()
        )
    return select(SegmentMember.customer_id.label("customer_id")).where(
        SegmentMember.workspace_id == workspace_id, SegmentMember.segment_id == unit[1]
    )


def difference(wanted: Select[Any], stored: Select[Any]) -> Select[Any, bool]:
    """(customer id, true to enter or false to leave) where the rule and the rows differ."""
    w, c = wanted.subquery("wanted"), stored.subquery("stored")
    return (
        select(func.coalesce(w.c.id, c.c.customer_id), w.c.id.is_not(None))
        .select_from(w.outerjoin(c, w.c.id == c.c.customer_id, full=True))
        .where(or_(w.c.id.is_(None), c.c.customer_id.is_(None)))
    )


def _differences(analytics: Analytics, stmt: Select[Any, bool]) -> tuple[list[int], list[int]]:
    entered: list[int] = []
    exited: list[int] = []
    for customer_id, enter in analytics.query(*render_statement(stmt)):
        (entered if enter else exited).append(int(customer_id))
    return sorted(entered), sorted(exited)


def _count(session: Session, segment_id: int) -> int:
    stmt = select(func.count()).where(SegmentMember.segment_id == segment_id)
    return session.scalar(stmt) or 0
