"""Background reactions: tighten caps after complaints or mutes, and WeCom group/moment tasks."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from siyu.channels import frequency
from siyu.channels.delivery import backoff, setup_for
from siyu.channels.models import ChannelConfig, WecomTask
from siyu.channels.providers import ProviderError
from siyu.channels.providers.wecom import WecomProvider
from siyu.core import outbox, signals
from siyu.core.clock import now
from siyu.core.outbox import OutboxMessage
from siyu.ingest.models import Event

TIGHTEN = "channels.tighten"
WECOM_TASK = "channels.wecom_task"
MAX_TASK_ATTEMPTS = 5

signals.subscribe(signals.EVENTS_INGESTED, TIGHTEN)


def _signal_filter():  # type: ignore[no-untyped-def]
    return or_(Event.type == "complaint", and_(Event.type == "custom", Event.name == "mute"))


@outbox.handler(TIGHTEN)
def tighten(session: Session, message: OutboxMessage) -> None:
    """A complaint or a `mute` custom event tightens the customer's weekly cap for a while."""
    types = set(message.payload.get("types") or [])
    if not types & {"complaint", "custom"} or message.workspace_id is None:
        return
    ws = message.workspace_id
    policy = frequency.policy_of(session, ws)
    since = now() - timedelta(days=policy.tighten_days)
    rows = session.execute(
        select(Event.customer_id, func.max(Event.occurred_at), func.count())
        .where(
            Event.workspace_id == ws,
            Event.customer_id.in_(message.payload.get("customer_ids") or []),
            Event.occurred_at >= since,
            _signal_filter(),
        )
        .group_by(Event.customer_id)
    ).all()
    for customer_id, latest, count in sorted(rows):
        state = frequency.lock_contact(session, ws, customer_id)
        until = latest + timedelta(days=policy.tighten_days)
        if state.tightened_until is None or until > state.tightened_until:
            state.tightened_until, state.tightened_reason = until, "complaint_or_mute"
        state.complaints = count
    session.flush()


@outbox.handler(WECOM_TASK)
def run_wecom_task(session: Session, message: OutboxMessage) -> None:
    """Create the 群发 or 朋友圈 task at WeCom; transient failures retry, then dead-letter."""
    task = session.get(WecomTask, int(message.payload["task_id"]))
    if task is None or task.status != "queued":
        return
    config = session.scalars(
        select(ChannelConfig).where(
            ChannelConfig.workspace_id == task.workspace_id, ChannelConfig.channel == "wecom"
        )
    ).first()
    if config is None or not config.enabled:
        task.status, task.reason = "failed", "channel_not_configured"
        return
    provider = WecomProvider(setup_for(session, config))
    text = str(task.content.get("text", ""))
    try:
        if task.kind == "moment":
            task.remote_id = provider.moment(task.sender, text)
        else:
            task.remote_id = provider.group_message(task.sender, text)
        task.status, task.reason = "sent", None
    except ProviderError as exc:
        task.attempts += 1
        task.reason = f"{exc.reason}:{exc.code}"[:64]
        if not exc.transient:
            task.status = "failed"
        elif task.attempts >= MAX_TASK_ATTEMPTS:
            task.status = "dead"
        else:
            outbox.enqueue(
                session,
                WECOM_TASK,
                {"task_id": task.id},
                workspace_id=task.workspace_id,
                run_at=now() + backoff(task.attempts),
            )
