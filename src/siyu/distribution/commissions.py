"""Commission rules (two levels at most), the ledger, clawback on refund, settlement, payouts.

Rounding: every commission is rounded down to the fen (base × bps // 10,000), per order line.
A refund claws back the share of the commission the refunds so far cover, rounded down, and
a refund that empties the order claws back the rest, so the net of a refunded order is 0.
A cancelled order's commission is reversed: one entry per level takes back what is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal, scoped
from siyu.core.clock import now
from siyu.core.errors import Conflict, InvalidField
from siyu.distribution.models import CommissionEntry, CommissionRule, Distributor, Payout
from siyu.distribution.schemas import RuleIn, RuleOut
from siyu.ingest.models import Order
from siyu.workspaces.models import Role

MAX_LEVELS = 2


def to_bps(rate: Decimal, field: str) -> int:
    """Percent (0–100, at most two decimals) to basis points; anything else names the field."""
    if not Decimal(0) <= rate <= Decimal(100):
        raise InvalidField(field, "比例应在0到100%之间", "must be between 0 and 100 percent")
    bps = rate * 100
    if bps != bps.to_integral_value():
        raise InvalidField(field, "比例最多两位小数", "at most two decimal places")
    return int(bps)


def create_rule(session: Session, principal: Principal, data: RuleIn) -> CommissionRule:
    """A rule by category, product and/or tier; more than two levels is refused (compliance)."""
    principal.require(Role.operator)
    if len(data.rates) > MAX_LEVELS:
        raise InvalidField(
            "rates", "佣金最多两级（合规要求）", "at most two levels of commission (compliance)"
        )
    bps = [to_bps(rate, f"rates.{i}") for i, rate in enumerate(data.rates)]
    rule = CommissionRule(
        workspace_id=principal.workspace_id,
        name=data.name,
        category=data.category,
        product_id=data.product_id,
        tier=data.tier,
        level1_bps=bps[0],
        level2_bps=bps[1] if len(bps) > 1 else 0,
    )
    session.add(rule)
    session.flush()
    audit.record(session, principal, "create", "commission_rule", rule.id)
    return rule


def rule_out(rule: CommissionRule) -> RuleOut:
    """A rule with its rates as percent strings."""
    rates = [rule.level1_bps] + ([rule.level2_bps] if rule.level2_bps else [])
    return RuleOut(
        id=rule.id,
        name=rule.name,
        category=rule.category,
        product_id=rule.product_id,
        tier=rule.tier,
        rates=[f"{Decimal(r) / 100:.2f}" for r in rates],
        active=rule.active,
    )


def claw_back(
    session: Session, workspace_id: int, order_id: int, refund_id: int
) -> list[CommissionEntry]:
    """Compensating entries for a refund: pending if the commission is, settled (a debt) if not."""
    order = session.get(Order, order_id)
    if order is None or not order.paid_fen:
        return []
    made: list[CommissionEntry] = []
    entries = _entries(session, workspace_id, [order_id])
    for original in [e for e in entries if e.kind == "commission"]:
        dedupe = f"clawback:{refund_id}:{original.level}"
        if any(e.dedupe == dedupe for e in entries):
            continue
        # Everything already taken back at this level: clawbacks and a cancellation's reversal.
        taken = -sum(
            e.amount_fen
            for e in [*entries, *made]
            if e.kind != "commission" and e.level == original.level
        )
        refunded = min(order.refunded_fen, order.paid_fen)
        target = (
            original.amount_fen
            if refunded >= order.paid_fen
            else original.amount_fen * refunded // order.paid_fen
        )
        if target - taken <= 0:
            continue
        entry = _compensate(original, "clawback", target - taken, refunded, dedupe, refund_id)
        session.add(entry)
        made.append(entry)
    session.flush()
    return made


def reverse(session: Session, workspace_id: int, order_ids: Sequence[int]) -> list[CommissionEntry]:
    """Cancelled orders: take back what is left of each level's commission, once."""
    made: list[CommissionEntry] = []
    entries = _entries(session, workspace_id, order_ids)
    for original in [e for e in entries if e.kind == "commission"]:
        dedupe = f"cancel:{original.order_id}:{original.level}"
        same = [e for e in entries if (e.order_id, e.level) == (original.order_id, original.level)]
        left = sum(e.amount_fen for e in same)
        if left <= 0 or any(e.dedupe == dedupe for e in same):
            continue
        entry = _compensate(original, "reversal", left, original.base_fen, dedupe, None)
        session.add(entry)
        made.append(entry)
    session.flush()
    return made


def _entries(
    session: Session, workspace_id: int, order_ids: Sequence[int]
) -> list[CommissionEntry]:
    return list(
        session.scalars(
            select(CommissionEntry)
            .where(
                CommissionEntry.workspace_id == workspace_id,
                CommissionEntry.order_id.in_(list(order_ids)),
            )
            .order_by(CommissionEntry.id)
        )
    )


def _compensate(
    original: CommissionEntry,
    kind: str,
    amount: int,
    base_fen: int,
    dedupe: str,
    refund_id: int | None,
) -> CommissionEntry:
    """A negative entry against a commission: pending while it is, else settled (a debt)."""
    settled = original.status != "pending"
    return CommissionEntry(
        workspace_id=original.workspace_id,
        distributor_id=original.distributor_id,
        order_id=original.order_id,
        refund_id=refund_id,
        level=original.level,
        kind=kind,
        base_fen=base_fen,
        amount_fen=-amount,
        status="settled" if settled else "pending",
        dedupe=dedupe,
        created_at=now(),
        settle_after=now() if settled else original.settle_after,
        settled_at=now() if settled else None,
    )


def settle_due(session: Session, workspace_id: int) -> int:
    """Pending entries past the return window become settled; returns how many."""
    t = now()
    result = session.execute(
        update(CommissionEntry)
        .where(
            CommissionEntry.workspace_id == workspace_id,
            CommissionEntry.status == "pending",
            CommissionEntry.settle_after <= t,
        )
        .values(status="settled", settled_at=t)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))


def balance(session: Session, principal: Principal, distributor_id: int) -> dict[str, int]:
    """Sums by status for one distributor (net of clawbacks): pending, settled, paid."""
    stmt = (
        scoped(
            cast(Select[Any], select(CommissionEntry.status, func.sum(CommissionEntry.amount_fen))),
            CommissionEntry,
            principal,
        )
        .where(CommissionEntry.distributor_id == distributor_id)
        .group_by(CommissionEntry.status)
    )
    sums = {status: int(total or 0) for status, total in session.execute(stmt)}
    return {s: sums.get(s, 0) for s in ("pending", "settled", "paid")}


def pay_out(
    session: Session, principal: Principal, distributor_id: int, reference: str | None
) -> Payout:
    """Pay a distributor's settled balance; a balance of 0 or less (clawbacks) is refused."""
    principal.require(Role.operator)
    distributor = session.scalars(
        scoped(select(Distributor), Distributor, principal).where(Distributor.id == distributor_id)
    ).first()
    if distributor is None:
        raise InvalidField("distributor_id", "分销商不存在", "no such distributor")
    due = session.scalars(
        select(CommissionEntry)
        .where(
            CommissionEntry.workspace_id == principal.workspace_id,
            CommissionEntry.distributor_id == distributor_id,
            CommissionEntry.status == "settled",
        )
        .order_by(CommissionEntry.id)
        .with_for_update()
    ).all()
    total = sum(e.amount_fen for e in due)
    if total <= 0:
        raise Conflict(
            zh=f"可结算余额为 {total} 分，无需打款",
            en=f"The settled balance is {total} fen; nothing to pay",
        )
    payout = Payout(
        workspace_id=principal.workspace_id,
        distributor_id=distributor_id,
        amount_fen=total,
        entries=len(due),
        paid_at=now(),
        reference=reference,
    )
    session.add(payout)
    session.flush()
    for entry in due:
        entry.status, entry.payout_id = "paid", payout.id
    audit.record(session, principal, "pay", "distributor", distributor_id, amount_fen=total)
    session.flush()
    return payout
