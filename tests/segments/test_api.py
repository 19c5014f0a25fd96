"""Segments over the API: preview, save, bad input (nothing stored), members, export, events."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from siyu.core import outbox
from siyu.core.audit import AuditEntry
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.outbox import OutboxMessage
from siyu.ingest import service as ingest
from siyu.ingest.models import Event
from siyu.segments import tasks  # noqa: F401
from siyu.segments.models import Segment, SegmentMember
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import Role
from tests.conftest import Tenant
from tests.segments.data import Domain, build, event, order

SHANGHAI = {"type": "attribute", "field": "city", "op": "eq", "value": "上海"}
CLICKERS = {"type": "event", "event_type": "click", "op": "gte", "value": 1}


@pytest.fixture
def domain(db: Database, clock: SimulatedClock, tenant: Tenant, other_tenant: Tenant) -> Domain:
    return build(db, clock, tenant, other_tenant)


def stored(db: Database) -> tuple[int, int]:
    with db.transaction() as session:
        segments = session.scalar(select(func.count()).select_from(Segment)) or 0
        members = session.scalar(select(func.count()).select_from(SegmentMember)) or 0
    return segments, members


def save(client: TestClient, tenant: Tenant, name: str, rule: dict[str, Any]) -> Any:
    return client.post(
        "/api/v1/segments", json={"name": name, "rule": rule}, headers=tenant.headers
    )


def test_preview_counts_without_saving(
    client: TestClient, db: Database, tenant: Tenant, domain: Domain
) -> None:
    answer = client.post(
        "/api/v1/segments:preview", json={"rule": SHANGHAI}, headers=tenant.headers
    )
    assert answer.status_code == 200
    assert answer.json() == {"count": 2, "sample_ids": sorted([domain.c1, domain.c3])}
    assert stored(db) == (0, 0)


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"type": "attribute", "field": "shoe_size", "op": "eq", "value": 1}, "rule.field"),
        (
            {"type": "and", "children": [SHANGHAI, {"type": "tag", "tag_id": 999_999}]},
            "rule.children.1.tag_id",
        ),
        (
            {
                "type": "or",
                "children": [SHANGHAI, CLICKERS, CLICKERS | {"window": {"last_days": -3}}],
            },
            "rule.children.2.window.last_days",
        ),
        (
            {"type": "order", "window": {"start": "2026-05-01"}},
            "rule.window",
        ),
        (
            {
                "type": "attribute",
                "field": "city",
                "op": "eq",
                "value": "上海'; DROP TABLE customer; --",
            },
            "rule.value",
        ),
        (
            {"type": "event", "event_type": "click", "properties": {"a') OR 1=1 --": "x"}},
            "rule.properties",
        ),
        ({"type": "segment", "segment_id": 424_242}, "rule.segment_id"),
        # Every other string a rule carries is checked the same way.
        ({"type": "order", "categories": ['口红"; DELETE FROM orders --']}, "rule.categories"),
        ({"type": "order", "stores": ["上海店' OR '1'='1"]}, "rule.stores"),
        ({"type": "order", "touchpoints": ["card/**/"]}, "rule.touchpoints"),
        (
            {"type": "event", "event_type": "click", "properties": {"campaign": "618' OR 1=1"}},
            "rule.properties",
        ),
        ({"type": "event", "event_type": "click", "name": "x;y"}, "rule.name"),
        (
            {"type": "attribute", "field": "city", "op": "in", "value": ["上海", "x' OR 'a'='a"]},
            "rule.value",
        ),
        (
            {"type": "attribute", "field": "city; DROP TABLE customer", "op": "eq", "value": "x"},
            "rule.field",
        ),
        # Unknown names of events, channels, stages, cells and node types.
        ({"type": "event", "event_type": "teleport"}, "rule.event_type"),
        ({"type": "order", "channels": ["myspace"]}, "rule.channels.0"),
        ({"type": "lifecycle", "stages": ["zombie"]}, "rule.stages.0"),
        ({"type": "rfm", "cells": ["best"]}, "rule.cells.0"),
        ({"type": "xor", "children": []}, "rule"),
        # Malformed windows.
        ({"type": "order", "window": {"start": "2026-06-01", "end": "2026-05-01"}}, "rule.window"),
        (
            {
                "type": "order",
                "window": {"last_days": 30, "start": "2026-05-01", "end": "2026-06-01"},
            },
            "rule.window",
        ),
        (
            {"type": "order", "window": {"start": "2026-13-45", "end": "2026-06-01"}},
            "rule.window.start",
        ),
        ({"type": "order", "window": {"last_days": "thirty"}}, "rule.window.last_days"),
    ],
)
def test_bad_rules_name_the_path_and_store_nothing(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    domain: Domain,
    rule: dict[str, Any],
    field: str,
) -> None:
    answer = save(client, tenant, "坏规则", rule)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == field
    assert stored(db) == (0, 0)
    preview = client.post("/api/v1/segments:preview", json={"rule": rule}, headers=tenant.headers)
    assert preview.status_code == 422


def test_a_cycle_of_segments_is_refused_and_nothing_changes(
    client: TestClient, db: Database, tenant: Tenant, domain: Domain
) -> None:
    a = save(client, tenant, "A", SHANGHAI).json()
    b = save(client, tenant, "B", {"type": "segment", "segment_id": a["id"]}).json()
    assert b["size"] == 2
    cyclic = {"rule": {"type": "not", "child": {"type": "segment", "segment_id": b["id"]}}}
    answer = client.patch(f"/api/v1/segments/{a['id']}", json=cyclic, headers=tenant.headers)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "rule.child.segment_id"
    again = client.get(f"/api/v1/segments/{a['id']}", headers=tenant.headers).json()
    assert again["rule"] == a["rule"]
    used = client.delete(f"/api/v1/segments/{a['id']}", headers=tenant.headers)
    assert used.status_code == 409
    assert stored(db) == (2, 4)


def test_self_reference_a_longer_cycle_and_foreign_references_are_refused(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant, domain: Domain
) -> None:
    a = save(client, tenant, "A", SHANGHAI).json()
    b = save(client, tenant, "B", {"type": "segment", "segment_id": a["id"]}).json()
    c = save(client, tenant, "C", {"type": "segment", "segment_id": b["id"]}).json()
    before = stored(db)
    url = f"/api/v1/segments/{a['id']}"
    for rule, field, reason in [
        ({"type": "segment", "segment_id": a["id"]}, "rule.segment_id", "itself"),
        (
            {"type": "and", "children": [SHANGHAI, {"type": "segment", "segment_id": c["id"]}]},
            "rule.children.1.segment_id",
            "a cycle",
        ),
    ]:
        answer = client.patch(url, json={"rule": rule}, headers=tenant.headers)
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == field
        assert reason in answer.json()["errors"][0]["reason"]
    assert client.get(url, headers=tenant.headers).json()["rule"] == SHANGHAI
    assert stored(db) == before
    # Another workspace's segment is as unknown as a missing one.
    foreign = save(client, other_tenant, "他人", {"type": "segment", "segment_id": a["id"]})
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["field"] == "rule.segment_id"
    assert stored(db) == before


def test_members_paginate_and_other_workspace_gets_404(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, domain: Domain
) -> None:
    created = save(client, tenant, "上海", SHANGHAI)
    assert created.status_code == 201
    segment = created.json()
    url = f"/api/v1/segments/{segment['id']}/members"
    first = client.get(url, params={"limit": 1}, headers=tenant.headers).json()
    assert [m["customer_id"] for m in first["items"]] == [min(domain.c1, domain.c3)]
    second = client.get(
        url, params={"limit": 1, "cursor": first["next_cursor"]}, headers=tenant.headers
    ).json()
    assert [m["customer_id"] for m in second["items"]] == [max(domain.c1, domain.c3)]
    assert client.get(url, headers=other_tenant.headers).status_code == 404
    sizes = client.get(f"/api/v1/segments/{segment['id']}/sizes", headers=tenant.headers)
    assert sizes.json()[-1] == {"day": "2026-12-01", "size": 2}


def test_idempotent_create(
    client: TestClient, db: Database, tenant: Tenant, domain: Domain
) -> None:
    headers = tenant.headers | {"Idempotency-Key": "seg-1"}
    body = {"name": "上海", "rule": SHANGHAI}
    one = client.post("/api/v1/segments", json=body, headers=headers)
    two = client.post("/api/v1/segments", json=body, headers=headers)
    assert one.status_code == two.status_code == 201
    assert one.json() == two.json()
    assert stored(db) == (1, 2)


def _key(db: Database, tenant: Tenant, role: Role) -> dict[str, str]:
    with db.transaction() as session:
        _, key = workspaces.create_api_key(session, tenant.principal, f"{role}", role)
    return {"Authorization": f"Bearer {key}"}


def test_export_with_pii_is_role_gated_and_audited(
    client: TestClient, db: Database, tenant: Tenant, domain: Domain
) -> None:
    segment = save(client, tenant, "上海", SHANGHAI).json()
    url = f"/api/v1/segments/{segment['id']}/export"
    full = client.get(url, params={"pii": "true"}, headers=tenant.headers)
    assert full.status_code == 200
    table = list(csv.reader(io.StringIO(full.content.decode("utf-8-sig"))))
    assert table[0] == ["customer_id", "name", "phone", "city", "province", "gender", "since"]
    assert sorted(r[2] for r in table[1:]) == ["13800000001", "13800000003"]
    analyst = _key(db, tenant, Role.analyst)
    denied = client.get(url, params={"pii": "true"}, headers=analyst)
    assert denied.status_code == 403
    plain = client.get(url, params={"format": "xlsx"}, headers=analyst)
    assert plain.status_code == 200
    sheet = load_workbook(io.BytesIO(plain.content)).active
    assert sheet is not None
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0] == ["customer_id", "city", "province", "gender", "since"]
    assert sorted(r[0] for r in values[1:]) == sorted([domain.c1, domain.c3])
    with db.transaction() as session:
        entries = session.execute(
            select(AuditEntry.outcome, AuditEntry.detail).where(AuditEntry.action == "export")
        ).all()
    assert sorted((o, d.get("pii")) for o, d in entries) == [
        ("denied", None),
        ("ok", False),
        ("ok", True),
    ]


def test_new_events_move_customers_in_and_out_incrementally(
    client: TestClient, db: Database, clock: SimulatedClock, tenant: Tenant, domain: Domain
) -> None:
    rule = CLICKERS | {"window": {"last_days": 30}}
    segment = save(client, tenant, "近30天点击", rule).json()
    assert segment["size"] == 1  # c3 only: c1's click was 40 days ago
    with db.transaction() as session:
        ingest.ingest_events(session, tenant.principal, [event("n1", 2, "click", 0)])
        ingest.upsert_orders(session, tenant.principal, [order("n2", 4, 0, 100, "口红")])
    for _ in range(3):
        outbox.run_due(db)
    with db.transaction() as session:
        members = set(
            session.scalars(
                select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment["id"])
            )
        )
        entered = session.execute(
            select(Event.customer_id, Event.properties).where(Event.type == "segment_entered")
        ).all()
        outcomes = set(
            session.scalars(
                select(OutboxMessage.status).where(OutboxMessage.topic == "segments.incremental")
            )
        )
    assert members == {domain.c2, domain.c3}
    assert entered == [(domain.c2, {"segment_id": segment["id"]})]
    assert outcomes == {"done"}
    # Time alone moves c3 out: the nightly full pass sees it.
    clock.advance(days=31)
    answer = client.post(f"/api/v1/segments/{segment['id']}/refresh", headers=tenant.headers)
    assert answer.json() == {"entered": 0, "exited": 2, "size": 0}
