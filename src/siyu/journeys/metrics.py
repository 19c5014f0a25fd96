"""Metrics per journey and step: entered, active, sent, delivered, suppressed (why), converted,
revenue, and the lift over the holdout group."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal
from siyu.ingest.models import Event
from siyu.journeys import service
from siyu.journeys.definition import Definition
from siyu.journeys.models import JourneyRun, JourneyStep


def _runs(session: Session, journey_id: int) -> dict[str, dict[str, int]]:
    stmt = (
        select(
            JourneyRun.status,
            func.count(),
            func.count(JourneyRun.converted_at),
            func.coalesce(func.sum(JourneyRun.revenue_fen), 0),
        )
        .where(JourneyRun.journey_id == journey_id)
        .group_by(JourneyRun.status)
    )
    return {
        status: {"runs": n, "converted": c, "revenue": int(r)}
        for status, n, c, r in session.execute(stmt)
    }


def _rate(converted: int, total: int) -> Decimal | None:
    return None if total == 0 else (Decimal(converted) / Decimal(total)).quantize(Decimal("0.0001"))


def _touches(session: Session, journey_id: int) -> dict[str, Counter[str]]:
    """Touch statuses by step from the channels domain (empty when it is not installed)."""
    try:
        from siyu.channels.models import Touch
    except ImportError:
        return {}
    prefix = f"journey:{journey_id}:step:"
    stmt = (
        select(Touch.source, Touch.status, func.count(), func.count(Touch.delivered_at))
        .where(Touch.source.like(prefix + "%"))
        .group_by(Touch.source, Touch.status)
    )
    found: dict[str, Counter[str]] = {}
    for source, status, n, delivered in session.execute(stmt):
        counts = found.setdefault(source[len(prefix) :], Counter())
        counts[status] += n
        counts["_delivered"] += delivered
    return found


def _clicked(session: Session, journey_id: int) -> int:
    """Runs whose customer clicked (a click event) after entering."""
    stmt = select(func.count(func.distinct(JourneyRun.id))).join(
        Event,
        and_(
            Event.customer_id == JourneyRun.customer_id,
            Event.type == "click",
            Event.occurred_at >= JourneyRun.entered_at,
        ),
    )
    return int(
        session.scalar(
            stmt.where(JourneyRun.journey_id == journey_id, JourneyRun.status != "holdout")
        )
        or 0
    )


def steps(session: Session, journey_id: int, definition: Definition) -> list[dict[str, Any]]:
    """One row per step, in definition order: executed and outcomes, suppressions by reason."""
    stmt = (
        select(JourneyStep.step_key, JourneyStep.outcome, JourneyStep.reason, func.count())
        .where(JourneyStep.journey_id == journey_id)
        .group_by(JourneyStep.step_key, JourneyStep.outcome, JourneyStep.reason)
    )
    outcomes: dict[str, Counter[str]] = {}
    reasons: dict[str, Counter[str]] = {}
    for key, outcome, reason, n in session.execute(stmt):
        outcomes.setdefault(key, Counter())[outcome] += n
        if outcome in ("suppressed", "deferred", "skipped", "failed") and reason:
            reasons.setdefault(key, Counter())[reason] += n
    touches = _touches(session, journey_id)
    rows = []
    for step in definition.steps:
        seen = outcomes.get(step.key, Counter())
        touch = touches.get(step.key, Counter())
        rows.append(
            {
                "key": step.key,
                "type": step.type,
                "label": step.label,
                "executed": sum(seen.values()),
                "sent": seen["sent"],
                "delivered": max(touch["_delivered"], touch["delivered"]),
                "failed": touch["failed"] + touch["dead"] if touch else seen["failed"],
                "suppressed": seen["suppressed"],
                "deferred": seen["deferred"],
                "skipped": seen["skipped"],
                "reasons": dict(reasons.get(step.key, Counter())),
            }
        )
    return rows


def journey_metrics(session: Session, principal: Principal, journey_id: int) -> dict[str, Any]:
    """Everything the funnel shows for one journey."""
    journey = service.get(session, principal, journey_id)
    definition = service.definition_of(session, journey)
    runs = _runs(session, journey.id)
    held = runs.get("holdout", {"runs": 0, "converted": 0, "revenue": 0})
    treated = {s: v for s, v in runs.items() if s != "holdout"}
    entered = sum(v["runs"] for v in treated.values())
    converted = sum(v["converted"] for v in treated.values())
    step_rows = steps(session, journey.id, definition)
    suppressed: Counter[str] = Counter()
    for row in step_rows:
        if row["suppressed"]:
            for reason, n in row["reasons"].items():
                suppressed[reason] += n
    treat_rate, hold_rate = _rate(converted, entered), _rate(held["converted"], held["runs"])
    lift = None
    if treat_rate is not None and hold_rate is not None:
        lift = treat_rate - hold_rate
    return {
        "journey_id": journey.id,
        "entered": entered,
        "active": treated.get("active", {}).get("runs", 0),
        "completed": treated.get("completed", {}).get("runs", 0),
        "exited": treated.get("exited", {}).get("runs", 0),
        "failed_runs": treated.get("failed", {}).get("runs", 0),
        "sent": sum(r["sent"] for r in step_rows),
        "delivered": sum(r["delivered"] for r in step_rows),
        "failed": sum(r["failed"] for r in step_rows),
        "suppressed": sum(r["suppressed"] for r in step_rows),
        "suppressed_by_reason": dict(suppressed),
        "clicked": _clicked(session, journey.id),
        "converted": converted,
        "revenue_fen": sum(v["revenue"] for v in treated.values()),
        "holdout": {"entered": held["runs"], "converted": held["converted"]},
        "conversion_rate": treat_rate,
        "holdout_conversion_rate": hold_rate,
        "lift": lift,
        "steps": step_rows,
    }
