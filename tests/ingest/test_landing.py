"""The async event path: 202 with per-event errors and replays, stored once a worker resolves it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from siyu.core import outbox
from siyu.core.db import Database
from siyu.customers.models import Customer, Identity
from siyu.ingest import landing
from siyu.ingest.models import Event, EventLanding
from tests.conftest import Tenant

T0 = "2026-03-01T10:00:00+08:00"
PHONE = "13812345678"


def event(event_id: str, identifiers: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "view",
        "occurred_at": T0,
        "identifiers": identifiers,
        **extra,
    }


def send_async(client: TestClient, tenant: Tenant, *events: dict[str, Any]) -> dict[str, Any]:
    headers = {**tenant.headers, "Prefer": "respond-async"}
    response = client.post("/api/v1/events:batch", json={"events": list(events)}, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


def count(db: Database, model: Any) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def stored_ids(db: Database) -> list[str]:
    with db.transaction() as session:
        return sorted(session.scalars(select(Event.event_id)))


def test_async_batch_answers_errors_and_replays_now_and_stores_after_the_worker(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    batch = [
        event("a-1", {"phone": PHONE}),
        event("bad-phone", {"phone": "12345"}),
        event("a-1", {"phone": PHONE}),
        event("a-2", {"wechat_unionid": "u-1", "phone": PHONE}, type="sign_in"),
        event("bad-money", {"phone": PHONE}, type="purchase", amount_fen=12.5),
    ]
    result = send_async(client, tenant, *batch)
    assert (result["queued"], result["accepted"], result["duplicates"], result["rejected"]) == (
        2,
        0,
        1,
        2,
    )
    statuses = [
        (r["index"], r["status"], r["customer_id"], [e["field"] for e in r["errors"]])
        for r in result["results"]
    ]
    assert statuses == [
        (0, "queued", None, []),
        (1, "rejected", None, ["identifiers.phone"]),
        (2, "duplicate", None, []),
        (3, "queued", None, []),
        (4, "rejected", None, ["amount_fen"]),
    ]
    # Queued, not yet resolved: nothing in the graph or the event table.
    assert (count(db, EventLanding), count(db, Event), count(db, Customer)) == (2, 0, 0)
    # A replay while it waits is a duplicate too.
    again = send_async(client, tenant, event("a-1", {"phone": PHONE}))
    assert (again["queued"], again["duplicates"]) == (0, 1)
    outbox.run_due(db)
    assert stored_ids(db) == ["a-1", "a-2"]
    assert (count(db, EventLanding), count(db, Customer), count(db, Identity)) == (0, 1, 2)
    with db.transaction() as session:
        owners = set(session.scalars(select(Event.customer_id)))
        customer = session.scalars(select(Customer)).one()
    assert owners == {customer.id}
    assert customer.phone == PHONE
    # After it is stored, a replay (async or not) is still a duplicate, and nothing doubles.
    late = send_async(client, tenant, event("a-2", {"phone": PHONE}))
    assert (late["queued"], late["duplicates"]) == (0, 1)
    outbox.run_due(db)
    assert (stored_ids(db), count(db, EventLanding)) == (["a-1", "a-2"], 0)


def test_landed_payload_is_encrypted_at_rest(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    send_async(client, tenant, event("p-1", {"phone": PHONE}))
    with db.transaction() as session:
        raw = session.execute(text("SELECT payload FROM event_landing")).scalar_one()
        readable = session.scalars(select(EventLanding.payload)).one()
    assert PHONE.encode() not in bytes(raw)
    assert PHONE in readable


def test_async_batches_are_per_workspace(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    send_async(client, tenant, event("w-1", {"phone": PHONE}))
    other = send_async(client, other_tenant, event("w-1", {"phone": PHONE}))
    assert (other["queued"], other["duplicates"]) == (1, 0)
    outbox.run_due(db)
    with db.transaction() as session:
        rows = sorted(tuple(r) for r in session.execute(select(Event.workspace_id, Event.event_id)))
    assert rows == sorted([(tenant.workspace_id, "w-1"), (other_tenant.workspace_id, "w-1")])


def test_a_large_backlog_drains_in_chunks(
    client: TestClient, db: Database, tenant: Tenant, monkeypatch: Any
) -> None:
    monkeypatch.setattr(landing, "DRAIN", 3)
    events = [event(f"c-{i}", {"device_id": f"d-{i % 4}"}) for i in range(7)]
    assert send_async(client, tenant, *events)["queued"] == 7
    outbox.run_due(db)
    assert count(db, EventLanding) == 4
    outbox.run_due(db)
    outbox.run_due(db)
    assert (len(stored_ids(db)), count(db, EventLanding), count(db, Customer)) == (7, 0, 4)


def test_without_prefer_the_batch_is_stored_before_the_answer(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    response = client.post(
        "/api/v1/events:batch",
        json={"events": [event("s-1", {"phone": PHONE})]},
        headers=tenant.headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["queued"]) == (1, 0)
    assert body["results"][0]["customer_id"] is not None
    assert (stored_ids(db), count(db, EventLanding)) == (["s-1"], 0)


def test_one_waiting_drain_serves_many_batches(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    for i in range(3):
        send_async(client, tenant, event(f"m-{i}", {"device_id": "d"}))
    with db.transaction() as session:
        topics = list(
            session.scalars(
                select(outbox.OutboxMessage.status).where(
                    outbox.OutboxMessage.topic == landing.TOPIC
                )
            )
        )
    assert topics == ["pending"]
    assert outbox.run_due(db).get("done", 0) >= 1
    assert (stored_ids(db), count(db, EventLanding)) == (["m-0", "m-1", "m-2"], 0)
