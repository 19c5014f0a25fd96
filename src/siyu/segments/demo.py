"""After the demo loads: the built-in tags and a few segments from the seeds' vocabulary."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from siyu.core.auth import Principal
from siyu.core.db import Database
from siyu.segments import full, service
from siyu.segments.models import Segment
from siyu.segments.schemas import SegmentIn
from siyu.tags import service as tags
from siyu.tags.models import Tag


def _tag(builtin_key: str, principal: Principal, db_session: Any) -> dict[str, Any]:
    tag_id = db_session.scalar(
        select(Tag.id).where(
            Tag.workspace_id == principal.workspace_id, Tag.builtin_key == builtin_key
        )
    )
    return {"type": "tag", "tag_id": tag_id}


def seed_segments(principal: Principal, session: Any) -> list[tuple[str, dict[str, Any]]]:
    """Segments an operator of the demo brand would build first."""
    lipstick = {
        "type": "order",
        "categories": ["口红"],
        "op": "gte",
        "value": 2,
        "window": {"last_days": 180},
    }
    return [
        (
            "上海口红爱好者",
            {
                "type": "and",
                "children": [
                    {"type": "attribute", "field": "city", "op": "eq", "value": "上海"},
                    lipstick,
                ],
            },
        ),
        (
            "沉睡召回",
            {
                "type": "and",
                "children": [
                    {"type": "attribute", "field": "order_count", "op": "gte", "value": 1},
                    {
                        "type": "attribute",
                        "field": "days_since_last_order",
                        "op": "gte",
                        "value": 90,
                    },
                ],
            },
        ),
        (
            "高客单复购",
            {
                "type": "and",
                "children": [
                    {"type": "attribute", "field": "order_count", "op": "gte", "value": 2},
                    {"type": "percentile", "field": "aov_fen", "percentile": 80},
                ],
            },
        ),
        (
            "包裹卡来源未复购",
            {
                "type": "and",
                "children": [
                    _tag("source_package_card", principal, session),
                    {"type": "not", "child": _tag("repeat_customer", principal, session)},
                ],
            },
        ),
        (
            "近30天互动",
            {
                "type": "or",
                "children": [
                    {
                        "type": "event",
                        "event_type": "click",
                        "op": "gte",
                        "value": 1,
                        "window": {"last_days": 30},
                    },
                    {
                        "type": "event",
                        "event_type": "message",
                        "op": "gte",
                        "value": 1,
                        "window": {"last_days": 30},
                    },
                ],
            },
        ),
    ]


def install(db: Database, principal: Principal) -> int:
    """Install the tag library and the seed segments (skipping what exists); returns segments."""
    with db.transaction() as session:
        tags.install(session, principal)
    made = 0
    with db.transaction() as session:
        have = set(
            session.scalars(
                select(Segment.name).where(Segment.workspace_id == principal.workspace_id)
            )
        )
        for name, rule in seed_segments(principal, session):
            if name not in have:
                service.create_segment(session, principal, SegmentIn(name=name, rule=rule))
                made += 1
    # One full pass now, as the nightly one would: it also retires the incremental refreshes
    # that loading the demo queued, which it has done all at once.
    with db.transaction() as session:
        full.refresh_all(db, session, principal.workspace_id)
    return made
