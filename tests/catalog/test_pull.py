"""The scheduled pull of a supplier's inventory endpoint, against a loopback HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from siyu.catalog import service
from siyu.catalog.models import Stock, Supplier
from siyu.catalog.schemas import ProductIn, SkuIn, SupplierIn
from siyu.core import outbox
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from tests.conftest import Tenant

ANSWERS: list[Any] = []


class Inventory(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        answer = ANSWERS.pop(0) if ANSWERS else {"updates": []}
        body = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Inventory)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/stock"
    server.shutdown()
    ANSWERS.clear()


def test_the_pull_runs_on_schedule_applies_versions_and_survives_a_bad_answer(
    db: Database, tenant: Tenant, clock: SimulatedClock, endpoint: str
) -> None:
    p = tenant.principal
    ANSWERS.extend(
        [
            {"updates": [{"sku": "P-1", "on_hand": 40, "version": 3}]},
            "not json",
            {"updates": [{"sku": "P-1", "on_hand": 7, "version": 2}]},
            {"updates": [{"sku": "P-1", "on_hand": 25, "version": 4}]},
        ]
    )
    with db.transaction() as session:
        supplier = service.create_supplier(
            session, p, SupplierIn(code="S", name="拉取", inventory_url=endpoint, pull_minutes=30)
        )
        service.create_product(
            session,
            p,
            ProductIn(
                supplier_id=supplier.id,
                name="面膜",
                category="美妆",
                skus=[SkuIn(code="P-1", name="10片", price_fen=9900)],
            ),
        )
    seen = []
    for _ in range(4):
        outbox.run_due(db)
        with db.transaction() as session:
            stock = session.scalars(select(Stock)).one()
            row = session.get(Supplier, supplier.id)
            assert row is not None
            seen.append((stock.on_hand, stock.version, row.last_pull_error is not None))
        clock.advance(minutes=30)
    assert seen == [(40, 3, False), (40, 3, True), (40, 3, False), (25, 4, False)]
