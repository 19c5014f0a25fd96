"""The journeys API: CRUD and versions, import/export, scoping, entry, triggers, goal, metrics."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.journeys import engine
from siyu.journeys.models import Journey, JourneyRun
from tests.conftest import Tenant
from tests.journeys.helpers import drain, signals_delivered, simple


def _count(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count(Journey.id))) or 0)


def test_create_edit_version_export_import(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "j-1"}
    made = client.post("/api/v1/journeys", json=simple(), headers=headers)
    assert made.status_code == 201, made.text
    again = client.post("/api/v1/journeys", json=simple(), headers=headers)
    assert (again.status_code, again.json()["id"]) == (201, made.json()["id"])
    journey_id = made.json()["id"]
    assert (made.json()["status"], made.json()["version"]) == ("draft", 1)
    edited = simple(description="改过")
    put = client.put(f"/api/v1/journeys/{journey_id}", json=edited, headers=tenant.headers)
    assert (put.status_code, put.json()["version"]) == (200, 2)
    versions = client.get(f"/api/v1/journeys/{journey_id}/versions", headers=tenant.headers)
    assert [v["number"] for v in versions.json()] == [1, 2]
    text = client.get(f"/api/v1/journeys/{journey_id}/export", headers=tenant.headers).text
    assert "description: 改过" in text
    renamed = text.replace("name: 测试旅程", "name: 导入的旅程")
    imported = client.post(
        "/api/v1/journeys:import", content=renamed.encode(), headers=tenant.headers
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["definition"]["steps"] == put.json()["definition"]["steps"]
    hidden = client.get(f"/api/v1/journeys/{journey_id}", headers=other_tenant.headers)
    assert hidden.status_code == 404
    listing = client.get("/api/v1/journeys", headers=other_tenant.headers).json()
    assert listing["items"] == []


def test_an_invalid_journey_is_refused_and_nothing_written(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    data = simple()
    data["steps"].append({"key": "lost", "type": "exit"})
    before = _count(db)
    answer = client.post(
        "/api/v1/journeys", json=data, headers={**tenant.headers, "Accept-Language": "en"}
    )
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"field": "steps.lost", "reason": "is unreachable from the start"}
    ]
    assert answer.json()["message"] == "Field steps.lost is invalid: is unreachable from the start"
    garbage = client.post("/api/v1/journeys:import", content=b"{{{", headers=tenant.headers)
    assert garbage.status_code == 422
    assert _count(db) == before


def test_event_trigger_goal_revenue_and_metrics(
    client: TestClient, db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    data = simple(
        "加好友欢迎",
        trigger={"type": "event", "event": "add_contact", "where": {"source": "wecom"}},
        goal={"event": "order", "within_days": 7},
    )
    journey_id = client.post("/api/v1/journeys", json=data, headers=tenant.headers).json()["id"]
    assert (
        client.post(f"/api/v1/journeys/{journey_id}/enable", headers=tenant.headers).json()[
            "status"
        ]
        == "active"
    )
    events = [
        {
            "event_id": f"e{i}",
            "type": "add_contact",
            "occurred_at": clock.now().isoformat(),
            "identifiers": {"phone": f"1380000000{i}"},
            "properties": {"source": source},
        }
        for i, source in enumerate(("wecom", "wecom", "store"))
    ]
    batch = client.post("/api/v1/events:batch", json={"events": events}, headers=tenant.headers)
    assert batch.json()["accepted"] == 3
    signals_delivered(db)
    with db.transaction() as session:
        runs = list(session.scalars(select(JourneyRun).order_by(JourneyRun.id)))
    assert len(runs) == 2  # the store contact does not match the property filter
    assert engine.run_due(db) == 2  # both welcomed; both wait a day
    order = {
        "external_id": "T1",
        "channel": "tmall",
        "ordered_at": clock.now().isoformat(),
        "total_fen": 5990,
        "paid_fen": 5990,
        "identifiers": {"phone": "13800000000"},
    }
    assert client.post("/api/v1/orders", json=order, headers=tenant.headers).status_code in (
        200,
        201,
    )
    signals_delivered(db)
    drain(db, clock)
    figures = client.get(f"/api/v1/journeys/{journey_id}/metrics", headers=tenant.headers).json()
    assert (figures["entered"], figures["converted"], figures["revenue_fen"]) == (2, 1, 5990)
    assert (figures["completed"], figures["active"]) == (1, 0)
    steps = {s["key"]: s for s in figures["steps"]}
    # The converted run left before its wait ended: one send each, one task.
    assert (steps["hello"]["sent"], steps["pause"]["executed"], steps["call"]["executed"]) == (
        2,
        1,
        1,
    )
    tasks = client.get("/api/v1/journey-tasks", headers=tenant.headers).json()["items"]
    assert [(t["title"], t["status"]) for t in tasks] == [("回访", "open")]
    done = client.post(f"/api/v1/journey-tasks/{tasks[0]['id']}/done", headers=tenant.headers)
    assert done.json()["status"] == "done"


def test_builtin_sops_install_and_validate(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    keys = [s["key"] for s in client.get("/api/v1/journey-sops", headers=tenant.headers).json()]
    assert keys == [
        "new_customer_48h",
        "first_order_tagging",
        "vip_care",
        "dormant_recall",
        "member_day",
        "birthday",
    ]
    for key in keys:
        made = client.post(
            f"/api/v1/journey-sops/{key}",
            json={"channel": "sandbox", "sms_channel": "sandbox"},
            headers=tenant.headers,
        )
        assert made.status_code == 201, made.text
        assert made.json()["sop"] == key
    # The SOP as shipped names WeCom, which this workspace has not set up.
    refused = client.post(
        "/api/v1/journey-sops/member_day", json={"name": "x"}, headers=tenant.headers
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "steps.announce"
