"""Segment size over time: one point per local day, for the console chart."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, get_scoped
from siyu.core.clock import now
from siyu.segments.models import Segment, SegmentSize


def size_history(
    session: Session, principal: Principal, segment_id: int, days: int = 90
) -> list[tuple[date, int]]:
    """Daily size points of the last `days` days, oldest first (days without a point carry on)."""
    segment = get_scoped(session, Segment, segment_id, principal)
    zone = ZoneInfo(_tz(session, segment.workspace_id))
    today = now().astimezone(zone).date()
    start = today - timedelta(days=days - 1)
    stmt = select(SegmentSize.day, SegmentSize.size).where(SegmentSize.segment_id == segment.id)
    points = dict(session.execute(stmt.order_by(SegmentSize.day)).tuples().all())
    before = [d for d in points if d < start]
    size = points[max(before)] if before else None
    series = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        size = points.get(day, size)
        if size is not None:
            series.append((day, size))
    return series


def _tz(session: Session, workspace_id: int) -> str:
    from siyu.segments.service import workspace_tz

    return workspace_tz(session, workspace_id)
