"""The incremental refresh: the customers an order or refund named, on the operational store.

Per customer, in the caller's transaction (it sees uncommitted rows, unlike DuckDB): computed
attributes from their own orders, RFM scores against the cut points of the last full pass,
the stage, and CLV from the stored model parameters. The nightly full pass re-ranks everyone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.clock import as_utc, now
from siyu.customers.models import Customer, Identity
from siyu.ingest.models import Order, OrderLine
from siyu.lifecycle import clv, stages, tuning
from siyu.lifecycle.changes import Change, record_changes
from siyu.lifecycle.models import CustomerMetrics, LifecycleState
from siyu.lifecycle.schemas import Settings

COUNTED = ("paid", "shipped", "completed", "partially_refunded")
DAY = 86400.0


def refresh_customers(session: Session, workspace_id: int, customer_ids: Iterable[int]) -> int:
    """Recompute the named customers' rows; returns how many stages changed."""
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    settings = tuning.load(session, workspace_id)
    state = session.scalars(
        select(LifecycleState).where(LifecycleState.workspace_id == workspace_id)
    ).first()
    at = now()
    live = set(
        session.scalars(
            select(Customer.id).where(
                Customer.workspace_id == workspace_id,
                Customer.id.in_(ids),
                Customer.merged_into_id.is_(None),
            )
        )
    )
    existing = {
        m.customer_id: m
        for m in session.scalars(
            select(CustomerMetrics).where(
                CustomerMetrics.workspace_id == workspace_id, CustomerMetrics.customer_id.in_(ids)
            )
        )
    }
    orders = _orders(session, workspace_id, sorted(live))
    members = _members(session, workspace_id, sorted(live), settings)
    changes: list[Change] = []
    for cid in ids:
        row = existing.get(cid)
        if cid not in live:  # merged away: no longer a customer of its own
            if row is not None:
                session.delete(row)
            continue
        values = compute(orders.get(cid, []), cid in members, settings, state, at)
        if row is None:
            row = CustomerMetrics(workspace_id=workspace_id, customer_id=cid, stage_since=at)
            session.add(row)
        elif row.lifecycle_stage != values["lifecycle_stage"]:
            if row.lifecycle_stage is not None:
                changes.append(Change(cid, row.lifecycle_stage, values["lifecycle_stage"]))
            row.stage_since = at
        for key, value in values.items():
            setattr(row, key, value)
    session.flush()
    record_changes(session, workspace_id, changes, at)
    return len(changes)


def _orders(
    session: Session, workspace_id: int, ids: list[int]
) -> dict[int, list[tuple[Any, ...]]]:
    """(id, channel, ordered_at, net_fen, categories) of each customer's counted orders."""
    if not ids:
        return {}
    rows = session.execute(
        select(
            Order.id,
            Order.customer_id,
            Order.channel,
            Order.ordered_at,
            Order.paid_fen,
            Order.refunded_fen,
        )
        .where(
            Order.workspace_id == workspace_id,
            Order.customer_id.in_(ids),
            Order.status.in_(COUNTED),
            Order.paid_fen > Order.refunded_fen,
        )
        .order_by(Order.customer_id, Order.ordered_at, Order.id)
    ).all()
    lines: dict[int, list[tuple[Any, int]]] = {}
    order_ids = [r[0] for r in rows]
    for start in range(0, len(order_ids), 500):
        for oid, category, amount in session.execute(
            select(OrderLine.order_id, OrderLine.category, OrderLine.amount_fen).where(
                OrderLine.order_id.in_(order_ids[start : start + 500]),
                OrderLine.category.is_not(None),
                OrderLine.quantity > OrderLine.refunded_quantity,
            )
        ):
            lines.setdefault(oid, []).append((category, amount))
    out: dict[int, list[tuple[Any, ...]]] = {}
    for oid, cid, channel, at, paid, refunded in rows:
        out.setdefault(cid, []).append(
            (oid, channel, as_utc(at), paid - refunded, lines.get(oid, []))
        )
    return out


def _members(session: Session, workspace_id: int, ids: list[int], settings: Settings) -> set[int]:
    types = settings.stages.member_identity_types
    if not ids or not types:
        return set()
    return set(
        session.scalars(
            select(Identity.customer_id).where(
                Identity.workspace_id == workspace_id,
                Identity.customer_id.in_(ids),
                Identity.type.in_(types),
            )
        )
    )


def _favourite(orders: list[tuple[Any, ...]]) -> str | None:
    """Most orders containing it, then most spent on it, then by name (as the full pass)."""
    count: Counter[str] = Counter()
    spent: Counter[str] = Counter()
    for order in orders:
        for category in {c for c, _ in order[4]}:
            count[category] += 1
        for category, amount in order[4]:
            spent[category] += amount
    if not count:
        return None
    return min(count, key=lambda c: (-count[c], -spent[c], c))


def _preferred(orders: list[tuple[Any, ...]]) -> str | None:
    counts = Counter(o[1] for o in orders)
    return min(counts, key=lambda c: (-counts[c], c)) if counts else None


def _scores(
    last: datetime,
    count: int,
    spend: int,
    settings: Settings,
    state: LifecycleState | None,
    at: datetime,
) -> tuple[int | None, int | None, int | None]:
    rfm = settings.rfm
    if rfm.mode == "bins":
        recent = sorted(at.timestamp() - d * DAY for d in rfm.recency_days)
        return (
            stages.score(last.timestamp(), recent),
            stages.score(count, rfm.frequency_orders),
            stages.score(spend, rfm.monetary_fen),
        )
    cuts = state.cutpoints if state is not None else {}
    if cuts.get("mode") != "quantile":
        return None, None, None
    r_cuts = [datetime.fromisoformat(v) for v in cuts["r"]]
    return (
        stages.score(last, r_cuts),
        stages.score(count, cuts["f"]),
        stages.score(spend, cuts["m"]),
    )


def compute(
    orders: list[tuple[Any, ...]],
    is_member: bool,
    settings: Settings,
    state: LifecycleState | None,
    at: datetime,
) -> dict[str, Any]:
    """Every column of one customer's metrics row from their counted orders."""
    count = len(orders)
    spend = sum(o[3] for o in orders)
    first = orders[0][2] if orders else None
    last = max(o[2] for o in orders) if orders else None
    member = is_member or (settings.stages.member_on_first_order and count > 0)
    cycle = stages.cycle_days(count, first, last)
    params = state.clv_params if state is not None else {}
    model_interval = params.get("mean_interval_days")
    interval = stages.expected_interval(cycle, model_interval, settings.stages) if count else None
    r = f = m = None
    if last is not None:
        r, f, m = _scores(last, count, spend, settings, state, at)
    values: dict[str, Any] = {
        "first_order_at": first,
        "last_order_at": last,
        "order_count": count,
        "total_spend_fen": spend,
        "aov_fen": spend // count if count else 0,
        "favourite_category": _favourite(orders),
        "preferred_channel": _preferred(orders),
        "purchase_cycle_days": cycle,
        "r_score": r,
        "f_score": f,
        "m_score": m,
        "rfm_cell": stages.cell(r, f, m, settings.rfm),
        "is_member": member,
        "expected_interval_days": interval,
        "lifecycle_stage": stages.stage_of(
            order_count=count,
            spend_fen=spend,
            last_order_at=last,
            interval_days=interval,
            is_member=member,
            now=at,
            stages=settings.stages,
        ),
        "p_alive": None,
        "expected_purchases": None,
        "expected_spend_fen": None,
        "clv_fen": None,
        "computed_at": at,
    }
    if params and first is not None and last is not None:
        values.update(_clv(params, count, spend - orders[0][3], first, last, settings, at))
    return values


def _clv(
    params: dict[str, Any],
    count: int,
    repeat_spend: int,
    first: datetime,
    last: datetime,
    settings: Settings,
    at: datetime,
) -> dict[str, Any]:
    model = clv.BgNbd(**params["bgnbd"])
    spend = clv.GammaGamma(**params["gamma_gamma"])
    x = float(count - 1)
    t_x = (last - first).total_seconds() / DAY if count > 1 else 0.0
    big_t = max((at - first).total_seconds() / DAY, t_x)
    m_x = repeat_spend / x if x else 0.0
    horizon, rate = settings.clv.horizon_days, settings.clv.annual_discount_rate
    expected = float(model.expected_purchases(horizon, [x], [t_x], [big_t])[0])
    value = float(spend.expected_value([x], [m_x])[0])
    discounted = clv.discounted_clv(model, spend, horizon, rate, [x], [t_x], [big_t], [m_x])
    return {
        "p_alive": float(model.p_alive([x], [t_x], [big_t])[0]),
        "expected_purchases": expected,
        "expected_spend_fen": int(round(expected * value)),
        "clv_fen": int(round(float(discounted[0]))),
    }
