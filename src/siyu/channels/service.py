"""Channels service: send (decide and queue one touch; send_many a batch, see sending.py),
preview, templates, configs, policy.

`send` never sends inline: it decides (consent, quiet hours, caps, priority) and queues the
touch; delivery runs after commit from the outbox (`channels.deliver`, see delivery.py).

Purposes: "marketing" touches are capped, wait out quiet hours and respect a marketing
unsubscribe; "transactional" ones (order notices, the WeCom welcome message) bypass caps and
quiet hours, but a channel the customer blocked entirely (do-not-disturb, consent purpose
"all") is respected for every purpose.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
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
from siyu.channels.models import Touch
from siyu.channels.rendering import RenderedMessage, link_maker, render_fields, variables_for
from siyu.channels.sending import (  # noqa: F401  (send_many: the journeys domain calls it)
    DELIVER,
    SendRequest,
    live_customers,
    send_many,
    template_fields,
)
from siyu.core.auth import Principal
from siyu.lifecycle.models import CustomerMetrics


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
    request = SendRequest(
        customer_id=customer_id,
        channel=channel,
        idempotency_key=idempotency_key,
        template_id=template_id,
        content=content,
        purpose=purpose,
        priority=priority,
        source=source,
        context=context,
    )
    return send_many(session, principal, [request])[0]


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
    customer = live_customers(session, principal, [customer_id])[customer_id]
    fields = template_fields(session, principal, template_id, content, {})
    base = (frequency.policy_of(session, principal.workspace_id).link_base_url or "").rstrip("/")
    link, _ = link_maker(False, base)
    metrics = session.scalars(
        select(CustomerMetrics).where(CustomerMetrics.customer_id == customer.id)
    ).first()
    variables = variables_for(
        session, customer, metrics, fields, context or {}, False, link, f"{base}/u/preview"
    )
    return render_fields(fields, variables)
