"""One set of segment definitions, four engines: the SQLite store, the PostgreSQL store, DuckDB
over each, and PySpark in local mode; every engine admits the same members."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from siyu.analytics.engine import Analytics
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.ingest.models import Event
from siyu.segments.compiler import compile_rule
from siyu.segments.portable import render_portable
from siyu.tags import service as tags
from siyu.tags.schemas import TagIn
from tests.analytics.spark import spark_query, spark_session, tables_to_spark
from tests.conftest import make_tenant
from tests.segments.data import NOW, build

TABLES = ["customer", "customer_metrics", "event", "orders", "order_line", "customer_tag"]
ANSWERS: dict[str, list[list[str]]] = {}


@pytest.fixture
def db(committed_db: Database) -> Database:
    """Both stores, committed: DuckDB and Spark read through their own connections."""
    return committed_db


def definitions(tag_id: int) -> list[dict[str, Any]]:
    """Representative segments in the seeds' vocabulary, covering every kind of condition."""
    city = {"type": "attribute", "field": "city", "op": "eq", "value": "上海"}
    lipstick = {"type": "order", "categories": ["口红"], "value": 2, "window": {"last_days": 180}}
    clicks = {
        "type": "event",
        "event_type": "click",
        "properties": {"campaign": "618"},
        "value": 1,
        "window": {"last_days": 60},
    }
    return [
        {"type": "and", "children": [city, lipstick]},
        {"type": "not", "child": city},
        {"type": "or", "children": [clicks, {"type": "order", "op": "eq", "value": 0}]},
        {"type": "percentile", "field": "aov_fen", "percentile": 80},
        {"type": "attribute", "field": "days_since_last_order", "op": "gte", "value": 90},
        {"type": "and", "children": [{"type": "rfm", "cells": ["important_value"]}, lipstick]},
        {"type": "order", "measure": "sum_amount", "op": "gte", "value": 30_000},
        {
            "type": "order",
            "channels": ["jd", "douyin"],
            "window": {"start": "2026-01-01", "end": "2026-10-31"},
        },
        {"type": "tag", "tag_id": tag_id, "has": False},
    ]


def test_segments_are_identical_on_both_stores_duckdb_and_spark(
    db: Database, clock: SimulatedClock
) -> None:
    tenant, other = make_tenant(db, "可移植"), make_tenant(db, "别家")
    domain = build(db, clock, tenant, other)
    with db.transaction() as session:
        vip = tags.create_tag(session, tenant.principal, TagIn(name="VIP"))
        tags.add(session, tenant.principal, vip.id, [domain.c2, domain.c4])
        rules = definitions(vip.id)
        on_store = [
            sorted(session.scalars(compile_rule(r, tenant.workspace_id, NOW))) for r in rules
        ]
        # Ids differ between stores; the person behind each does not (their first contact).
        stmt = (
            select(Event.customer_id, Event.event_id)
            .where(Event.workspace_id == tenant.workspace_id, Event.event_id.like("hello-%"))
            .order_by(Event.event_id.desc())
        )
        key = {customer: first for customer, first in session.execute(stmt)}
    rendered = [render_portable(r, tenant.workspace_id, NOW) for r in rules]
    with Analytics(db) as analytics:
        on_duckdb = [sorted(c for (c,) in analytics.query(sql, p)) for sql, p in rendered]
        spark = spark_session()
        tables_to_spark(spark, analytics, TABLES)
    on_spark = [sorted(c for (c,) in spark_query(spark, sql, p)) for sql, p in rendered]
    assert on_duckdb == on_store
    assert on_spark == on_store
    assert on_store[0] == [domain.c1]
    assert on_store[-1] == sorted([domain.c1, domain.c3])
    people = [sorted(key[c] for c in members) for members in on_store]
    assert people == ANSWERS.setdefault("people", people)
