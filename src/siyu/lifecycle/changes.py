"""A change of lifecycle stage: an event on the customer's timeline and a signal for journeys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from siyu.core import signals
from siyu.core.db import bulk_insert, table_of
from siyu.ingest.models import Event

EVENT_TYPE = "lifecycle_stage_changed"
SIGNAL_CHUNK = 1000  # changes per signal payload, so a big nightly pass stays in small messages


@dataclass(frozen=True)
class Change:
    """One customer moved from one stage to another."""

    customer_id: int
    before: str
    after: str


def record_changes(
    session: Session, workspace_id: int, changes: list[Change], at: datetime
) -> None:
    """Write one event per change and emit LIFECYCLE_STAGE_CHANGED in chunks."""
    if not changes:
        return
    stamp = int(at.timestamp() * 1000)
    bulk_insert(
        session,
        table_of(Event),
        [
            {
                "workspace_id": workspace_id,
                "event_id": f"lifecycle:{c.customer_id}:{stamp}:{c.after}",
                "customer_id": c.customer_id,
                "identity_id": None,
                "type": EVENT_TYPE,
                "name": c.after,
                "source": "lifecycle",
                "occurred_at": at,
                "received_at": at,
                "amount_fen": None,
                "properties": {"from": c.before, "to": c.after},
            }
            for c in changes
        ],
    )
    for start in range(0, len(changes), SIGNAL_CHUNK):
        chunk = changes[start : start + SIGNAL_CHUNK]
        signals.emit(
            session,
            workspace_id,
            signals.LIFECYCLE_STAGE_CHANGED,
            {
                "at": at.isoformat(),
                "changes": [
                    {"customer_id": c.customer_id, "from": c.before, "to": c.after} for c in chunk
                ],
            },
        )
