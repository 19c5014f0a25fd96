"""The built-in sandbox channel: stores what would be sent, for demos and the console."""

from __future__ import annotations

from siyu.channels.models import SandboxMessage
from siyu.channels.providers.base import Outgoing, Provider, Sent
from siyu.core.clock import now
from siyu.core.db import bulk_insert, reserve_ids, table_of


class SandboxProvider(Provider):
    """Writes a SandboxMessage row; acceptance is delivery."""

    def send(self, out: Outgoing) -> Sent:
        """Store the message instead of sending it."""
        return self.send_many([out])[0]

    def send_many(self, outs: list[Outgoing]) -> list[Sent]:
        """Store many messages in one bulk insert."""
        session = self.setup.session
        ids = reserve_ids(session, table_of(SandboxMessage), len(outs))
        at = now()
        rows = [
            {
                "id": row_id,
                "workspace_id": self.setup.workspace_id,
                "touch_id": out.touch_id,
                "customer_id": out.customer_id,
                "subject": out.subject,
                "body": out.text,
                "created_at": at,
            }
            for row_id, out in zip(ids, outs, strict=True)
        ]
        bulk_insert(session, table_of(SandboxMessage), rows)
        return [Sent(message_id=f"sandbox-{row_id}", delivered=True) for row_id in ids]
