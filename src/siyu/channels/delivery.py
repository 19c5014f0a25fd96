"""Delivery after commit: the outbox handler sends a touch through its channel's Provider,
with per-channel token buckets, exponential backoff, a dead-letter state and receipts.

Sending is at-least-once at the provider boundary (a crash after the provider answered and
before commit sends again on retry); Aliyun's OutId and Tencent's SessionContext carry the
touch id so the provider side can tell. In our store every touch ends in exactly one state.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.channels import frequency
from siyu.channels.models import PENDING, ChannelConfig, RateBucket, Touch
from siyu.channels.providers import Outgoing, ProviderError, ProviderSetup, Sent, provider_for
from siyu.channels.providers.sandbox import SandboxProvider
from siyu.core import outbox
from siyu.core.clock import now
from siyu.core.db import bulk_update, one_of, table_of
from siyu.core.outbox import OutboxMessage
from siyu.customers.models import Customer, Identity

DELIVER = "channels.deliver"
MAX_ATTEMPTS = 5
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """30 s, 60 s, 120 s ... capped at an hour."""
    return min(BASE_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def setup_for(session: Session, config: ChannelConfig) -> ProviderSetup:
    """What a provider needs from a config (secrets decrypted here, never logged)."""
    return ProviderSetup(
        session=session,
        workspace_id=config.workspace_id,
        channel=config.channel,
        provider=config.provider,
        base_url=config.base_url,
        options=dict(config.options or {}),
        secrets=json.loads(config.secrets) if config.secrets else {},
    )


def sandbox_setup(session: Session, workspace_id: int) -> ProviderSetup:
    """The sandbox needs no config."""
    return ProviderSetup(session, workspace_id, "sandbox", "sandbox", None, {}, {})


@outbox.handler(DELIVER)
def deliver(session: Session, message: OutboxMessage) -> None:
    """Send one queued touch (or leave it if it was displaced, suppressed or already sent)."""
    touch = session.get(Touch, int(message.payload["touch_id"]))
    if touch is None or touch.status not in PENDING:
        return
    if not _ready(session, touch.workspace_id, [(touch.id, touch.customer_id)]):
        return
    setup = _setup(session, touch)
    if setup is None:
        touch.status, touch.reason = "failed", "channel_not_configured"
        return
    if setup.provider != "sandbox":
        wait = take_token(session, touch.workspace_id, touch.channel, setup)
        if wait > 0:
            return requeue(session, touch, now() + timedelta(seconds=wait))
    _attempt(session, touch, setup)


@outbox.batch_handler(DELIVER)
def deliver_many(session: Session, messages: list[OutboxMessage]) -> set[int]:
    """Sandbox deliveries of a batch in a few statements; other channels' touches are left to
    `deliver` (a provider call each, in its own transaction). Returns the messages done."""
    by_touch: dict[int, list[int]] = {}
    for message in messages:
        by_touch.setdefault(int(message.payload["touch_id"]), []).append(message.id)
    heads = session.execute(
        select(Touch.id, Touch.workspace_id, Touch.customer_id, Touch.channel).where(
            one_of(session, Touch.id, sorted(by_touch))
        )
    ).all()
    left = {i for h in heads if h.channel != "sandbox" for i in by_touch[h.id]}
    by_workspace: dict[int, list[tuple[int, int]]] = {}
    for h in heads:
        if h.channel == "sandbox":
            by_workspace.setdefault(h.workspace_id, []).append((h.id, h.customer_id))
    for workspace_id, touches in by_workspace.items():
        _deliver_sandbox(session, workspace_id, touches)
    return {m.id for m in messages} - left


# What a batch delivery reads and writes of a touch, as plain rows: ORM instances (a load with
# populate_existing, then a flush of per-row UPDATEs) cost more than the delivery itself.
_READ: tuple[Any, ...] = (Touch.id, Touch.customer_id, Touch.channel, Touch.purpose)
_READ += (Touch.status, Touch.reason, Touch.detail, Touch.defer_until, Touch.rendered)
_READ += (Touch.attempts, Touch.provider_message_id, Touch.sent_at, Touch.delivered_at)


def _deliver_sandbox(session: Session, workspace_id: int, touches: list[tuple[int, int]]) -> None:
    """`_ready` and `record_sent` for many sandbox touches, in a few statements."""
    frequency.lock_contacts(session, workspace_id, [c for _, c in touches])
    ids = sorted(t for t, _ in touches)
    rows = session.execute(select(*_READ).where(one_of(session, Touch.id, ids))).all()
    found = sorted((r for r in rows if r.status in PENDING), key=lambda r: r.id)
    who = [r.customer_id for r in found]
    consent = frequency.consent_rows(session, workspace_id, who, {r.channel for r in found})
    at = now()
    ready, changes = [], []
    later: list[tuple[dict[str, Any], int | None, str | None, datetime | None]] = []
    for r in found:
        verdict = _verdict(r, consent, at)
        if verdict is _LATER:
            later.append(({"touch_id": r.id}, workspace_id, None, r.defer_until))
        elif verdict:
            changes.append({**_state(r, at), "status": "suppressed", "reason": verdict})
        else:
            ready.append(r)
    provider = SandboxProvider(sandbox_setup(session, workspace_id))
    # The sandbox's recipient is the customer id (no customer row to read).
    outs = [_outgoing(r.id, r.customer_id, r.rendered, str(r.customer_id)) for r in ready]
    for r, sent in zip(ready, provider.send_many(outs), strict=True):
        changes.append(_sent(_state(r, at), sent))
    outbox.enqueue_many(session, DELIVER, later)
    bulk_update(session, table_of(Touch), "id", changes)


def _state(row: Any, at: datetime) -> dict[str, Any]:
    """The columns a delivery may change, as they are (and the update time)."""
    return {
        "id": row.id,
        "status": row.status,
        "reason": row.reason,
        "detail": row.detail,
        "attempts": row.attempts,
        "provider_message_id": row.provider_message_id,
        "sent_at": row.sent_at,
        "delivered_at": row.delivered_at,
        "updated_at": at,
    }


def _sent(state: dict[str, Any], sent: Sent) -> dict[str, Any]:
    """`record_sent` on a row's state."""
    state.update(_sent_values(sent, state["updated_at"], state["attempts"]))
    return state


def _sent_values(sent: Sent, at: datetime, attempts: int) -> dict[str, Any]:
    """What the provider taking a touch changes: sent, or delivered when acceptance is."""
    values = {
        "status": "delivered" if sent.delivered else "sent",
        "provider_message_id": sent.message_id[:128],
        "sent_at": at,
        "reason": None,
        "detail": None,
        "attempts": attempts + 1,
    }
    if sent.delivered:
        values["delivered_at"] = at
    return values


_LATER = "later"


def _verdict(
    touch: Any, consent: dict[int, list[frequency.ConsentRow]], at: datetime
) -> str | None:
    """_LATER while deferred, the reason consent blocks it, or None: send it now (a Touch or a
    plain row with its columns)."""
    if touch.defer_until is not None and touch.defer_until > at:
        return _LATER
    return frequency.block_of(consent.get(touch.customer_id, []), touch.channel, touch.purpose)


def _ready(session: Session, workspace_id: int, touches: list[tuple[int, int]]) -> list[Touch]:
    """Of (touch id, customer id) pairs, the touches to send now, read under their customers'
    locks (which serialize this with a displacing decision in `send`); a deferred one is
    requeued, a blocked one suppressed."""
    frequency.lock_contacts(session, workspace_id, [c for _, c in touches])
    stmt = (
        select(Touch)
        .where(one_of(session, Touch.id, sorted(t for t, _ in touches)))
        .order_by(Touch.id)
        .execution_options(populate_existing=True)
    )
    found = [t for t in session.scalars(stmt) if t.status in PENDING]
    channels = {t.channel for t in found}
    who = [t.customer_id for t in found]
    consent = frequency.consent_rows(session, workspace_id, who, channels)
    ready, at = [], now()
    for touch in found:
        verdict = _verdict(touch, consent, at)
        if verdict is _LATER:
            assert touch.defer_until is not None
            requeue(session, touch, touch.defer_until)
        elif verdict:
            touch.status, touch.reason = "suppressed", verdict
        else:
            ready.append(touch)
    return ready


def _setup(session: Session, touch: Touch) -> ProviderSetup | None:
    if touch.channel == "sandbox":
        return sandbox_setup(session, touch.workspace_id)
    config = session.scalars(
        select(ChannelConfig).where(
            ChannelConfig.workspace_id == touch.workspace_id,
            ChannelConfig.channel == touch.channel,
        )
    ).first()
    return setup_for(session, config) if config is not None and config.enabled else None


def _attempt(session: Session, touch: Touch, setup: ProviderSetup) -> None:
    out = outgoing(touch, recipient(session, touch))
    try:
        sent = provider_for(setup).send(out)
    except ProviderError as exc:
        return record_failure(session, touch, exc)
    record_sent(touch, sent)


def outgoing(touch: Touch, to: str | None) -> Outgoing:
    """The provider's view of a touch: its rendered message for one recipient."""
    return _outgoing(touch.id, touch.customer_id, touch.rendered, to)


def _outgoing(
    touch_id: int, customer_id: int, rendered_json: str | None, to: str | None
) -> Outgoing:
    rendered = json.loads(rendered_json or "{}")
    return Outgoing(
        touch_id=touch_id,
        customer_id=customer_id,
        to=to,
        text=rendered.get("text", ""),
        subject=rendered.get("subject"),
        sms_template_code=rendered.get("sms_template_code"),
        sms_params=rendered.get("sms_params") or {},
        extra=dict(rendered.get("extra") or {}),
    )


def record_sent(touch: Touch, sent: Sent) -> None:
    """The provider took it: sent, or delivered when acceptance is delivery."""
    for column, value in _sent_values(sent, now(), touch.attempts).items():
        setattr(touch, column, value)


def record_failure(session: Session, touch: Touch, exc: ProviderError) -> None:
    """Final failures stop; transient ones retry with backoff until dead-lettered."""
    touch.attempts += 1
    touch.reason, touch.detail = exc.reason, exc.code[:500]
    if not exc.transient:
        touch.status = "failed"
    elif touch.attempts >= MAX_ATTEMPTS:
        touch.status = "dead"
    else:
        requeue(session, touch, now() + backoff(touch.attempts))


def requeue(session: Session, touch: Touch, at: datetime) -> None:
    """Run the delivery again at `at` (the touch's state says why it waits)."""
    outbox.enqueue(
        session, DELIVER, {"touch_id": touch.id}, workspace_id=touch.workspace_id, run_at=at
    )


def recipient(session: Session, touch: Touch) -> str | None:
    """Where the channel reaches the customer: phone, email, WeCom external_userid or id."""
    customer = session.get(Customer, touch.customer_id)
    if customer is None:
        return None
    if touch.channel == "sms":
        return customer.phone
    if touch.channel == "email":
        return customer.email
    if touch.channel == "wecom":
        identity = session.scalars(
            select(Identity)
            .where(
                Identity.customer_id == customer.id,
                Identity.type == "wecom_external_userid",
            )
            .order_by(Identity.last_seen_at.desc())
        ).first()
        return identity.value if identity else None
    return str(customer.id)


def take_token(session: Session, workspace_id: int, channel: str, setup: ProviderSetup) -> float:
    """Take one token from the workspace+channel bucket; returns seconds to wait if empty."""
    config = session.scalars(
        select(ChannelConfig).where(
            ChannelConfig.workspace_id == workspace_id, ChannelConfig.channel == channel
        )
    ).one()
    rate, burst = config.rate_per_second, float(config.burst)
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        maker(RateBucket)
        .values(workspace_id=workspace_id, channel=channel, tokens=burst, refreshed_at=now())
        .on_conflict_do_nothing(index_elements=["workspace_id", "channel"])
    )
    stmt = select(RateBucket).where(
        RateBucket.workspace_id == workspace_id, RateBucket.channel == channel
    )
    if dialect == "postgresql":
        stmt = stmt.with_for_update()
    bucket = session.scalars(stmt.execution_options(populate_existing=True)).one()
    t = now()
    elapsed = max((t - bucket.refreshed_at).total_seconds(), 0.0)
    tokens = min(burst, bucket.tokens + elapsed * rate)
    bucket.refreshed_at = t
    if tokens >= 1:
        bucket.tokens = tokens - 1
        return 0.0
    bucket.tokens = tokens
    return (1 - tokens) / rate
