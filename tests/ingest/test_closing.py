"""A stored order reported cancelled or closed (交易关闭) is closed and signalled, once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core import signals
from siyu.core.db import Database
from siyu.core.outbox import OutboxMessage
from siyu.ingest.importers import import_file
from siyu.ingest.models import Order
from tests.conftest import Tenant
from tests.ingest.files import TMALL_HEADERS, tmall_row, write_csv


def cancellations(db: Database) -> list[Any]:
    """The order ids of every ORDER_CANCELLED message (one per subscriber, deduplicated)."""
    with db.transaction() as session:
        payloads = session.scalars(select(OutboxMessage.payload).order_by(OutboxMessage.id))
        found = [p["order_ids"] for p in payloads if p.get("signal") == signals.ORDER_CANCELLED]
    return sorted({tuple(ids) for ids in found}) if found else []


def statuses(db: Database) -> dict[str, str]:
    with db.transaction() as session:
        return dict(session.execute(select(Order.external_id, Order.status)).all())


def test_a_tmall_file_that_closes_stored_orders_cancels_them_once(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    first = [tmall_row("T1", "n1", "13800000001"), tmall_row("T2", "n2", "13800000002")]
    assert (
        import_file(db, tenant.principal, write_csv(tmp_path / "a.csv", TMALL_HEADERS, first)).ok
        == 2
    )
    closed = [
        tmall_row("T1", "n1", "13800000001", status="交易关闭"),
        tmall_row("T2", "n2", "13800000002"),
        tmall_row("T3", "n3", "13800000003", status="交易关闭"),
    ]
    path = write_csv(tmp_path / "b.csv", TMALL_HEADERS, closed)
    result = import_file(db, tenant.principal, path)
    assert (result.ok, result.duplicate) == (1, 2)
    assert statuses(db) == {"T1": "cancelled", "T2": "completed", "T3": "cancelled"}
    with db.transaction() as session:
        ids = dict(session.execute(select(Order.external_id, Order.id)).all())
    assert cancellations(db) == [(ids["T1"], ids["T3"])]
    # The same file again: nothing new is closed, nothing is signalled.
    import_file(db, tenant.principal, path)
    assert cancellations(db) == [(ids["T1"], ids["T3"])]
    assert statuses(db) == {"T1": "cancelled", "T2": "completed", "T3": "cancelled"}


def test_the_orders_api_closes_a_stored_order_and_a_refunded_one_stays_refunded(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    order = {
        "external_id": "W1",
        "channel": "wechat",
        "ordered_at": "2026-01-05T10:00:00+08:00",
        "total_fen": 5000,
        "paid_fen": 5000,
        "identifiers": {"phone": "13900000001"},
    }
    h = tenant.headers
    assert client.post("/api/v1/orders", json=order, headers=h).status_code == 201
    again = client.post("/api/v1/orders", json={**order, "status": "cancelled"}, headers=h)
    assert (again.status_code, again.json()["status"]) == (200, "cancelled")
    assert (
        client.post("/api/v1/orders", json={**order, "external_id": "W2"}, headers=h).status_code
        == 201
    )
    with db.transaction() as session:
        w2 = session.scalars(select(Order.id).where(Order.external_id == "W2")).one()
    refund = {"external_id": "R", "amount_fen": 5000}
    assert client.post(f"/api/v1/orders/{w2}/refunds", json=refund, headers=h).status_code == 201
    closed = client.post(
        "/api/v1/orders", json={**order, "external_id": "W2", "status": "cancelled"}, headers=h
    )
    assert (closed.status_code, closed.json()["status"]) == (200, "refunded")
    assert statuses(db) == {"W1": "cancelled", "W2": "refunded"}
    assert len(cancellations(db)) == 1
