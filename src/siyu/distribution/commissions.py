"""Commission rules (two levels at most), the ledger, clawback on refund, settlement, payouts.

Rounding: every commission is rounded down to the fen (base × bps // 10,000), per order line.
A refund claws back the share of the commission the refunds so far cover, rounded down, and
a refund that empties the order claws back the rest, so the net of a refunded order is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from siyu.catalog.models import Sku
from siyu.core import audit
from siyu.core.auth import Principal, scoped
from siyu.core.clock import now
from siyu.core.db import bulk_insert, table_of
from siyu.core.errors import Conflict, InvalidField
from siyu.distribution.models import CommissionEntry, CommissionRule, Distributor, Payout
from siyu.distribution.schemas import RuleIn, RuleOut
from siyu.distribution.service import (
    CHUNK,
    id_in,
    known_distributors,
    last_touches,
    set_many,
    settings_of,
)
from siyu.ingest.models import Order, OrderLine, Refund
from siyu.workspaces.models import Role

MAX_LEVELS = 2
PAYABLE = ("paid", "shipped", "completed", "partially_refunded", "refunded")


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


def pick_rule(
    rules: Sequence[CommissionRule], category: str | None, product_id: int | None, tier: str
) -> CommissionRule | None:
    """The most specific matching rule: product beats category beats tier beats the default."""
    best, best_score = None, -1
    for rule in rules:
        if rule.product_id is not None and rule.product_id != product_id:
            continue
        if rule.category is not None and rule.category != category:
            continue
        if rule.tier is not None and rule.tier != tier:
            continue
        score = 4 * (rule.product_id is not None) + 2 * (rule.category is not None)
        score += rule.tier is not None
        if score > best_score or (score == best_score and best and rule.id > best.id):
            best, best_score = rule, score
    return best


class Ledger:
    """Attribution and commission for batches of orders, a few statements per 5,000 orders."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session, self.workspace_id = session, workspace_id
        options = settings_of(session, workspace_id)
        self.window = timedelta(days=options["attribution_days"])
        self.return_window = timedelta(days=options["return_days"])
        self.rules = list(
            session.scalars(
                select(CommissionRule).where(
                    CommissionRule.workspace_id == workspace_id, CommissionRule.active.is_(True)
                )
            )
        )
        self.products: dict[str, int] = {}
        self.rates: dict[tuple[str | None, int | None, str], tuple[int, int]] = {}

    def run(self, order_ids: Sequence[int]) -> int:
        """Attribute and commission these orders (once each); returns entries written."""
        written = 0
        ids = sorted(set(order_ids))
        for start in range(0, len(ids), CHUNK):
            written += self._chunk(ids[start : start + CHUNK])
        return written

    def _chunk(self, ids: list[int]) -> int:
        s = self.session
        rows = s.execute(
            select(
                Order.id,
                Order.customer_id,
                Order.distributor_id,
                Order.ordered_at,
                Order.paid_fen,
                Order.status,
                Order.refunded_fen,
            ).where(Order.workspace_id == self.workspace_id, id_in(s, Order.id, ids))
        ).all()
        open_ = [(r.id, r.customer_id, r.ordered_at) for r in rows if r.distributor_id is None]
        touched = last_touches(s, self.workspace_id, open_, self.window)
        if touched:
            set_many(
                s,
                "UPDATE orders SET distributor_id = {} WHERE id = {}",
                ((d, o) for o, d in touched.items()),
            )
        seller = {r.id: r.distributor_id or touched.get(r.id) for r in rows}
        people = known_distributors(s, self.workspace_id, [d for d in seller.values() if d])
        uplines = known_distributors(
            s, self.workspace_id, [p.parent_id for p in people.values() if p.parent_id]
        )
        from siyu.distribution.service import claim_customers

        claim_customers(
            s,
            self.workspace_id,
            {r.customer_id: people[d].id for r in rows if (d := seller[r.id]) in people},
        )
        done = set(
            s.scalars(
                select(CommissionEntry.order_id).where(
                    id_in(s, CommissionEntry.order_id, ids), CommissionEntry.kind == "commission"
                )
            )
        )
        lines = self._lines(ids)
        entries: list[dict[str, Any]] = []
        for r in rows:
            who = people.get(seller[r.id] or 0)
            if who is None or r.id in done or r.status not in PAYABLE or who.status != "active":
                continue
            upline = uplines.get(who.parent_id or 0)
            amounts = self._amounts(r.paid_fen, lines.get(r.id, []), who.tier)
            for level, person in ((1, who), (2, upline)):
                if person is None or not amounts[level - 1]:
                    continue
                entries.append(self._entry(r, person.id, level, amounts[level - 1]))
        bulk_insert(s, table_of(CommissionEntry), entries)
        if entries:
            refunded = [r.id for r in rows if r.refunded_fen]
            self._late_refunds(refunded)
        return len(entries)

    def _lines(self, ids: list[int]) -> dict[int, list[tuple[str | None, int | None, int]]]:
        found: dict[int, list[tuple[str | None, int | None, int]]] = {}
        stmt = select(OrderLine.order_id, OrderLine.sku, OrderLine.category, OrderLine.amount_fen)
        raw = self.session.execute(stmt.where(id_in(self.session, OrderLine.order_id, ids))).all()
        missing = sorted({sku for _, sku, _, _ in raw if sku not in self.products})
        if missing:
            self.products.update(
                self.session.execute(
                    select(Sku.code, Sku.product_id).where(
                        Sku.workspace_id == self.workspace_id, Sku.code.in_(missing)
                    )
                ).all()
            )
        for order_id, sku, category, amount in raw:
            found.setdefault(order_id, []).append((category, self.products.get(sku), amount))
        return found

    def _rate(self, category: str | None, product_id: int | None, tier: str) -> tuple[int, int]:
        """(level-1, level-2) basis points of the rule that applies, remembered per key."""
        key = (category, product_id, tier)
        found = self.rates.get(key)
        if found is None:
            rule = pick_rule(self.rules, category, product_id, tier)
            found = self.rates[key] = (rule.level1_bps, rule.level2_bps) if rule else (0, 0)
        return found

    def _amounts(
        self, paid_fen: int, lines: list[tuple[str | None, int | None, int]], tier: str
    ) -> tuple[int, int]:
        """Level-1 and level-2 commission: paid money split over the lines by their amounts."""
        if not lines:
            one_bps, two_bps = self._rate(None, None, tier)
            return paid_fen * one_bps // 10000, paid_fen * two_bps // 10000
        total = sum(a for _, _, a in lines) or 1
        one = two = 0
        for category, product_id, amount in lines:
            one_bps, two_bps = self._rate(category, product_id, tier)
            base = paid_fen * amount // total
            one += base * one_bps // 10000
            two += base * two_bps // 10000
        return one, two

    def _entry(self, r: Any, distributor_id: int, level: int, amount: int) -> dict[str, Any]:
        return {
            "workspace_id": self.workspace_id,
            "distributor_id": distributor_id,
            "order_id": r.id,
            "refund_id": None,
            "level": level,
            "kind": "commission",
            "base_fen": r.paid_fen,
            "amount_fen": amount,
            "status": "pending",
            "dedupe": f"commission:{r.id}:{level}",
            "created_at": now(),
            "settle_after": r.ordered_at + self.return_window,
            "settled_at": None,
            "payout_id": None,
        }

    def _late_refunds(self, order_ids: list[int]) -> None:
        """Refunds recorded before the commission was: claw them back now."""
        for refund in self.session.scalars(select(Refund).where(Refund.order_id.in_(order_ids))):
            claw_back(self.session, self.workspace_id, refund.order_id, refund.id)


def claw_back(
    session: Session, workspace_id: int, order_id: int, refund_id: int
) -> list[CommissionEntry]:
    """Compensating entries for a refund: pending if the commission is, settled (a debt) if not."""
    order = session.get(Order, order_id)
    if order is None or not order.paid_fen:
        return []
    made: list[CommissionEntry] = []
    entries = session.scalars(
        select(CommissionEntry).where(
            CommissionEntry.workspace_id == workspace_id, CommissionEntry.order_id == order_id
        )
    ).all()
    for original in [e for e in entries if e.kind == "commission"]:
        dedupe = f"clawback:{refund_id}:{original.level}"
        if any(e.dedupe == dedupe for e in entries):
            continue
        taken = -sum(
            e.amount_fen for e in entries if e.kind == "clawback" and e.level == original.level
        ) - sum(e.amount_fen for e in made if e.level == original.level)
        refunded = min(order.refunded_fen, order.paid_fen)
        target = (
            original.amount_fen
            if refunded >= order.paid_fen
            else original.amount_fen * refunded // order.paid_fen
        )
        if target - taken <= 0:
            continue
        settled = original.status != "pending"
        entry = CommissionEntry(
            workspace_id=workspace_id,
            distributor_id=original.distributor_id,
            order_id=order_id,
            refund_id=refund_id,
            level=original.level,
            kind="clawback",
            base_fen=refunded,
            amount_fen=-(target - taken),
            status="settled" if settled else "pending",
            dedupe=dedupe,
            created_at=now(),
            settle_after=now() if settled else original.settle_after,
            settled_at=now() if settled else None,
        )
        session.add(entry)
        made.append(entry)
    session.flush()
    return made


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
