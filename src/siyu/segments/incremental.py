"""Incremental recompute for the customers one event named: every rule tag and saved segment.

It runs on the operational store in the caller's transaction (so it sees what ingest just
wrote), with the customer ids bound: one query per dependency level answers every rule for
those customers at once. The queries are built and compiled once per definition version (the
rules' text, the workspace's time zone and the stored percentile thresholds) and kept in a
small process-wide cache, so an event costs a handful of indexed look-ups. Membership rows,
tag history and enter/exit events are written only for what changed.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, Select, Text, bindparam, cast, literal, null, select, union_all
from sqlalchemy.orm import Session

from siyu.core.clock import now
from siyu.segments import membership, rules
from siyu.segments.compiler import IDS, compile_flags, deferred_times, percentile_key, referenced
from siyu.segments.models import PercentileThreshold, Segment, SegmentMember
from siyu.tags.models import CustomerTag, Tag
from siyu.workspaces.models import Workspace


def null_float() -> Any:
    """A typed NULL, so every part of a UNION has the same column types on PostgreSQL."""
    return cast(null(), Float)


# Customers per run of a level's query: each sub-query repeats the id list.
CHUNK = 100
MAX_PLANS = 64
Unit = tuple[str, int]  # ("tag", id) or ("segment", id)

_WS: Any = bindparam("ws")
# Everything a plan is built from, in one round trip: (kind, id, text, number) rows.
_VERSION = union_all(
    select(literal("segment"), Segment.id, cast(Segment.rule, Text), null_float()).where(
        Segment.workspace_id == _WS
    ),
    select(literal("tag"), Tag.id, cast(Tag.rule, Text), null_float()).where(
        Tag.workspace_id == _WS, Tag.kind == "rule"
    ),
    select(
        literal("threshold"),
        PercentileThreshold.percentile,
        PercentileThreshold.field,
        PercentileThreshold.value,
    ).where(PercentileThreshold.workspace_id == _WS),
    select(literal("tz"), Workspace.id, Workspace.timezone, null_float()).where(
        Workspace.id == _WS
    ),
)
_IDS: Any = bindparam(IDS, expanding=True)
# Which segments and tags the customers are in now: one round trip for both. By customer id
# alone (ids are of one workspace), so the planner cannot pick the workspace_id index and
# read every member of the workspace.
_CURRENT = union_all(
    select(literal("segment"), SegmentMember.segment_id, SegmentMember.customer_id).where(
        SegmentMember.customer_id.in_(_IDS)
    ),
    select(literal("tag"), CustomerTag.tag_id, CustomerTag.customer_id).where(
        CustomerTag.customer_id.in_(_IDS)
    ),
)


@dataclass(frozen=True)
class Level:
    """Units whose rules read nothing another unit of this pass writes before them."""

    units: tuple[Unit, ...]
    query: Select[Any]


@dataclass(frozen=True)
class Plan:
    """The compiled levels of one definition version, and the instants their windows need."""

    levels: tuple[Level, ...]
    offsets: frozenset[int]
    tz: str


_PLANS: OrderedDict[tuple[Any, ...], Plan] = OrderedDict()


def refresh_customers(
    session: Session, workspace_id: int, customer_ids: list[int]
) -> dict[int, tuple[int, int]]:
    """Rule tags, then segments, for these customers only: (entered, exited) by segment."""
    from siyu.tags.service import apply

    plan = plan_for(session, workspace_id)
    ids = sorted(set(customer_ids))
    at = now()
    result: dict[int, tuple[int, int]] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        params: dict[str, Any] = {"ws": workspace_id, IDS: chunk} | deferred_times(at, plan.offsets)
        current = _current(session, params)
        for level in plan.levels:
            moved = []
            for unit, wanted in _evaluate(session, level, params).items():
                have = current.get(unit, set())
                entered, exited = sorted(wanted - have), sorted(have - wanted)
                if unit[0] == "segment":
                    came, left = result.get(unit[1], (0, 0))
                    result[unit[1]] = (came + len(entered), left + len(exited))
                    moved.append(membership.Change(unit[1], entered, exited))
                elif entered or exited:
                    tag = session.get(Tag, unit[1])
                    assert tag is not None
                    apply(session, tag, entered, exited, "rule")
            # Only when someone moved (the usual event moves nobody: nothing to write).
            if any(c.entered or c.exited for c in moved):
                membership.write(session, workspace_id, moved, at, plan.tz)
    return result


def _evaluate(session: Session, level: Level, params: dict[str, Any]) -> dict[Unit, set[int]]:
    """Who of the customers each unit of the level admits now."""
    wanted: dict[Unit, set[int]] = {unit: set() for unit in level.units}
    for row in session.connection().execute(level.query, params):
        for unit, flag in zip(level.units, row[1:], strict=True):
            if flag:
                wanted[unit].add(row[0])
    return wanted


def _current(session: Session, params: dict[str, Any]) -> dict[Unit, set[int]]:
    found: dict[Unit, set[int]] = {}
    for kind, unit_id, customer_id in session.connection().execute(_CURRENT, params):
        found.setdefault((kind, unit_id), set()).add(customer_id)
    return found


def plan_for(session: Session, workspace_id: int) -> Plan:
    """The compiled plan of the workspace's current definitions (built on first use)."""
    from siyu.segments import thresholds

    rows: dict[str, list[tuple[Any, ...]]] = {"segment": [], "tag": [], "threshold": []}
    tz = "Asia/Shanghai"
    for kind, number, text, value in session.connection().execute(_VERSION, {"ws": workspace_id}):
        if kind == "tz":
            tz = text
        else:
            rows[kind].append((number, text, value))
    segments = tuple(sorted((i, text) for i, text, _ in rows["segment"]))
    tags = tuple(sorted((i, text) for i, text, _ in rows["tag"]))
    limits = {percentile_key(f, p): v for p, f, v in rows["threshold"]}
    key = (workspace_id, tz, segments, tags, tuple(sorted(limits.items())))
    plan = _PLANS.get(key)
    if plan is not None:
        _PLANS.move_to_end(key)
        return plan
    parsed = {("segment", i): rules.parse_rule(json.loads(text)) for i, text in segments}
    parsed |= {("tag", i): rules.parse_rule(json.loads(text)) for i, text in tags}
    if _percentiles(parsed.values()) - set(limits):
        # A threshold nobody computed yet: computed and stored now, then a fresh key.
        limits = thresholds.current(session, workspace_id)
        key = (workspace_id, tz, segments, tags, tuple(sorted(limits.items())))
    plan = _build(parsed, workspace_id, tz, limits)
    _PLANS[key] = plan
    while len(_PLANS) > MAX_PLANS:
        _PLANS.popitem(last=False)
    return plan


def _percentiles(parsed: Any) -> set[str]:
    return {
        percentile_key(node.field, node.percentile)
        for rule in parsed
        for node, _path, _depth in rules.walk(rule)
        if isinstance(node, rules.Percentile)
    }


def _build(
    parsed: dict[Unit, Any], workspace_id: int, tz: str, limits: dict[str, float | None]
) -> Plan:
    levels: dict[Unit, int] = {}

    def level_of(unit: Unit, seen: frozenset[Unit] = frozenset()) -> int:
        # Rule tags read manual tags only: level 0. A segment comes after what it reads.
        if unit not in levels:
            tag_refs, segment_refs = referenced(parsed[unit])
            after = [0] + [1 for t, _ in tag_refs if ("tag", t) in parsed]
            after += [
                level_of(("segment", s), seen | {unit}) + 1
                for s, _ in segment_refs
                if ("segment", s) in parsed and ("segment", s) not in seen
            ]
            levels[unit] = 0 if unit[0] == "tag" else max(after)
        return levels[unit]

    for unit in parsed:
        level_of(unit)
    built, offsets = [], set[int]()
    for depth in sorted(set(levels.values())):
        units = tuple(u for u in sorted(parsed) if levels[u] == depth)
        query, used = compile_flags([parsed[u] for u in units], workspace_id, tz, limits)
        built.append(Level(units, query))
        offsets |= used
    return Plan(tuple(built), frozenset(offsets), tz)


def clear_plans() -> None:
    """Forget every compiled plan (tests; a plan is otherwise keyed by what it was built from)."""
    _PLANS.clear()
