"""Branch conditions on one customer: attributes, tags, recent events, lifecycle stage."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers.models import Customer
from siyu.ingest.models import Event
from siyu.journeys.definition import Condition


def holds(
    session: Session, workspace_id: int, customer_id: int, tests: Iterable[Condition], at: datetime
) -> bool:
    """Whether every condition holds for the customer now."""
    return all(_one(session, workspace_id, customer_id, c, at) == c.has for c in tests)


def _one(session: Session, workspace_id: int, customer_id: int, c: Condition, at: datetime) -> bool:
    if c.tag is not None:
        return _has_tag(session, workspace_id, customer_id, c.tag)
    if c.event is not None:
        stmt = (
            select(Event.id)
            .where(
                Event.workspace_id == workspace_id,
                Event.customer_id == customer_id,
                Event.type == c.event,
                Event.occurred_at >= at - timedelta(days=c.within_days),
            )
            .limit(1)
        )
        return session.scalar(stmt) is not None
    if c.lifecycle_stage is not None:
        return _stage(session, workspace_id, customer_id) == c.lifecycle_stage
    if c.attribute is not None:
        return compare(_attribute(session, workspace_id, customer_id, c.attribute), c.op, c.value)
    return True


def compare(actual: Any, op: str, value: Any) -> bool:
    """eq, ne, in, exists, gte, lte; a missing value fails every test but ne."""
    if op == "exists":
        return actual is not None
    if op == "ne":
        return actual != value
    if actual is None:
        return False
    if op == "in":
        return actual in (value or [])
    if op == "gte":
        return bool(actual >= value)
    if op == "lte":
        return bool(actual <= value)
    return bool(actual == value)


def _attribute(session: Session, workspace_id: int, customer_id: int, name: str) -> Any:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.workspace_id != workspace_id:
        return None
    if hasattr(Customer, name) and name not in ("workspace_id",):
        return getattr(customer, name)
    metrics = _metrics(session, workspace_id, customer_id)
    return getattr(metrics, name, None) if metrics is not None else None


def _metrics(session: Session, workspace_id: int, customer_id: int) -> Any:
    try:
        from siyu.lifecycle.models import CustomerMetrics
    except ImportError:
        return None
    stmt = select(CustomerMetrics).where(
        CustomerMetrics.workspace_id == workspace_id, CustomerMetrics.customer_id == customer_id
    )
    return session.scalars(stmt).first()


def _stage(session: Session, workspace_id: int, customer_id: int) -> str | None:
    metrics = _metrics(session, workspace_id, customer_id)
    return None if metrics is None else metrics.lifecycle_stage


def _has_tag(session: Session, workspace_id: int, customer_id: int, name: str) -> bool:
    try:
        from siyu.tags.models import CustomerTag, Tag
    except ImportError:
        return False
    stmt = (
        select(CustomerTag.id)
        .join(Tag, Tag.id == CustomerTag.tag_id)
        .where(
            CustomerTag.workspace_id == workspace_id,
            CustomerTag.customer_id == customer_id,
            Tag.name == name,
        )
        .limit(1)
    )
    return session.scalar(stmt) is not None
