"""The built-in sandbox channel: stores what would be sent, for demos and the console."""

from __future__ import annotations

from siyu.channels.models import SandboxMessage
from siyu.channels.providers.base import Outgoing, Provider, Sent
from siyu.core.clock import now


class SandboxProvider(Provider):
    """Writes a SandboxMessage row; acceptance is delivery."""

    def send(self, out: Outgoing) -> Sent:
        """Store the message instead of sending it."""
        row = SandboxMessage(
            workspace_id=self.setup.workspace_id,
            touch_id=out.touch_id,
            customer_id=out.customer_id,
            subject=out.subject,
            body=out.text,
            created_at=now(),
        )
        self.setup.session.add(row)
        self.setup.session.flush()
        return Sent(message_id=f"sandbox-{row.id}", delivered=True)
