"""Channels service: send (decide and queue one touch), preview, templates, configs, policy.

`send` never sends inline: it decides (consent, quiet hours, caps, priority) and queues the
touch; delivery runs after commit from the outbox (`channels.deliver`, see delivery.py).

Purposes: "marketing" touches are capped, wait out quiet hours and respect a marketing
unsubscribe; "transactional" ones (order notices, the WeCom welcome message) bypass caps and
quiet hours, but a channel the customer blocked entirely (do-not-disturb, consent purpose
"all") is respected for every purpose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.channels import frequency
from siyu.channels.configs import (  # noqa: F401  (re-exported: the journeys domain calls them)
    CACHE,
    config_of,
    config_out,
    configured_channels,
    create_template,
    list_configs,
    list_templates,
    put_config,
    put_policy,
    template_body,
    update_template,
)
from siyu.channels.links import unsubscribe_url
from siyu.channels.models import (
    CHANNELS,
    PENDING,
    PURPOSES,
    ChannelConfig,
    MessageTemplate,
    ShortLink,
    Touch,
)
from siyu.channels.rendering import (
    MissingVariable,
    RenderedMessage,
    customer_variables,
    link_maker,
    recommendations,
    render_fields,
)
from siyu.core import outbox
from siyu.core.auth import Principal, get_scoped
from siyu.core.clock import now
from siyu.core.errors import InvalidField
from siyu.customers.models import Customer
from siyu.lifecycle.models import CustomerMetrics
from siyu.workspaces.models import Role

DELIVER = "channels.deliver"


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not 1 <= len(key) <= 128:
        raise InvalidField("idempotency_key", "长度应为1到128个字符", "must be 1 to 128 characters")


def _existing(session: Session, workspace_id: int, key: str) -> Touch | None:
    return session.scalars(
        select(Touch).where(Touch.workspace_id == workspace_id, Touch.idempotency_key == key)
    ).first()


def send(
    session: Session,
    principal: Principal,
    *,
    customer_id: int,
    channel: str,
    template_id: int | None = None,
    content: dict[str, Any] | None = None,
    purpose: str = "marketing",
    priority: int = 0,
    source: str = "api",
    idempotency_key: str,
    context: dict[str, Any] | None = None,
) -> Touch:
    """Decide (frequency policy, quiet hours, DND/unsubscribe) and queue one touch; never sends
    inline. A repeated idempotency_key returns the first Touch and sends nothing more."""
    principal.require(Role.operator)
    _check_key(idempotency_key)
    found = _existing(session, principal.workspace_id, idempotency_key)
    if found is not None:
        return found
    if channel not in CHANNELS:
        raise InvalidField("channel", f"未知渠道 {channel}", f"unknown channel {channel}")
    if purpose not in PURPOSES:
        raise InvalidField(
            "purpose", "应为 marketing 或 transactional", "marketing or transactional"
        )
    customer = _live_customer(session, principal, customer_id)
    fields = _fields(session, principal, template_id, content)
    touch = Touch(
        workspace_id=principal.workspace_id,
        customer_id=customer.id,
        channel=channel,
        template_id=template_id,
        purpose=purpose,
        priority=priority,
        source=source[:64],
        idempotency_key=idempotency_key,
        status="queued",
        attempts=0,
    )
    outcome = _decide(session, principal, touch, customer, fields, context or {})
    try:
        # One insert with the final state; the savepoint catches a concurrent same key.
        with session.begin_nested():
            session.add(touch)
            session.flush()
    except IntegrityError:
        replay = _existing(session, principal.workspace_id, idempotency_key)
        if replay is None:
            raise
        return replay
    if touch.status in PENDING:
        _queue(session, touch, outcome)
    return touch


def _live_customer(session: Session, principal: Principal, customer_id: int) -> Customer:
    customer = get_scoped(session, Customer, customer_id, principal)
    # A merged-away customer is reached (and capped) as the survivor.
    while customer.merged_into_id is not None:
        customer = get_scoped(session, Customer, customer.merged_into_id, principal)
    return customer


def _fields(
    session: Session, principal: Principal, template_id: int | None, content: dict[str, Any] | None
) -> dict[str, Any]:
    if (template_id is None) == (content is None):
        raise InvalidField(
            "template_id", "需给出模板或内容之一", "give exactly one of template_id or content"
        )
    if template_id is not None:
        template = get_scoped(session, MessageTemplate, template_id, principal)
        return {
            "text": template.body,
            "subject": template.subject,
            "sms_template_code": template.sms_template_code,
            "sms_params": template.sms_params,
        }
    assert content is not None
    return content


@dataclass
class _Outcome:
    """What a decision leaves to do once the touch has its id."""

    victim_id: int | None = None
    links: list[tuple[str, str]] = field(default_factory=list)


def _cached(session: Session, key: tuple[Any, ...], load: Any) -> Any:
    """Per-transaction memo of workspace settings (policy, configs): one read per batch."""
    cache = session.info.setdefault(CACHE, {})
    if key not in cache:
        cache[key] = load()
    return cache[key]


def _decide(
    session: Session,
    principal: Principal,
    touch: Touch,
    customer: Customer,
    fields: dict[str, Any],
    context: dict[str, Any],
) -> _Outcome:
    ws, at = principal.workspace_id, now()
    zone = frequency.zone_of(session, ws)
    touch.slot_day = frequency.slot_day(at, zone)
    outcome = _Outcome()
    enabled = touch.channel == "sandbox" or _cached(
        session,
        ("config", ws, touch.channel),
        lambda: _enabled_config(session, ws, touch.channel) is not None,
    )
    if not enabled:
        _close(touch, "failed", "channel_not_configured")
        return outcome
    block = frequency.consent_block(session, ws, customer.id, touch.channel, touch.purpose)
    if block:
        _close(touch, "suppressed", block)
        return outcome
    policy = _cached(session, ("policy", ws), lambda: frequency.policy_of(session, ws))
    metrics = session.scalars(
        select(CustomerMetrics).where(CustomerMetrics.customer_id == customer.id)
    ).first()
    if touch.purpose == "marketing":
        until = frequency.quiet_until(policy, at, zone)
        if until is not None:
            touch.status, touch.reason, touch.defer_until = "deferred", "quiet_hours", until
            touch.slot_day = frequency.slot_day(until, zone)
        state = frequency.lock_contact(session, ws, customer.id)
        stage = metrics.lifecycle_stage if metrics else None
        daily, weekly, suffix = frequency.caps_for(policy, state, stage)
        decision = frequency.decide(
            session, customer.id, touch.slot_day, touch.priority, daily, weekly
        )
        if not decision.ok:
            touch.defer_until = None
            _close(touch, "suppressed", f"{decision.reason}{suffix}")
            return outcome
        outcome.victim_id = decision.victim_id
    try:
        rendered = render_for_send(
            session, touch, customer, metrics, fields, context, policy.link_base_url
        )
    except MissingVariable as exc:
        touch.defer_until = None
        _close(touch, "failed", "missing_variable", exc.variable)
        outcome.victim_id = None
        return outcome
    outcome.links = rendered.pop("made", [])
    touch.rendered = json.dumps(rendered, ensure_ascii=False)
    return outcome


def _queue(session: Session, touch: Touch, outcome: _Outcome) -> None:
    """Store the touch's links, suppress the displaced touch and enqueue the delivery."""
    for code, url in outcome.links:
        session.add(
            ShortLink(
                workspace_id=touch.workspace_id,
                code=code,
                touch_id=touch.id,
                customer_id=touch.customer_id,
                url=url,
                created_at=now(),
            )
        )
    if outcome.victim_id is not None:
        displaced = session.get(Touch, outcome.victim_id)
        assert displaced is not None
        _close(displaced, "suppressed", "displaced", f"touch {touch.id}")
    outbox.enqueue(
        session,
        DELIVER,
        {"touch_id": touch.id},
        workspace_id=touch.workspace_id,
        dedupe_key=f"touch:{touch.id}",
        run_at=touch.defer_until or now(),
    )


def _close(touch: Touch, status: str, reason: str, detail: str | None = None) -> None:
    touch.status, touch.reason, touch.detail = status, reason, detail


def _enabled_config(session: Session, workspace_id: int, channel: str) -> ChannelConfig | None:
    return session.scalars(
        select(ChannelConfig).where(
            ChannelConfig.workspace_id == workspace_id,
            ChannelConfig.channel == channel,
            ChannelConfig.enabled.is_(True),
        )
    ).first()


def variables_for(
    session: Session,
    customer: Customer,
    metrics: CustomerMetrics | None,
    fields: dict[str, Any],
    context: dict[str, Any],
    reveal: bool,
    link: Any,
    unsubscribe: str,
) -> dict[str, Any]:
    """Everything a template sees: customer, recommendations, link(), context variables."""
    sources = json.dumps([fields.get("text"), fields.get("subject"), fields.get("sms_params")])
    # The recommendations query runs only for templates that use them.
    recs = recommendations(session, customer.id) if "recommendations" in sources else []
    return {
        **context,
        "customer": customer_variables(customer, metrics, reveal),
        "recommendations": recs,
        "link": link,
        "unsubscribe_url": unsubscribe,
    }


def render_for_send(
    session: Session,
    touch: Touch,
    customer: Customer,
    metrics: CustomerMetrics | None,
    fields: dict[str, Any],
    context: dict[str, Any],
    base: str | None,
) -> dict[str, Any]:
    """Render with real names (masked for webhooks); links are made, stored after insert."""
    base = (base or "").rstrip("/")
    link, made = link_maker(True, base)
    unsubscribe = unsubscribe_url(base, touch.workspace_id, customer.id, touch.channel)
    variables = variables_for(
        session, customer, metrics, fields, context, touch.channel != "webhook", link, unsubscribe
    )
    rendered = render_fields(fields, variables, text_field="content.text")
    out = rendered.as_dict()
    out["links"] = [code for code, _ in made]
    out["extra"] = {k: fields[k] for k in ("welcome_code", "sender") if fields.get(k)}
    out["extra"]["unsubscribe_url"] = unsubscribe
    out["made"] = made
    return out


def preview(
    session: Session,
    principal: Principal,
    *,
    customer_id: int,
    template_id: int | None = None,
    content: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> RenderedMessage:
    """Render against a real customer with a masked name; no links are made, nothing is sent."""
    customer = _live_customer(session, principal, customer_id)
    fields = _fields(session, principal, template_id, content)
    base = (frequency.policy_of(session, principal.workspace_id).link_base_url or "").rstrip("/")
    link, _ = link_maker(False, base)
    metrics = session.scalars(
        select(CustomerMetrics).where(CustomerMetrics.customer_id == customer.id)
    ).first()
    variables = variables_for(
        session, customer, metrics, fields, context or {}, False, link, f"{base}/u/preview"
    )
    return render_fields(fields, variables)
