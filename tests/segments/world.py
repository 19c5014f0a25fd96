"""A random private domain with rule tags and segments of every kind, for comparing passes."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.ingest import service as ingest
from siyu.segments import service
from siyu.segments.models import Segment, SegmentMember
from siyu.segments.schemas import SegmentIn
from siyu.tags import service as tags
from siyu.tags.models import CustomerTag
from siyu.tags.schemas import TagIn
from tests.conftest import Tenant
from tests.segments.data import NOW, customer_of, event, metrics, order

PEOPLE = 24
CATEGORIES = ("口红", "眼影", "护肤")
LIPSTICK = {"type": "order", "categories": ["口红"], "window": {"last_days": 90}}


def world(db: Database, clock: SimulatedClock, tenant: Tenant) -> list[int]:
    """PEOPLE customers with random orders, clicks and metrics (seeded)."""
    clock.set(NOW)
    rnd = random.Random(4)
    p = tenant.principal
    with db.transaction() as session:
        orders = [
            order(
                f"w{who}-{k}",
                who,
                rnd.randrange(1, 300),
                rnd.choice((3_000, 9_000, 20_000)),
                rnd.choice(CATEGORIES),
                channel=rnd.choice(("tmall", "jd")),
            )
            for who in range(PEOPLE)
            for k in range(rnd.randrange(0, 4))
        ]
        ingest.ingest_events(session, p, [event(f"v{w}", w, "view", 400) for w in range(PEOPLE)])
        ingest.upsert_orders(session, p, orders)
        clicks = [
            event(f"k{w}-{k}", w, "click", rnd.randrange(1, 60))
            for w in range(0, PEOPLE, 3)
            for k in range(rnd.randrange(1, 5))
        ]
        ingest.ingest_events(session, p, clicks)
        ids = [customer_of(session, tenant.workspace_id, w) for w in range(PEOPLE)]
        for cid in ids[::2]:
            spend = rnd.randrange(1, 50) * 1_000
            metrics(
                session,
                tenant.workspace_id,
                cid,
                order_count=2,
                total_spend_fen=spend,
                aov_fen=spend // 2,
                last_order_at=NOW - timedelta(days=rnd.randrange(1, 200)),
                lifecycle_stage=rnd.choice(("repeat", "dormant_medium")),
                rfm_cell=rnd.choice(("important_value", "general_keep")),
            )
    return ids


def definitions(session: Session, tenant: Tenant, ids: list[int]) -> None:
    """A manual tag, a rule tag, and segments over every kind of condition and reference."""
    p = tenant.principal
    vip = tags.create_tag(session, p, TagIn(name="VIP"))
    tags.add(session, p, vip.id, ids[::5])
    fan = tags.create_tag(session, p, TagIn(name="口红", kind="rule", rule=LIPSTICK))
    rules: dict[str, dict[str, Any]] = {
        "twice": {"type": "order", "op": "gte", "value": 2, "window": {"last_days": 180}},
        "none": {"type": "order", "op": "eq", "value": 0, "channels": ["jd"]},
        "big": {"type": "percentile", "field": "aov_fen", "percentile": 60},
        "clicks": {"type": "event", "event_type": "click", "value": 3, "window": {"last_days": 30}},
        "recent": {"type": "attribute", "field": "days_since_last_order", "op": "lte", "value": 60},
        "dormant": {
            "type": "and",
            "children": [
                {"type": "lifecycle", "stages": ["dormant_medium"]},
                {"type": "not", "child": {"type": "rfm", "cells": ["general_keep"]}},
            ],
        },
        "fans": {
            "type": "or",
            "children": [{"type": "tag", "tag_id": fan.id}, {"type": "tag", "tag_id": vip.id}],
        },
    }
    made = {
        n: service.create_segment(session, p, SegmentIn(name=n, rule=r)) for n, r in rules.items()
    }
    on_fans = {
        "type": "and",
        "children": [{"type": "segment", "segment_id": made["fans"].id}, rules["twice"]],
    }
    service.create_segment(session, p, SegmentIn(name="fans twice", rule=on_fans))


def stored(session: Session, tenant: Tenant) -> dict[str, set[int]]:
    """Members of every segment and holders of every rule tag, as stored."""
    out: dict[str, set[int]] = {}
    for segment in session.scalars(
        select(Segment).where(Segment.workspace_id == tenant.workspace_id)
    ):
        stmt = select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment.id)
        out[segment.name] = set(session.scalars(stmt))
    out["tag"] = set(
        session.scalars(select(CustomerTag.customer_id).where(CustomerTag.source == "rule"))
    )
    return out
