"""Customers: create, read and find by PII through the blind index; every read is audited."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal, get_scoped, scoped
from siyu.core.clock import now
from siyu.core.errors import Conflict, InvalidField
from siyu.core.pii import (
    blind_index,
    mask_email,
    mask_name,
    mask_phone,
    normalize_email,
    normalize_name,
    normalize_phone,
)
from siyu.customers.identifiers import normalize
from siyu.customers.models import Customer, Identity
from siyu.customers.oneid import Resolver, Sighting
from siyu.customers.schemas import CustomerCreate, CustomerOut
from siyu.workspaces.models import Role

FULL_PII_ROLES = {Role.admin, Role.operator}


def create_customer(session: Session, principal: Principal, data: CustomerCreate) -> Customer:
    """Add a customer; a phone or email that already names a customer is a conflict naming it."""
    principal.require(Role.operator)
    identifiers = []
    if data.phone:
        identifiers.append(("phone", normalize_phone(data.phone)))
    if data.email:
        identifiers.append(("email", normalize_email(data.email)))
    name = normalize_name(data.name) if data.name else None
    for kind, value in identifiers:
        owner = session.scalar(
            select(Identity.customer_id).where(
                Identity.workspace_id == principal.workspace_id,
                Identity.value_bidx == blind_index(kind, value),
            )
        )
        if owner is not None:
            raise Conflict(
                zh=f"{kind} 已属于客户 {owner}",
                en=f"This {kind} already belongs to customer {owner}",
                customer_id=owner,
            )
    at = now()
    sighting = Sighting(
        f"api:customer:{uuid.uuid4().hex}", identifiers, "api", at, {"name": name} if name else {}
    )
    customer_id, _ = Resolver(session, principal).resolve(sighting)
    customer = session.get(Customer, customer_id)
    assert customer is not None
    audit.record(
        session, principal, "create", "customer", customer.id, fields=sorted(data.model_fields_set)
    )
    return customer


def get_customer(session: Session, principal: Principal, customer_id: int) -> Customer:
    """One customer the caller may see (404 otherwise, and the attempt is audited)."""
    customer = get_scoped(session, Customer, customer_id, principal)
    audit.record(session, principal, "read", "customer", customer.id)
    return customer


def find_ids(
    session: Session,
    principal: Principal,
    *,
    phone: str | None = None,
    email: str | None = None,
    name: str | None = None,
    identifier: tuple[str, str] | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[int]:
    """Ids of visible customers matching normalized PII, oldest first."""
    stmt = scoped(select(Customer.id), Customer, principal).where(Customer.merged_into_id.is_(None))
    if identifier:
        kind, value = identifier
        owners = select(Identity.customer_id).where(
            Identity.workspace_id == principal.workspace_id,
            Identity.value_bidx == blind_index(kind, normalize(kind, value, "identifier")),
        )
        stmt = stmt.where(Customer.id.in_(owners))
    if phone:
        stmt = stmt.where(Customer.phone_bidx == blind_index("phone", phone))
    if email:
        stmt = stmt.where(Customer.email_bidx == blind_index("email", email))
    if name:
        stmt = stmt.where(Customer.name_bidx == blind_index("name", name))
    if after_id:
        stmt = stmt.where(Customer.id > after_id)
    return list(session.scalars(stmt.order_by(Customer.id).limit(limit)))


def search(
    session: Session,
    principal: Principal,
    *,
    phone: str | None,
    email: str | None,
    name: str | None,
    after_id: int | None,
    limit: int,
    identifier: tuple[str, str] | None = None,
) -> list[Customer]:
    """A page of customers by exact phone, email or name (any format of phone)."""
    ids = find_ids(
        session,
        principal,
        phone=normalize_phone(phone) if phone else None,
        email=normalize_email(email) if email else None,
        name=normalize_name(name) if name else None,
        identifier=identifier,
        after_id=after_id,
        limit=limit,
    )
    rows = (
        list(session.scalars(select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id)))
        if ids
        else []
    )
    if phone or email or name or identifier:
        audit.record(
            session,
            principal,
            "search",
            "customer",
            None,
            by=[k for k, v in (("phone", phone), ("email", email), ("name", name)) if v]
            + ([identifier[0]] if identifier else []),
            found=len(rows),
        )
    return rows


def to_out(customer: Customer, principal: Principal) -> CustomerOut:
    """The API view of a customer; masked unless the role needs full PII."""
    full = principal.role in FULL_PII_ROLES
    return CustomerOut(
        id=customer.id,
        name=customer.name if full or not customer.name else mask_name(customer.name),
        phone=customer.phone if full or not customer.phone else mask_phone(customer.phone),
        email=customer.email if full or not customer.email else mask_email(customer.email),
        created_at=customer.created_at,
    )


def growth(
    session: Session, principal: Principal, tz: str, days: int = 90
) -> list[tuple[date, int, int]]:
    """New and cumulative customers per local day over the last `days` days."""
    if not 1 <= days <= 3660:
        raise InvalidField("days", "应在1到3660之间", "must be between 1 and 3660")
    # A customer joined the private domain when first seen on any channel, not when imported.
    joined = func.coalesce(Customer.first_seen_at, Customer.created_at)
    stmt = scoped(select(joined), Customer, principal).where(Customer.merged_into_id.is_(None))
    zone = ZoneInfo(tz)
    per_day: dict[date, int] = {}
    for (created,) in session.execute(stmt):
        day = created.astimezone(zone).date()
        per_day[day] = per_day.get(day, 0) + 1
    if not per_day:
        return []
    end = max(per_day)
    start = end - timedelta(days=days - 1)
    total = sum(n for d, n in per_day.items() if d < start)
    series = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        total += per_day.get(day, 0)
        series.append((day, per_day.get(day, 0), total))
    return series


def count(session: Session, principal: Principal) -> int:
    """How many customers the caller can see."""
    stmt = scoped(select(func.count(Customer.id)), Customer, principal)
    return session.scalar(stmt.where(Customer.merged_into_id.is_(None))) or 0


def created_since(session: Session, principal: Principal, since: datetime) -> int:
    """Customers (not merged away) first seen at or after a time."""
    joined = func.coalesce(Customer.first_seen_at, Customer.created_at)
    stmt = scoped(select(func.count(Customer.id)), Customer, principal).where(
        joined >= since, Customer.merged_into_id.is_(None)
    )
    return session.scalar(stmt) or 0
