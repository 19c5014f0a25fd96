"""Tracked short links (/l/{code}: redirect and a click event) and link-based unsubscribe
(/u/{token}: a signed customer + channel)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.channels.models import ShortLink
from siyu.core.auth import system_principal
from siyu.core.clock import now
from siyu.core.crypto import get_keyring
from siyu.customers.identifiers import DEFAULT_STRONG
from siyu.customers.models import Consent, Identity


def unsubscribe_url(base: str, workspace_id: int, customer_id: int, channel: str) -> str:
    """A link that unsubscribes this customer from marketing on this channel."""
    return f"{base}/u/{unsubscribe_token(workspace_id, customer_id, channel)}"


def unsubscribe_token(workspace_id: int, customer_id: int, channel: str) -> str:
    """workspace.customer.channel, signed, URL-safe."""
    raw = f"{workspace_id}.{customer_id}.{channel}"
    signature = get_keyring().sign(f"unsubscribe:{raw}")[:20]
    return base64.urlsafe_b64encode(f"{raw}.{signature}".encode()).decode().rstrip("=")


def read_unsubscribe_token(token: str) -> tuple[int, int, str] | None:
    """The (workspace, customer, channel) a token names, or None if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        ws, customer, channel, signature = raw.split(".")
    except (ValueError, UnicodeDecodeError):
        return None
    expected = get_keyring().sign(f"unsubscribe:{ws}.{customer}.{channel}")[:20]
    if signature != expected or not ws.isdigit() or not customer.isdigit():
        return None
    return int(ws), int(customer), channel


def record_consent(
    session: Session,
    workspace_id: int,
    customer_id: int,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
) -> Consent:
    """Append a consent row: the latest per channel and purpose wins."""
    row = Consent(
        workspace_id=workspace_id,
        customer_id=customer_id,
        channel=channel,
        purpose=purpose,
        granted=granted,
        source=source,
        at=now(),
    )
    session.add(row)
    session.flush()
    return row


def find_link(session: Session, code: str) -> ShortLink | None:
    """The short link with this code."""
    return session.scalars(select(ShortLink).where(ShortLink.code == code)).first()


def identifiers_for(session: Session, workspace_id: int, customer_id: int) -> dict[str, str]:
    """One identifier of the customer (strong first), so an event resolves back to them."""
    rows = session.scalars(
        select(Identity).where(
            Identity.workspace_id == workspace_id, Identity.customer_id == customer_id
        )
    ).all()
    rows = sorted(rows, key=lambda r: (r.type not in DEFAULT_STRONG, r.id))
    return {rows[0].type: rows[0].value} if rows else {}


def click(session: Session, link: ShortLink, click_id: str | None) -> bool:
    """Record a click event for the link's customer; a replayed click id counts once."""
    from siyu.ingest.service import ingest_events

    click_id = (click_id or uuid.uuid4().hex)[:64]
    identifiers = identifiers_for(session, link.workspace_id, link.customer_id)
    if not identifiers:
        return False
    event: dict[str, Any] = {
        "event_id": f"click:{link.code}:{click_id}",
        "type": "click",
        "occurred_at": now().isoformat(),
        "identifiers": identifiers,
        "source": "short_link",
        "properties": {"url": link.url, "touch_id": link.touch_id, "code": link.code},
    }
    result = ingest_events(session, system_principal(link.workspace_id), [event])
    if result.accepted:
        link.clicks += 1
        session.flush()
    return result.accepted == 1
