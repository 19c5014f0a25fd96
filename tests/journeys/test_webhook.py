"""A webhook step: queued in the step's transaction, then POSTed signed to a real local server."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from siyu.core import outbox
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.journeys import engine, service, triggers
from siyu.journeys.models import Journey
from tests.conftest import Tenant
from tests.journeys.helpers import make_customers

SECRET = "s3cret"


def test_webhook_is_signed_and_sent_once(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    (customer,) = make_customers(db, tenant.workspace_id, 1)
    data = {
        "name": "回调",
        "trigger": {"type": "manual"},
        "start": "call",
        "steps": [{"key": "call", "type": "webhook", "url": url, "secret": SECRET}],
    }
    try:
        with db.transaction() as session:
            journey = service.create(session, tenant.principal, data)
            service.set_status(session, tenant.principal, journey.id, "active")
            found = session.get(Journey, journey.id)
            assert found is not None
            triggers.enter_manually(session, found, [customer], "w")
        assert engine.run_due(db) == 1
        while outbox.run_due(db):
            pass
    finally:
        server.shutdown()
    ((headers, body),) = received
    assert (
        headers["X-Siyu-Signature"] == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    )
    payload = json.loads(body)
    assert (payload["customer_id"], payload["step"], payload["journey_id"]) == (
        customer,
        "call",
        journey.id,
    )
    assert headers["Idempotency-Key"] == f"journey:{payload['run_id']}:call"
