"""What steps do to other domains: send, coupon, points, tags, tasks, webhooks.

Other domains are imported lazily inside each function, so journeys load (and run) whether or
not those domains are installed; a step whose domain is missing is recorded as skipped with the
reason. Every call carries the step's idempotency key (run id + step key), so a step replayed
after a crash does nothing twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.core import outbox
from siyu.core.auth import Principal
from siyu.core.clock import now
from siyu.core.errors import SiyuError

log = logging.getLogger(__name__)
# Channels a definition may name when the channels domain cannot say which are configured.
BUILTIN_CHANNELS = ("sandbox", "wecom", "sms", "email", "webhook")
TOUCH_OUTCOMES = {
    "queued": "sent",
    "sent": "sent",
    "delivered": "sent",
    "suppressed": "suppressed",
    "deferred": "deferred",
    "failed": "failed",
    "dead": "failed",
}


@dataclass(frozen=True)
class Ctx:
    """One step execution: who, which run, which step, and the idempotency key."""

    session: Session
    principal: Principal
    journey_id: int
    run_id: int
    customer_id: int
    step_key: str
    at: datetime
    # Where a send goes to be decided with the rest of the batch (None: decided at once).
    later: list[tuple[Ctx, Any]] | None = None

    @property
    def key(self) -> str:
        """The attempt-independent idempotency key of this step of this run."""
        return f"journey:{self.run_id}:{self.step_key}"

    @property
    def source(self) -> str:
        """What touches, coupons and points name as their origin."""
        return f"journey:{self.journey_id}:step:{self.step_key}"


Result = tuple[str, str | None, str | None]  # outcome, reason, ref
# What a send step answers when its touch is decided later, with the batch's other sends.
LATER: Result = ("pending", None, None)


def send(ctx: Ctx, step: Any) -> Result:
    """Send through the channels domain; the touch says queued, suppressed (why) or deferred."""
    if ctx.later is not None:
        ctx.later.append((ctx, step))
        return LATER
    return send_later(ctx.session, [(ctx, step)])[0]


def send_later(session: Session, sends: list[tuple[Ctx, Any]]) -> list[Result]:
    """Decide many send steps with one channels call per workspace; results in order."""
    try:
        from siyu.channels import service as channels
    except ImportError:
        return [("sent", "no_channels_domain", None)] * len(sends)
    by_workspace: dict[int, list[int]] = {}
    for i, (ctx, _) in enumerate(sends):
        by_workspace.setdefault(ctx.principal.workspace_id, []).append(i)
    results: list[Result] = [LATER] * len(sends)
    for indexes in by_workspace.values():
        requests = [_request(channels, *sends[i]) for i in indexes]
        touches = channels.send_many(session, sends[indexes[0]][0].principal, requests)
        for i, touch in zip(indexes, touches, strict=True):
            status = str(touch.status)
            results[i] = TOUCH_OUTCOMES.get(status, "sent"), touch.reason, f"touch:{touch.id}"
    return results


def _request(channels: Any, ctx: Ctx, step: Any) -> Any:
    return channels.SendRequest(
        customer_id=ctx.customer_id,
        channel=step.channel,
        idempotency_key=ctx.key,
        template_id=step.template_id,
        content=None if step.content is None else {"text": step.content},
        purpose=step.purpose,
        priority=step.priority,
        source=ctx.source,
        context={"journey_id": ctx.journey_id, "run_id": ctx.run_id},
    )


def coupon(ctx: Ctx, step: Any) -> Result:
    """Issue a coupon from a template through the promotions domain."""
    try:
        from siyu.promotions import service as promotions
    except ImportError:
        return "skipped", "no_promotions_domain", None
    issue = getattr(promotions, "issue_coupon", None)
    if issue is None:
        return "skipped", "no_promotions_domain", None
    try:
        with ctx.session.begin_nested():
            issued = issue(
                ctx.session,
                ctx.principal,
                template_id=step.template,
                customer_id=ctx.customer_id,
                idempotency_key=ctx.key,
            )
    except SiyuError as exc:
        return "skipped", exc.code, None
    return "done", None, f"coupon:{getattr(issued, 'id', '')}"


def points(ctx: Ctx, step: Any) -> Result:
    """Grant points through the loyalty domain (a non-member is skipped with the reason)."""
    try:
        from siyu.loyalty import service as loyalty
    except ImportError:
        return "skipped", "no_loyalty_domain", None
    grant = getattr(loyalty, "grant_points", None)
    try:
        with ctx.session.begin_nested():
            if grant is not None:
                entry = grant(
                    ctx.session,
                    ctx.principal,
                    customer_id=ctx.customer_id,
                    points=step.points,
                    reason=step.reason,
                    idempotency_key=ctx.key,
                )
            else:  # a positive adjustment, once per key
                entry = loyalty.adjust(
                    ctx.session, ctx.principal, ctx.customer_id, step.points, step.reason, ctx.key
                )
    except SiyuError as exc:
        return "skipped", exc.code, None
    return "done", None, f"points:{getattr(entry, 'transfer_id', getattr(entry, 'id', ''))}"


def tag(ctx: Ctx, step: Any) -> Result:
    """Add or remove a manual tag (by name; adding creates the tag the first time)."""
    try:
        from siyu.tags import service as tags
        from siyu.tags.models import Tag
        from siyu.tags.schemas import TagIn
    except ImportError:
        return "skipped", "no_tags_domain", None
    from sqlalchemy import select

    from siyu.core.auth import scoped

    try:
        with ctx.session.begin_nested():
            stmt = scoped(select(Tag.id), Tag, ctx.principal).where(Tag.name == step.tag)
            tag_id = ctx.session.scalar(stmt)
            if tag_id is None and step.action == "remove":
                return "done", "not_tagged", None
            if tag_id is None:
                tag_id = tags.create_tag(ctx.session, ctx.principal, TagIn(name=step.tag)).id
            change = tags.add if step.action == "add" else tags.remove
            change(ctx.session, ctx.principal, tag_id, [ctx.customer_id], source="journey")
    except SiyuError as exc:
        return "skipped", exc.code, None
    return "done", None, f"tag:{tag_id}"


def task(ctx: Ctx, step: Any) -> Result:
    """A task for staff (unique per run and step, so a replay adds nothing)."""
    from siyu.journeys.models import JourneyTask

    row = JourneyTask(
        workspace_id=ctx.principal.workspace_id,
        journey_id=ctx.journey_id,
        run_id=ctx.run_id,
        step_key=ctx.step_key,
        customer_id=ctx.customer_id,
        title=step.title,
        assignee=step.assignee,
        due_at=ctx.at + step.due.delta(),
        created_at=ctx.at,
    )
    ctx.session.add(row)
    return "done", None, "task"


def webhook(ctx: Ctx, step: Any) -> Result:
    """Queue a signed webhook call; the outbox retries it with backoff and dead-letters it."""
    payload = {
        "url": step.url,
        "secret": step.secret,
        "body": {
            "journey_id": ctx.journey_id,
            "run_id": ctx.run_id,
            "customer_id": ctx.customer_id,
            "step": ctx.step_key,
            "at": ctx.at.isoformat(),
        },
        "key": ctx.key,
    }
    outbox.enqueue(
        ctx.session,
        "journeys.webhook",
        payload,
        workspace_id=ctx.principal.workspace_id,
        dedupe_key=ctx.key,
    )
    return "done", None, "webhook"


def sign(secret: str, body: bytes) -> str:
    """HMAC-SHA256 of the body, hex, as the X-Siyu-Signature header carries it."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@outbox.handler("journeys.webhook")
def _call_webhook(session: Session, message: outbox.OutboxMessage) -> None:
    import httpx

    data = message.payload
    body = json.dumps(data["body"], ensure_ascii=False, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": data["key"]}
    if data.get("secret"):
        headers["X-Siyu-Signature"] = sign(data["secret"], body)
    response = httpx.post(data["url"], content=body, headers=headers, timeout=10)
    response.raise_for_status()


def known_channels(session: Session, principal: Principal) -> set[str]:
    """The channels a step may name: those the channels domain has configured, or built-ins."""
    try:
        from siyu.channels import service as channels
    except ImportError:
        return set(BUILTIN_CHANNELS)
    listing = getattr(channels, "configured_channels", None)
    if listing is None:
        return set(BUILTIN_CHANNELS)
    return {str(c) for c in listing(session, principal)}


def template_variables(session: Session, principal: Principal, template_id: int) -> str | None:
    """The body of a stored template (None when it does not exist)."""
    try:
        from siyu.channels import service as channels
    except ImportError:
        return None
    fetch = getattr(channels, "template_body", None)
    if fetch is None:
        return None
    body = fetch(session, principal, template_id)
    return None if body is None else str(body)


def stamp() -> datetime:
    """The time steps record (the core clock)."""
    return now()
