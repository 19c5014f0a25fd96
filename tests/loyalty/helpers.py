"""What the loyalty tests share: customers, members, orders through ingest, a ledger snapshot."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from siyu.core import outbox
from siyu.core.db import Database
from siyu.customers.schemas import CustomerCreate
from siyu.customers.service import create_customer
from siyu.ingest import service as ingest
from siyu.ingest.schemas import OrderIn, RefundIn
from siyu.loyalty import ledger, service
from siyu.loyalty.models import Member, PointsAccount, PointsLot, PointsTransfer
from siyu.promotions.models import Coupon, CouponTemplate
from tests.conftest import Tenant

PHONES: dict[int, str] = {}


_PHONES = iter(range(10_000_000, 99_999_999, 7))


def customer(db: Database, tenant: Tenant, name: str = "小美", birthday: str | None = None) -> int:
    """A customer with a phone (orders find them by it) in the tenant's workspace."""
    phone = f"139{next(_PHONES):08d}"
    with db.transaction() as session:
        row = create_customer(session, tenant.principal, CustomerCreate(name=name, phone=phone))
        row.birthday = birthday
        PHONES[row.id] = phone
        return row.id


def member(db: Database, tenant: Tenant, name: str = "小美", birthday: str | None = None) -> int:
    """A customer enrolled for free (0元入会) with consent; returns the customer id."""
    customer_id = customer(db, tenant, name, birthday)
    with db.transaction() as session:
        service.enroll(session, tenant.principal, customer_id, "wechat", True)
    return customer_id


def order(
    db: Database,
    tenant: Tenant,
    customer_id: int,
    external_id: str,
    paid_fen: int,
    at: str = "2026-01-05T10:00:00+08:00",
    category: str = "口红",
    channel: str = "tmall",
    status: str = "paid",
) -> int:
    """An order (paid unless told; reported again as cancelled cancels it), then the outbox runs."""
    line = {
        "sku": f"SKU-{category}",
        "product": category,
        "category": category,
        "quantity": 1,
        "unit_price_fen": paid_fen,
        "amount_fen": paid_fen,
    }
    data = OrderIn.model_validate(
        {
            "external_id": external_id,
            "channel": channel,
            "status": status,
            "ordered_at": at,
            "paid_at": at,
            "total_fen": paid_fen,
            "paid_fen": paid_fen,
            "identifiers": {"phone": PHONES[customer_id]},
            "lines": [line],
        }
    )
    with db.transaction() as session:
        ((order_id, _),) = ingest.upsert_orders(session, tenant.principal, [data])
    outbox.run_due(db)
    return order_id


def refund(db: Database, tenant: Tenant, order_id: int, external_id: str, amount: int) -> None:
    """Refund part of an order, then the outbox runs."""
    with db.transaction() as session:
        ingest.refund(
            session,
            tenant.principal,
            order_id,
            RefundIn(external_id=external_id, amount_fen=amount),
        )
    outbox.run_due(db)


def snapshot(db: Database, workspace_id: int) -> dict[str, Any]:
    """Counts and sums of every loyalty and coupon table (to prove nothing changed)."""
    with db.transaction() as session:

        def count(model: Any) -> int:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(model)
                    .where(model.workspace_id == workspace_id)
                )
            )

        return {
            "transfers": count(PointsTransfer),
            "lots": count(PointsLot),
            "accounts": count(PointsAccount),
            "members": count(Member),
            "coupons": count(Coupon),
            "templates": count(CouponTemplate),
            "balances": sorted(
                session.execute(
                    select(PointsAccount.customer_id, PointsAccount.balance).where(
                        PointsAccount.workspace_id == workspace_id
                    )
                ).all()
            ),
            "remaining": sorted(
                session.scalars(
                    select(PointsLot.remaining).where(PointsLot.workspace_id == workspace_id)
                )
            ),
            "coupon_states": sorted(
                session.execute(
                    select(Coupon.id, Coupon.status, Coupon.discount_fen).where(
                        Coupon.workspace_id == workspace_id
                    )
                ).all()
            ),
        }


def at(text: str) -> datetime:
    """An aware datetime from ISO text."""
    return datetime.fromisoformat(text)


def balances(db: Database, tenant: Tenant, customer_id: int) -> tuple[int, int, int]:
    """(cached balance, ledger balance, open lots): always three equal numbers."""
    with db.transaction() as session:
        ws = tenant.workspace_id
        return (
            ledger.balance_of(session, ws, customer_id),
            ledger.ledger_balance(session, ws, ledger.account_code(customer_id)),
            ledger.open_points(session, ws, customer_id),
        )
