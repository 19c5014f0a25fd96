"""Attribution and commission for batches of orders, as three set-based statements per chunk.

Per chunk of order ids: one UPDATE ... FROM writes the last touch within the window onto the
orders that name no distributor, one UPDATE ... FROM gives unowned customers to their first
seller, and one INSERT ... SELECT writes the level-1 and level-2 entries, with the most specific
rule per line chosen by a CASE in SQL. An order that already has commission entries is skipped
(and the dedupe key is unique), so a replayed signal writes nothing.

Rounding as before: each line's share of the paid money (paid × line ÷ lines, rounded down)
times the rate, rounded down to the fen, summed per order and level.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Interval,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.orm import Session, aliased

from siyu.catalog.models import Sku
from siyu.core.clock import now
from siyu.core.db import UTCDateTime, table_of
from siyu.customers.models import Customer
from siyu.distribution.commissions import claw_back
from siyu.distribution.models import CommissionEntry, CommissionRule, Distributor, ShareVisit
from siyu.distribution.service import CHUNK, id_in, settings_of
from siyu.ingest.models import Order, OrderLine, Refund

PAYABLE = ("paid", "shipped", "completed", "partially_refunded", "refunded")


def ranked(rules: Sequence[CommissionRule]) -> list[CommissionRule]:
    """Most specific first (product beats category beats tier beats the default), newest on ties."""

    def score(rule: CommissionRule) -> tuple[int, int]:
        points = 4 * (rule.product_id is not None) + 2 * (rule.category is not None)
        return points + (rule.tier is not None), rule.id

    return sorted(rules, key=score, reverse=True)


def shifted(session: Session, column: Any, days: int) -> ColumnElement[Any]:
    """column + days, exactly (24-hour days), in each store's own date arithmetic."""
    if session.get_bind().dialect.name == "postgresql":
        return column + literal_column(f"INTERVAL '{24 * days} hours'", Interval)
    # datetime() drops the fraction; shifting by whole days leaves it as it was, so put it back.
    return func.datetime(column, f"{days:+d} days").concat(func.substr(column, 20))


def in_batch(session: Session, column: Any, ids: list[int]) -> ColumnElement[bool]:
    """column among the sorted ids: a BETWEEN when they are contiguous (ingest's usual case)."""
    if ids[-1] - ids[0] + 1 == len(ids):
        return column.between(ids[0], ids[-1])
    return id_in(session, column, ids)  # type: ignore[no-any-return]


class Ledger:
    """Attribution and commission for batches of orders, a few statements per 5,000 orders."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session, self.workspace_id = session, workspace_id
        options = settings_of(session, workspace_id)
        self.window_days, self.return_days = options["attribution_days"], options["return_days"]
        self.rules = ranked(
            session.scalars(
                select(CommissionRule).where(
                    CommissionRule.workspace_id == workspace_id, CommissionRule.active.is_(True)
                )
            ).all()
        )

    def run(self, order_ids: Sequence[int]) -> int:
        """Attribute and commission these orders (once each); returns entries written."""
        written = 0
        ids = sorted(set(order_ids))
        if ids and self.session.get_bind().dialect.name == "postgresql":
            # JIT would compile these statements anew for every chunk (~20 ms each, more than
            # most of them take to run); LOCAL: for this transaction only.
            self.session.execute(text("SET LOCAL jit = off"))
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            self._attribute(chunk)
            self._claim(chunk)
            made = self._commission(chunk)
            if made:
                self._late_refunds(chunk)
            written += made
        return written

    def _attribute(self, ids: list[int]) -> None:
        """orders.distributor_id := the last touch within the window, where the order names none."""
        s, ws, o, v = self.session, self.workspace_id, aliased(Order), ShareVisit
        touch = (
            select(v.distributor_id)
            .where(
                v.workspace_id == ws,
                v.customer_id == o.customer_id,
                v.at >= shifted(s, o.ordered_at, -self.window_days),
                v.at <= o.ordered_at,
            )
            .order_by(v.at.desc(), v.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        found = (
            select(o.id.label("order_id"), touch.label("seller"))
            .where(o.workspace_id == ws, in_batch(s, o.id, ids), o.distributor_id.is_(None))
            .subquery()
        )
        s.execute(
            update(table_of(Order))
            .where(table_of(Order).c.id == found.c.order_id, found.c.seller.is_not(None))
            .values(distributor_id=found.c.seller)
        )

    def _claim(self, ids: list[int]) -> None:
        """Unowned customers go to the seller of their first order in the batch (their circle)."""
        s, ws = self.session, self.workspace_id
        first = (
            select(Order.customer_id, func.min(Order.id).label("order_id"))
            .join(Distributor, Distributor.id == Order.distributor_id)
            .where(Order.workspace_id == ws, in_batch(s, Order.id, ids))
            .where(Distributor.workspace_id == ws)
            .group_by(Order.customer_id)
            .subquery()
        )
        seller = aliased(Order)
        owners = (
            select(first.c.customer_id, seller.distributor_id)
            .join(seller, seller.id == first.c.order_id)
            .subquery()
        )
        customer = table_of(Customer)
        s.execute(
            update(customer)
            .where(customer.c.id == owners.c.customer_id, customer.c.distributor_id.is_(None))
            .values(distributor_id=owners.c.distributor_id)
        )

    def _rate(self, level: int, category: Any, product_id: Any, tier: Any) -> ColumnElement[int]:
        """The basis points of the first (most specific) rule that matches, as a CASE."""
        whens = []
        for rule in self.rules:
            conds = [
                column == value
                for column, value in (
                    (product_id, rule.product_id),
                    (category, rule.category),
                    (tier, rule.tier),
                )
                if value is not None
            ]
            bps = rule.level1_bps if level == 1 else rule.level2_bps
            whens.append((and_(*conds) if conds else true(), literal(bps, BigInteger)))
        return case(*whens, else_=literal(0, BigInteger)) if whens else literal(0, BigInteger)

    def _commission(self, ids: list[int]) -> int:
        """Level-1 and level-2 entries for the payable, attributed, not yet commissioned orders."""
        parts = self._lines(ids)
        keys = (parts.c.order_id, parts.c.paid_fen, parts.c.ordered_at, parts.c.d1, parts.c.d2)
        sums = (
            select(
                *keys,
                cast(func.sum(parts.c.base * parts.c.r1 // 10000), BigInteger).label("a1"),
                cast(func.sum(parts.c.base * parts.c.r2 // 10000), BigInteger).label("a2"),
            )
            .group_by(*keys)
            .subquery()
        )
        return self._insert(sums)

    def _lines(self, ids: list[int]) -> Any:
        """Per line of each order to commission: its share of the paid money and both rates."""
        s, ws = self.session, self.workspace_id
        seller, upline, line = aliased(Distributor), aliased(Distributor), aliased(OrderLine)
        # A correlated sum is cheaper than a window here; sum() of bigint is numeric on
        # PostgreSQL, so cast back, or the division stops rounding down.
        total = cast(
            select(func.sum(line.amount_fen)).where(line.order_id == Order.id).scalar_subquery(),
            BigInteger,
        )
        base = case(
            (OrderLine.order_id.is_(None), Order.paid_fen),
            else_=Order.paid_fen * OrderLine.amount_fen // func.coalesce(func.nullif(total, 0), 1),
        )
        done = exists().where(
            CommissionEntry.order_id == Order.id, CommissionEntry.kind == "commission"
        )
        rates = [self._rate(n, OrderLine.category, Sku.product_id, seller.tier) for n in (1, 2)]
        query = (
            select(
                Order.id.label("order_id"),
                Order.paid_fen,
                Order.ordered_at,
                seller.id.label("d1"),
                upline.id.label("d2"),
                base.label("base"),
                rates[0].label("r1"),
                rates[1].label("r2"),
            )
            .select_from(Order)
            .join(seller, and_(seller.id == Order.distributor_id, seller.workspace_id == ws))
            .outerjoin(upline, and_(upline.id == seller.parent_id, upline.workspace_id == ws))
            .outerjoin(OrderLine, OrderLine.order_id == Order.id)
            .where(Order.workspace_id == ws, in_batch(s, Order.id, ids))
            .where(Order.status.in_(PAYABLE), seller.status == "active", ~done)
        )
        if any(rule.product_id is not None for rule in self.rules):
            # Only product rules need the line's product: the SKU of the same code.
            query = query.outerjoin(Sku, and_(Sku.workspace_id == ws, Sku.code == OrderLine.sku))
        return query.subquery()

    def _insert(self, sums: Any) -> int:
        """One INSERT ... SELECT of a level-1 and a level-2 row per order (zero amounts skipped)."""
        levels = union_all(
            select(literal(1, BigInteger).label("level")), select(literal(2, BigInteger))
        ).subquery()
        one = levels.c.level == 1
        rows = (
            select(
                literal(self.workspace_id, BigInteger),
                case((one, sums.c.d1), else_=sums.c.d2),
                sums.c.order_id,
                null(),
                levels.c.level,
                literal("commission"),
                sums.c.paid_fen,
                case((one, sums.c.a1), else_=sums.c.a2),
                literal("pending"),
                literal("commission:")
                .concat(cast(sums.c.order_id, String))
                .concat(":")
                .concat(cast(levels.c.level, String)),
                literal(now(), UTCDateTime),
                shifted(self.session, sums.c.ordered_at, self.return_days),
            )
            .select_from(sums)
            .join(levels, true())
            .where(
                or_(
                    and_(one, sums.c.a1 > 0),
                    and_(levels.c.level == 2, sums.c.d2.is_not(None), sums.c.a2 > 0),
                )
            )
        )
        columns = "workspace_id distributor_id order_id refund_id level kind base_fen"
        columns += " amount_fen status dedupe created_at settle_after"
        insert = table_of(CommissionEntry).insert().from_select(columns.split(), rows)
        # SQLAlchemy keeps an INSERT's rowcount only when asked to.
        result = self.session.execute(insert.execution_options(preserve_rowcount=True))
        return int(getattr(result, "rowcount", 0) or 0)

    def _late_refunds(self, ids: list[int]) -> None:
        """Refunds recorded before the commission was: claw them back now."""
        s = self.session
        found = s.execute(
            select(Refund.order_id, Refund.id)
            .join(Order, Order.id == Refund.order_id)
            .where(in_batch(s, Order.id, ids), Order.refunded_fen > 0)
            .order_by(Refund.id)
        ).all()
        for order_id, refund_id in found:
            claw_back(s, self.workspace_id, order_id, refund_id)
