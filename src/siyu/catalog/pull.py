"""The scheduled pull of a supplier's inventory endpoint (for suppliers that can't push)."""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta

from pydantic import ValidationError

from siyu.catalog.models import Supplier
from siyu.catalog.schemas import StockBatch, StockResult
from siyu.core import outbox
from siyu.core.clock import now
from siyu.core.errors import SiyuError

PULL_TOPIC = "catalog.pull"
TIMEOUT_SECONDS = 10


def fetch(url: str) -> StockBatch:
    """GET the supplier's endpoint: {"updates": [{"sku", "on_hand", "version"}, ...]}."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        return StockBatch.model_validate(json.loads(response.read()))


def pull(session: outbox.Session, supplier: Supplier) -> list[StockResult]:
    """Pull once and apply; a failure is recorded on the supplier and the schedule goes on."""
    from siyu.catalog.service import apply_supplier_stock

    supplier.last_pulled_at = now()
    try:
        assert supplier.inventory_url
        with session.begin_nested():
            results = apply_supplier_stock(session, supplier, fetch(supplier.inventory_url).updates)
    except (OSError, ValueError, ValidationError, SiyuError) as exc:
        supplier.last_pull_error = f"{type(exc).__name__}: {exc}"[:500]
        return []
    supplier.last_pull_error = None
    return results


@outbox.handler(PULL_TOPIC)
def _pull(session: outbox.Session, message: outbox.OutboxMessage) -> None:
    from siyu.catalog.service import schedule_pull

    supplier = session.get(Supplier, message.payload["supplier_id"])
    if supplier is None or not supplier.inventory_url or not supplier.pull_minutes:
        return
    pull(session, supplier)
    schedule_pull(session, supplier, now() + timedelta(minutes=supplier.pull_minutes))
