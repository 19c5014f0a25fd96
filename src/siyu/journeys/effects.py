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
    return _now_or_later(ctx, step, send_later)


def coupon(ctx: Ctx, step: Any) -> Result:
    """Issue a coupon from a template through the promotions domain."""
    return _now_or_later(ctx, step, coupon_later)


def points(ctx: Ctx, step: Any) -> Result:
    """Grant points through the loyalty domain (a non-member is skipped with the reason)."""
    return _now_or_later(ctx, step, points_later)


def _now_or_later(ctx: Ctx, step: Any, decide: Any) -> Result:
    if ctx.later is not None:
        ctx.later.append((ctx, step))
        return LATER
    return list(decide(ctx.session, [(ctx, step)]))[0]


def decide_later(session: Session, items: list[tuple[Ctx, Any]]) -> list[Result]:
    """Decide the steps put off for the batch, one domain call per kind; results in order."""
    by_kind: dict[str, list[int]] = {}
    for i, (_, step) in enumerate(items):
        by_kind.setdefault(step.type, []).append(i)
    results: list[Result] = [LATER] * len(items)
    for kind, indexes in by_kind.items():
        decided = LATER_KINDS[kind](session, [items[i] for i in indexes])
        for i, result in zip(indexes, decided, strict=True):
            results[i] = result
    return results


def _groups(items: list[tuple[Ctx, Any]], *attrs: str) -> dict[tuple[Any, ...], list[int]]:
    """Positions of the items by workspace and the step's named attributes."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, (ctx, step) in enumerate(items):
        key = (ctx.principal.workspace_id, *(getattr(step, a) for a in attrs))
        groups.setdefault(key, []).append(i)
    return groups


def send_later(session: Session, sends: list[tuple[Ctx, Any]]) -> list[Result]:
    """Decide many send steps with one channels call per workspace; results in order."""
    try:
        from siyu.channels import service as channels
    except ImportError:
        return [("sent", "no_channels_domain", None)] * len(sends)
    results: list[Result] = [LATER] * len(sends)
    for indexes in _groups(sends).values():
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


def coupon_later(session: Session, items: list[tuple[Ctx, Any]]) -> list[Result]:
    """Issue many coupon steps with one promotions call per workspace and template."""
    try:
        from siyu.promotions import service as promotions
    except ImportError:
        return [("skipped", "no_promotions_domain", None)] * len(items)
    results: list[Result] = [LATER] * len(items)
    for indexes in _groups(items, "template").values():
        ctx, step = items[indexes[0]]
        wants = [(items[i][0].customer_id, items[i][0].key) for i in indexes]
        issued = _guarded(
            session, len(wants), promotions.issue_coupons, ctx.principal, step.template, wants
        )
        for i, found in zip(indexes, issued, strict=True):
            results[i] = _result(found, "coupon", getattr(found, "id", ""))
    return results


def points_later(session: Session, items: list[tuple[Ctx, Any]]) -> list[Result]:
    """Grant many points steps with one loyalty call per workspace."""
    try:
        from siyu.loyalty import service as loyalty
    except ImportError:
        return [("skipped", "no_loyalty_domain", None)] * len(items)
    results: list[Result] = [LATER] * len(items)
    for indexes in _groups(items).values():
        grants = [
            loyalty.Grant(ctx.customer_id, step.points, step.reason, ctx.key)
            for ctx, step in (items[i] for i in indexes)
        ]
        principal = items[indexes[0]][0].principal
        posted = _guarded(session, len(grants), loyalty.grant_many, principal, grants)
        for i, found in zip(indexes, posted, strict=True):
            results[i] = _result(found, "points", getattr(found, "transfer_id", ""))
    return results


def _guarded(session: Session, n: int, call: Any, *args: Any) -> list[Any]:
    """A domain's batch call; an error refusing the whole call answers each item.

    No savepoint: the batch calls refuse (whole or per item) before they write anything, and
    any other error fails the engine's batch, which is then redone step by step.
    """
    try:
        return list(call(session, *args))
    except SiyuError as exc:
        return [exc] * n


def _result(found: Any, kind: str, ref: Any) -> Result:
    if isinstance(found, SiyuError):
        return "skipped", found.code, None
    return "done", None, f"{kind}:{ref}"


LATER_KINDS = {"send": send_later, "coupon": coupon_later, "points": points_later}


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
