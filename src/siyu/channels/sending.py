"""Deciding and queueing touches in bulk: `send_many` (`service.send` is a batch of one).

A batch of one workspace's requests costs a few set-based statements whatever its size: the
replayed idempotency keys, the customers, their consent rows and metrics, the ContactState row
locks (in customer id order, held until commit: the same per-customer serialization as one
send), the marketing touches in their 7-day windows; then every decision in memory in request
order (a touch decided earlier in the batch counts against a later one for the same customer),
and one insert each for the touches, their short links and their deliveries. The touch insert
skips a key a concurrent transaction stored first (unique per workspace and key); that request
answers the stored touch, as a replay does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, load_only

from siyu.channels import frequency
from siyu.channels.configs import CACHE
from siyu.channels.models import (
    CHANNELS,
    PENDING,
    PURPOSES,
    ChannelConfig,
    FrequencyPolicy,
    MessageTemplate,
    ShortLink,
    Touch,
)
from siyu.channels.rendering import MissingVariable, render_for_send
from siyu.core import outbox
from siyu.core.arrays import insert_unnest
from siyu.core.auth import Principal, get_scoped
from siyu.core.clock import now
from siyu.core.db import bulk_insert, one_of, reserve_ids, table_of
from siyu.core.errors import InvalidField
from siyu.customers.models import Customer
from siyu.lifecycle.models import CustomerMetrics
from siyu.workspaces.models import Role

DELIVER = "channels.deliver"


@dataclass(frozen=True)
class SendRequest:
    """One touch to decide: who, where, what, why and its idempotency key."""

    customer_id: int
    channel: str
    idempotency_key: str
    template_id: int | None = None
    content: dict[str, Any] | None = None
    purpose: str = "marketing"
    priority: int = 0
    source: str = "api"
    context: dict[str, Any] | None = None


@dataclass
class _New:
    """A touch being decided, with what its decision leaves to do once it is stored."""

    touch: Touch
    customer: Customer
    fields: dict[str, Any]
    context: dict[str, Any]
    victim: frequency.Counted | None = None
    links: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Facts:
    """What the batch read once: settings, consent, metrics, locks and counted touches."""

    at: datetime
    zone: ZoneInfo
    policy: FrequencyPolicy
    quiet: datetime | None  # when quiet hours end, if the batch is decided inside them
    consent: dict[int, list[frequency.ConsentRow]]
    metrics: dict[int, CustomerMetrics]
    ours: dict[int, Touch]  # the batch's touches by id
    tightened: dict[int, datetime | None] = field(default_factory=dict)  # locked ContactStates
    counted: dict[int, list[frequency.Counted]] = field(default_factory=dict)


def send_many(
    session: Session, principal: Principal, requests: Sequence[SendRequest]
) -> list[Touch]:
    """Decide (frequency policy, quiet hours, DND/unsubscribe) and queue touches; never sends
    inline. A replayed idempotency key answers the first Touch and sends nothing more."""
    principal.require(Role.operator)
    for request in requests:
        _check(request)
    ws = principal.workspace_id
    found = _existing(session, ws, [r.idempotency_key for r in requests])
    fresh: dict[str, SendRequest] = {}
    for request in requests:
        if request.idempotency_key not in found:
            fresh.setdefault(request.idempotency_key, request)
    news = _prepare(session, principal, list(fresh.values()))
    if news:
        _decide_all(session, principal, news)
        stored = _store(session, news)
        found.update({n.touch.idempotency_key: n.touch for n in news if n.touch.id in stored})
        lost = [n.touch.idempotency_key for n in news if n.touch.id not in stored]
        found.update(_existing(session, ws, lost))
    return [found[r.idempotency_key] for r in requests]


def _check(request: SendRequest) -> None:
    key = request.idempotency_key
    if not isinstance(key, str) or not 1 <= len(key) <= 128:
        raise InvalidField("idempotency_key", "长度应为1到128个字符", "must be 1 to 128 characters")


def _existing(session: Session, workspace_id: int, keys: list[str]) -> dict[str, Touch]:
    if not keys:
        return {}
    stmt = select(Touch).where(
        Touch.workspace_id == workspace_id, one_of(session, Touch.idempotency_key, keys)
    )
    return {t.idempotency_key: t for t in session.scalars(stmt)}


def _prepare(session: Session, principal: Principal, requests: list[SendRequest]) -> list[_New]:
    """Validate, find each customer (a merged-away one is reached as the survivor) and make
    the Touch rows, ids reserved."""
    for r in requests:
        if r.channel not in CHANNELS:
            raise InvalidField("channel", f"未知渠道 {r.channel}", f"unknown channel {r.channel}")
        if r.purpose not in PURPOSES:
            raise InvalidField(
                "purpose", "应为 marketing 或 transactional", "marketing or transactional"
            )
    customers = live_customers(session, principal, [r.customer_id for r in requests])
    templates: dict[int, dict[str, Any]] = {}
    ids = reserve_ids(session, table_of(Touch), len(requests))
    at = now()
    news = []
    for touch_id, r in zip(ids, requests, strict=True):
        customer = customers[r.customer_id]
        fields = template_fields(session, principal, r.template_id, r.content, templates)
        touch = _transient(
            id=touch_id,
            workspace_id=principal.workspace_id,
            customer_id=customer.id,
            channel=r.channel,
            template_id=r.template_id,
            purpose=r.purpose,
            priority=r.priority,
            source=r.source[:64],
            idempotency_key=r.idempotency_key,
            status="queued",
            reason=None,
            detail=None,
            defer_until=None,
            attempts=0,
            provider_message_id=None,
            rendered=None,
            sent_at=None,
            delivered_at=None,
            created_at=at,
            updated_at=at,
        )
        news.append(_New(touch, customer, fields, r.context or {}))
    return news


def _transient(**values: Any) -> Touch:
    """A Touch that is never added to the session (it is inserted in bulk), made without the
    ORM's per-attribute events: constructing it normally costs more than deciding it."""
    touch: Touch = Touch._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    vars(touch).update(values)
    return touch


# What deciding and rendering read of a customer: phone, email and address are not decrypted
# per touch (delivery's recipient, say, loads them on access).
_RENDERED = "id workspace_id merged_into_id name gender city province birthday".split()


def live_customers(session: Session, principal: Principal, ids: list[int]) -> dict[int, Customer]:
    """The caller's customers by requested id (NotFound otherwise); merged-away ones as their
    survivor, who is reached (and capped) instead."""
    stmt = select(Customer).options(load_only(*(getattr(Customer, c) for c in _RENDERED)))
    stmt = stmt.where(
        Customer.workspace_id == principal.workspace_id,
        one_of(session, Customer.id, sorted(set(ids))),
    )
    loaded = {c.id: c for c in session.scalars(stmt)}
    found = {}
    for customer_id in ids:
        customer = loaded.get(customer_id) or get_scoped(session, Customer, customer_id, principal)
        while customer.merged_into_id is not None:
            customer = get_scoped(session, Customer, customer.merged_into_id, principal)
        found[customer_id] = customer
    return found


def template_fields(
    session: Session,
    principal: Principal,
    template_id: int | None,
    content: dict[str, Any] | None,
    templates: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    """The fields to render: a stored template's (memoized in `templates`) or ad-hoc content."""
    if (template_id is None) == (content is None):
        raise InvalidField(
            "template_id", "需给出模板或内容之一", "give exactly one of template_id or content"
        )
    if content is not None:
        return content
    assert template_id is not None
    if template_id not in templates:
        template = get_scoped(session, MessageTemplate, template_id, principal)
        templates[template_id] = {
            "text": template.body,
            "subject": template.subject,
            "sms_template_code": template.sms_template_code,
            "sms_params": template.sms_params,
        }
    return templates[template_id]


def cached(session: Session, key: tuple[Any, ...], load: Any) -> Any:
    """Per-transaction memo of workspace settings (policy, configs): one read per batch."""
    cache = session.info.setdefault(CACHE, {})
    if key not in cache:
        cache[key] = load()
    return cache[key]


def _decide_all(session: Session, principal: Principal, news: list[_New]) -> None:
    """Every decision of the batch, in request order, on what was read once."""
    ws = principal.workspace_id
    who = {n.touch.customer_id for n in news}
    metrics_stmt = select(CustomerMetrics).where(
        one_of(session, CustomerMetrics.customer_id, sorted(who))
    )
    at, zone = now(), frequency.zone_of(session, ws)
    policy = cached(session, ("policy", ws), lambda: frequency.policy_of(session, ws))
    facts = _Facts(
        at=at,
        zone=zone,
        policy=policy,
        quiet=frequency.quiet_until(policy, at, zone),
        consent=frequency.consent_rows(session, ws, who, {n.touch.channel for n in news}),
        metrics={m.customer_id: m for m in session.scalars(metrics_stmt)},
        ours={n.touch.id: n.touch for n in news},
    )
    marketing = []
    for n in news:
        t = n.touch
        t.slot_day = frequency.slot_day(facts.at, facts.zone)
        if not _enabled(session, ws, t.channel):
            _close(t, "failed", "channel_not_configured")
            continue
        block = frequency.block_of(facts.consent.get(t.customer_id, []), t.channel, t.purpose)
        if block:
            _close(t, "suppressed", block)
        elif t.purpose == "marketing":
            marketing.append(n)
    if marketing:
        lo = frequency.slot_day(facts.at, facts.zone)
        hi = frequency.slot_day(facts.quiet or facts.at, facts.zone)
        locked = {n.touch.customer_id for n in marketing}
        facts.tightened = frequency.lock_contacts(session, ws, locked)
        facts.counted = frequency.counted_touches(session, locked, lo, hi)
    for n in news:
        if n.touch.status in PENDING:
            _decide_one(session, facts, n)


def _enabled(session: Session, ws: int, channel: str) -> bool:
    return channel == "sandbox" or bool(
        cached(session, ("config", ws, channel), lambda: _enabled_config(session, ws, channel))
    )


def _enabled_config(session: Session, workspace_id: int, channel: str) -> bool:
    found = session.scalars(
        select(ChannelConfig.id).where(
            ChannelConfig.workspace_id == workspace_id,
            ChannelConfig.channel == channel,
            ChannelConfig.enabled.is_(True),
        )
    ).first()
    return found is not None


def _decide_one(session: Session, facts: _Facts, n: _New) -> None:
    """Quiet hours and caps for a marketing touch, then rendering; the slot it takes counts
    against the customer's later touches in the batch."""
    t = n.touch
    metrics = facts.metrics.get(t.customer_id)
    window = None
    if t.purpose == "marketing":
        if facts.quiet is not None:
            t.status, t.reason, t.defer_until = "deferred", "quiet_hours", facts.quiet
            t.slot_day = frequency.slot_day(facts.quiet, facts.zone)
        stage = metrics.lifecycle_stage if metrics else None
        tightened = facts.tightened[t.customer_id]
        daily, weekly, suffix = frequency.caps_for(facts.policy, tightened, stage)
        window = facts.counted[t.customer_id]
        decision = frequency.decide(window, t.slot_day, t.priority, daily, weekly)
        if not decision.ok:
            t.defer_until = None
            _close(t, "suppressed", f"{decision.reason}{suffix}")
            return
        n.victim = decision.victim
    try:
        rendered = render_for_send(
            session, t, n.customer, metrics, n.fields, n.context, facts.policy.link_base_url
        )
    except MissingVariable as exc:
        t.defer_until, n.victim = None, None
        _close(t, "failed", "missing_variable", exc.variable)
        return
    n.links = rendered.pop("made", [])
    t.rendered = json.dumps(rendered, ensure_ascii=False)
    if window is None:
        return
    if n.victim is not None:
        window.remove(n.victim)
        if n.victim[0] in facts.ours:  # decided earlier in this batch: suppressed before stored
            _close(facts.ours[n.victim[0]], "suppressed", "displaced", f"touch {t.id}")
            n.victim = None
    window.append([t.id, t.slot_day, t.priority, t.status])


def _store(session: Session, news: list[_New]) -> set[int]:
    """Insert the touches (a key stored concurrently is skipped), then the displacements, links
    and deliveries of the ones stored; returns the stored ids."""
    table = table_of(Touch)
    rows = [_row(n.touch) for n in news]
    unique = ("workspace_id", "idempotency_key")
    if session.get_bind().dialect.name == "postgresql":
        # One array statement: a multi-row VALUES costs psycopg a parse that grows with the batch.
        stored = {r[0] for r in insert_unnest(session, table, rows, unique, ("id",))}
    else:
        stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=unique)
        stored = set(session.scalars(stmt.returning(table.c.id), rows))
    links, deliveries = [], []
    for n in news:
        t = n.touch
        if t.id not in stored:
            continue
        if n.victim is not None:
            _displace(session, n.victim[0], t)
        links += [_link(t, code, url) for code, url in n.links]
        if t.status in PENDING:
            deliveries.append((t, t.defer_until or now()))
    bulk_insert(session, table_of(ShortLink), links)
    outbox.enqueue_many(
        session,
        DELIVER,
        [({"touch_id": t.id}, t.workspace_id, f"touch:{t.id}", run_at) for t, run_at in deliveries],
    )
    return stored


_COLUMNS = [(c.name, c.key) for c in table_of(Touch).columns]


def _row(touch: Touch) -> dict[str, Any]:
    # The instance's own dict: an instrumented getattr per column costs more than the insert.
    values = vars(touch)
    return {name: values.get(key) for name, key in _COLUMNS}


def _displace(session: Session, victim_id: int, by: Touch) -> None:
    """A stored lower-priority pending touch gives its slot up."""
    displaced = session.get(Touch, victim_id)
    assert displaced is not None
    _close(displaced, "suppressed", "displaced", f"touch {by.id}")


def _link(touch: Touch, code: str, url: str) -> dict[str, Any]:
    return {
        "workspace_id": touch.workspace_id,
        "code": code,
        "touch_id": touch.id,
        "customer_id": touch.customer_id,
        "url": url,
        "clicks": 0,
        "created_at": now(),
    }


def _close(touch: Touch, status: str, reason: str, detail: str | None = None) -> None:
    touch.status, touch.reason, touch.detail = status, reason, detail
