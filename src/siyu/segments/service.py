"""Saved segments: validated rules, preview, membership kept current, size history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core import audit, outbox
from siyu.core.auth import Principal, get_scoped, scoped
from siyu.core.clock import now
from siyu.core.errors import Conflict, InvalidField
from siyu.customers.models import Customer
from siyu.segments import membership, rules
from siyu.segments.compiler import compile_rule, referenced
from siyu.segments.models import Segment, SegmentMember
from siyu.segments.schemas import SegmentIn, SegmentPatch
from siyu.tags.models import Tag
from siyu.workspaces.models import Role, Workspace

CHUNK = 500
SAMPLE = 10


def workspace_tz(session: Session, workspace_id: int) -> str:
    """The workspace's time zone (dates in rules and the size chart are local)."""
    # Kept for the session: the identity map holds rows weakly, so get() would query each time.
    known: dict[int, str] = session.info.setdefault("siyu.workspace_tz", {})
    if workspace_id not in known:
        workspace = session.get(Workspace, workspace_id)
        known[workspace_id] = workspace.timezone if workspace else "Asia/Shanghai"
    return known[workspace_id]


def check_rule(session: Session, principal: Principal, raw: Any, own_id: int | None = None) -> Any:
    """Parse a rule and check every tag and segment it names exists, with no cycle."""
    rule = rules.parse_rule(raw)
    tag_refs, segment_refs = referenced(rule)
    for tag_id, path in tag_refs:
        if session.scalar(scoped(select(Tag.id), Tag, principal).where(Tag.id == tag_id)) is None:
            raise InvalidField(path, f"标签 {tag_id} 不存在", f"no tag {tag_id} in this workspace")
    for segment_id, path in segment_refs:
        if segment_id == own_id:
            raise InvalidField(path, "人群不能引用自己", "a segment cannot refer to itself")
        found = session.scalar(
            scoped(select(Segment.id), Segment, principal).where(Segment.id == segment_id)
        )
        if found is None:
            raise InvalidField(path, f"人群 {segment_id} 不存在", f"no segment {segment_id}")
        if own_id is not None and own_id in _reachable(session, principal, segment_id):
            raise InvalidField(
                path,
                f"人群 {segment_id} 又引用了本人群，形成循环",
                f"segment {segment_id} refers back to this one: a cycle",
            )
    return rule


def _reachable(session: Session, principal: Principal, start: int) -> set[int]:
    """Segments reachable from `start` through segment conditions (start included)."""
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        segment = session.get(Segment, current)
        if segment is not None and segment.workspace_id == principal.workspace_id:
            todo += [s for s, _ in referenced(rules.parse_rule(segment.rule))[1]]
    return seen


def preview(session: Session, principal: Principal, raw: Any) -> tuple[int, list[int]]:
    """How many customers a rule admits now, and the first few of them (nothing is stored)."""
    rule = check_rule(session, principal, raw)
    stmt = compile_rule(
        rule, principal.workspace_id, now(), workspace_tz(session, principal.workspace_id)
    )
    # One pass: the window counts every match before the limit keeps the first few.
    matches = stmt.subquery()
    rows = session.execute(
        select(matches.c.id, func.count().over()).order_by(matches.c.id).limit(SAMPLE)
    ).all()
    return (rows[0][1] if rows else 0), [row[0] for row in rows]


def create_segment(session: Session, principal: Principal, data: SegmentIn) -> Segment:
    """Save a segment and compute its members (the first members are a baseline, not entries)."""
    principal.require(Role.operator)
    _unique_name(session, principal, data.name)
    rule = rules.dump(check_rule(session, principal, data.rule))
    at = now()
    segment = Segment(
        workspace_id=principal.workspace_id,
        name=data.name,
        description=data.description,
        rule=rule,
        created_at=at,
        updated_at=at,
    )
    session.add(segment)
    session.flush()
    refresh(session, segment)
    schedule_nightly(session, principal.workspace_id)
    audit.record(session, principal, "create", "segment", segment.id)
    return segment


def _unique_name(session: Session, principal: Principal, name: str, own_id: int = 0) -> None:
    stmt = scoped(select(Segment.id), Segment, principal).where(Segment.name == name)
    found = session.scalar(stmt)
    if found is not None and found != own_id:
        raise Conflict(zh=f"人群名称“{name}”已被使用", en=f"The segment name {name!r} is taken")


def get_segment(session: Session, principal: Principal, segment_id: int) -> Segment:
    """One segment the caller may see."""
    return get_scoped(session, Segment, segment_id, principal)


def list_segments(
    session: Session, principal: Principal, after_id: int | None = None, limit: int = 50
) -> list[Segment]:
    """Segments in creation order, cursor-paginated."""
    stmt = scoped(select(Segment), Segment, principal)
    if after_id:
        stmt = stmt.where(Segment.id > after_id)
    return list(session.scalars(stmt.order_by(Segment.id).limit(limit)))


def update_segment(
    session: Session, principal: Principal, segment_id: int, data: SegmentPatch
) -> Segment:
    """Rename, redescribe or change the rule (members are recomputed; changes are events)."""
    principal.require(Role.operator)
    segment = get_segment(session, principal, segment_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("name"):
        _unique_name(session, principal, changes["name"], segment.id)
        segment.name = changes["name"]
    if "description" in changes:
        segment.description = changes["description"]
    if changes.get("rule") is not None:
        segment.rule = rules.dump(check_rule(session, principal, changes["rule"], segment.id))
    segment.updated_at = now()
    session.flush()
    if changes.get("rule") is not None:
        refresh(session, segment)
    audit.record(session, principal, "update", "segment", segment.id, fields=sorted(changes))
    return segment


def delete_segment(session: Session, principal: Principal, segment_id: int) -> None:
    """Delete a segment; refused while another segment's rule uses it."""
    principal.require(Role.operator)
    segment = get_segment(session, principal, segment_id)
    users = [
        s.name
        for s in session.scalars(
            select(Segment).where(Segment.workspace_id == segment.workspace_id)
        )
        if segment.id in {i for i, _ in referenced(rules.parse_rule(s.rule))[1]}
    ]
    if users:
        raise Conflict(
            zh=f"人群仍被引用：{'、'.join(users)}", en=f"Still used by: {', '.join(users)}"
        )
    session.delete(segment)
    session.flush()
    audit.record(session, principal, "delete", "segment", segment_id)


# ---------------------------------------------------------------- membership


def current_members(session: Session, segment_id: int, only: list[int] | None) -> set[int]:
    """Members now (among `only` when given)."""
    stmt = select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment_id)
    if only is None:
        return set(session.scalars(stmt))
    found: set[int] = set()
    for start in range(0, len(only), CHUNK):
        chunk = only[start : start + CHUNK]
        found.update(session.scalars(stmt.where(SegmentMember.customer_id.in_(chunk))))
    return found


def refresh(
    session: Session,
    segment: Segment,
    only: list[int] | None = None,
    limits: dict[str, float | None] | None = None,
) -> tuple[list[int], list[int]]:
    """Recompute members (all, or only these customers); returns (entered, exited).

    `limits`: stored percentile thresholds, so a recompute of a few ranks nobody again.
    """
    at = now()
    tz = workspace_tz(session, segment.workspace_id)
    only = sorted(set(only)) if only is not None else None
    stmt = compile_rule(segment.rule, segment.workspace_id, at, tz, only, thresholds=limits)
    wanted = set(session.scalars(stmt))
    current = current_members(session, segment.id, only)
    entered, exited = sorted(wanted - current), sorted(current - wanted)
    if only is not None and not entered and not exited:
        return entered, exited  # nothing to write
    size = None if only is not None else len(wanted)
    change = membership.Change(segment.id, entered, exited, size)
    membership.write(session, segment.workspace_id, [change], at, tz)
    return entered, exited


def ordered(session: Session, workspace_id: int) -> list[Segment]:
    """The workspace's segments, each after the segments its rule uses."""
    segments = {
        s.id: s
        for s in session.scalars(select(Segment).where(Segment.workspace_id == workspace_id))
    }
    done: list[Segment] = []
    seen: set[int] = set()

    def visit(segment_id: int) -> None:
        if segment_id in seen or segment_id not in segments:
            return
        seen.add(segment_id)
        for used, _ in referenced(rules.parse_rule(segments[segment_id].rule))[1]:
            visit(used)
        done.append(segments[segment_id])

    for segment_id in sorted(segments):
        visit(segment_id)
    return done


def refresh_workspace(
    session: Session, workspace_id: int, only: list[int] | None = None
) -> dict[int, tuple[int, int]]:
    """Rule tags, then every segment in dependency order: (entered, exited) counts by segment.

    `only`: the customers an event named, recomputed alone (see incremental.py).
    """
    from siyu.segments import thresholds
    from siyu.segments.incremental import refresh_customers
    from siyu.tags.service import refresh_rule_tags

    if only is not None:
        return refresh_customers(session, workspace_id, only)
    thresholds.recompute(session, workspace_id)
    refresh_rule_tags(session, workspace_id)
    result = {}
    for segment in ordered(session, workspace_id):
        entered, exited = refresh(session, segment)
        result[segment.id] = (len(entered), len(exited))
    return result


NIGHTLY = "segments.nightly"
INCREMENTAL = "segments.incremental"


def schedule_nightly(session: Session, workspace_id: int, after: datetime | None = None) -> None:
    """Make sure the next nightly full pass (03:00 local) is queued, once."""
    zone = ZoneInfo(workspace_tz(session, workspace_id))
    local = (after or now()).astimezone(zone)
    run = local.replace(hour=3, minute=0, second=0, microsecond=0)
    if run <= local:
        run += timedelta(days=1)
    key = f"{NIGHTLY}:{workspace_id}:{run.date().isoformat()}"
    exists = session.scalar(
        select(outbox.OutboxMessage.id).where(outbox.OutboxMessage.dedupe_key == key)
    )
    if exists is None:
        outbox.enqueue(session, NIGHTLY, {}, workspace_id=workspace_id, dedupe_key=key, run_at=run)


def member_ids(session: Session, principal: Principal, segment_id: int) -> list[int]:
    """Every live member of a segment, by id (coupons to a segment, look-alike seeds)."""
    get_segment(session, principal, segment_id)
    stmt = (
        select(SegmentMember.customer_id)
        .join(Customer, Customer.id == SegmentMember.customer_id)
        .where(SegmentMember.segment_id == segment_id, Customer.merged_into_id.is_(None))
        .order_by(SegmentMember.customer_id)
    )
    return list(session.scalars(stmt))


def members(
    session: Session,
    principal: Principal,
    segment_id: int,
    after_id: int | None = None,
    limit: int = 50,
) -> list[tuple[Customer, datetime]]:
    """A page of live members (customers with since when), by customer id."""
    get_segment(session, principal, segment_id)
    stmt = (
        select(Customer, SegmentMember.since)
        .join(SegmentMember, SegmentMember.customer_id == Customer.id)
        .where(SegmentMember.segment_id == segment_id, Customer.merged_into_id.is_(None))
    )
    if after_id:
        stmt = stmt.where(Customer.id > after_id)
    return [(c, since) for c, since in session.execute(stmt.order_by(Customer.id).limit(limit))]
