"""The full refresh of a workspace's customer_metrics: computed in DuckDB, written back in bulk.

It reads COMMITTED data through the analytics engine, fits the CLV models on every buyer, and
replaces the workspace's rows in the caller's transaction (delete + one bulk insert). A stage
that changed writes a `lifecycle_stage_changed` event and emits LIFECYCLE_STAGE_CHANGED.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from siyu.analytics.engine import Analytics
from siyu.core.clock import now
from siyu.core.db import Database, bulk_insert, table_of
from siyu.core.errors import SiyuError
from siyu.lifecycle import clv, stages, tuning
from siyu.lifecycle.changes import Change, record_changes
from siyu.lifecycle.definitions import LTV, METRICS, members_sql, rfm_sql
from siyu.lifecycle.models import CustomerMetrics, LifecycleState
from siyu.lifecycle.schemas import Settings

log = logging.getLogger(__name__)
DAY = 86400.0


@dataclass
class RefreshResult:
    """What one full refresh did."""

    workspace_id: int
    customers: int
    buyers: int
    changes: int
    fitted: bool
    seconds: float


def naive_utc(at: datetime) -> datetime:
    """DuckDB's TIMESTAMP values are naive UTC."""
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def refresh_workspace(db: Database, session: Session, workspace_id: int) -> RefreshResult:
    """Recompute every live customer's metrics, RFM, stage and CLV for the workspace."""
    started = time.perf_counter()
    settings = tuning.load(session, workspace_id)
    at = now()
    with Analytics(db) as analytics:
        base = analytics.query(METRICS, [workspace_id, workspace_id])
        rfm = analytics.query(*rfm_sql(settings.rfm, workspace_id, naive_utc(at)))
        types = settings.stages.member_identity_types
        members = {r[0] for r in analytics.query(members_sql(types), [workspace_id, *types])}
        ltv = _ltv(analytics, workspace_id, naive_utc(at))
    fit = _fit_clv(base, naive_utc(at), settings)
    rows = _rows(base, rfm, members, fit, settings, at)
    changes = _write(session, workspace_id, rows, at)
    state = _state(session, workspace_id)
    state.cutpoints = _cutpoints(base, rfm, settings)
    state.clv_params = fit.params if fit else {}
    state.ltv, state.customers, state.refreshed_at = ltv, len(rows), at
    state.seconds = round(time.perf_counter() - started, 3)
    session.flush()
    return RefreshResult(workspace_id, len(rows), len(rfm), changes, fit is not None, state.seconds)


@dataclass
class _Fit:
    """Per-customer CLV outputs (aligned with the base rows) and the fitted parameters."""

    p_alive: np.ndarray
    expected: np.ndarray
    spend: np.ndarray
    value: np.ndarray
    params: dict[str, Any]


def history(base: list[tuple[Any, ...]], at: datetime) -> tuple[np.ndarray, ...]:
    """x, t_x, T (days) and m_x (fen) per base row; T = 0 for customers without orders."""
    n = len(base)
    x, t_x, big_t, m_x = (np.zeros(n) for _ in range(4))
    for i, row in enumerate(base):
        count, first, last, repeat = row[1], row[3], row[4], row[5]
        if count:
            x[i] = count - 1
            t_x[i] = (last - first).total_seconds() / DAY if count > 1 else 0.0
            big_t[i] = max((at - first).total_seconds() / DAY, t_x[i])
            m_x[i] = repeat / (count - 1) if count > 1 else 0.0
    return x, t_x, big_t, m_x


def _fit_clv(base: list[tuple[Any, ...]], at: datetime, settings: Settings) -> _Fit | None:
    """BG/NBD + Gamma-Gamma over the buyers, in days; None with too little history."""
    x, t_x, big_t, m_x = history(base, at)
    buyers = big_t > 0
    if buyers.sum() < settings.clv.min_buyers or (x[buyers] > 0).sum() < 3:
        return None
    try:
        model = clv.fit_bgnbd(x[buyers], t_x[buyers], big_t[buyers])
        spend = clv.fit_gamma_gamma(x[buyers], m_x[buyers])
    except (SiyuError, ValueError, FloatingPointError) as exc:
        log.warning("CLV fit failed: %s", type(exc).__name__)
        return None
    horizon, rate = settings.clv.horizon_days, settings.clv.annual_discount_rate
    n = len(base)
    p_alive, expected, total, value = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    b = buyers
    with np.errstate(all="ignore"):
        p_alive[b] = model.p_alive(x[b], t_x[b], big_t[b])
        expected[b] = model.expected_purchases(horizon, x[b], t_x[b], big_t[b])
        total[b] = expected[b] * spend.expected_value(x[b], m_x[b])
        value[b] = clv.discounted_clv(model, spend, horizon, rate, x[b], t_x[b], big_t[b], m_x[b])
    params = {
        "bgnbd": {"r": model.r, "alpha": model.alpha, "a": model.a, "b": model.b},
        "gamma_gamma": {"p": spend.p, "q": spend.q, "v": spend.v},
        "unit": "days",
        "horizon_days": horizon,
        "mean_interval_days": clv.mean_interval(model),
    }
    return _Fit(np.nan_to_num(p_alive), np.nan_to_num(expected), total, value, params)


def _rows(
    base: list[tuple[Any, ...]],
    rfm: list[tuple[Any, ...]],
    members: set[int],
    fit: _Fit | None,
    settings: Settings,
    at: datetime,
) -> list[dict[str, Any]]:
    scores = {r[0]: r[1:] for r in rfm}
    model_interval = fit.params["mean_interval_days"] if fit else None
    rows = []
    for i, (cid, count, spend, first, last, _rep, channel, category) in enumerate(base):
        first = first.replace(tzinfo=UTC) if first else None
        last = last.replace(tzinfo=UTC) if last else None
        member = cid in members or (settings.stages.member_on_first_order and count > 0)
        cycle = stages.cycle_days(count, first, last)
        interval = (
            stages.expected_interval(cycle, model_interval, settings.stages) if count else None
        )
        r, f, m, cell = scores.get(cid, (None, None, None, None))
        row = {
            "workspace_id": 0,
            "customer_id": cid,
            "first_order_at": first,
            "last_order_at": last,
            "order_count": int(count),
            "total_spend_fen": int(spend),
            "aov_fen": int(spend) // int(count) if count else 0,
            "favourite_category": category,
            "preferred_channel": channel,
            "purchase_cycle_days": cycle,
            "r_score": r,
            "f_score": f,
            "m_score": m,
            "rfm_cell": cell,
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
        if fit is not None and count:
            row["p_alive"] = float(fit.p_alive[i])
            row["expected_purchases"] = float(fit.expected[i])
            row["expected_spend_fen"] = int(round(float(fit.spend[i])))
            row["clv_fen"] = int(round(float(fit.value[i])))
        rows.append(row)
    return rows


def _write(session: Session, workspace_id: int, rows: list[dict[str, Any]], at: datetime) -> int:
    """Replace the workspace's rows; returns how many stages changed."""
    before = {
        cid: (stage, since)
        for cid, stage, since in session.execute(
            select(
                CustomerMetrics.customer_id,
                CustomerMetrics.lifecycle_stage,
                CustomerMetrics.stage_since,
            ).where(CustomerMetrics.workspace_id == workspace_id)
        )
    }
    changes: list[Change] = []
    for row in rows:
        row["workspace_id"] = workspace_id
        stage, since = before.get(row["customer_id"], (None, None))
        if stage == row["lifecycle_stage"]:
            row["stage_since"] = since or at
            continue
        row["stage_since"] = at
        if stage is not None:
            changes.append(Change(row["customer_id"], stage, row["lifecycle_stage"]))
    session.execute(delete(CustomerMetrics).where(CustomerMetrics.workspace_id == workspace_id))
    bulk_insert(session, table_of(CustomerMetrics), rows)
    record_changes(session, workspace_id, changes, at)
    return len(changes)


def _cutpoints(
    base: list[tuple[Any, ...]], rfm: list[tuple[Any, ...]], settings: Settings
) -> dict[str, Any]:
    """The least value of each score, so the incremental pass scores one customer alike."""
    if settings.rfm.mode == "bins":
        return {"mode": "bins"}
    by_id = {row[0]: row for row in base}
    levels = settings.rfm.levels
    buyers = [by_id[r[0]] for r in rfm]
    last = [b[4].replace(tzinfo=UTC).isoformat() for b in buyers]
    return {
        "mode": "quantile",
        "r": stages.cutpoints(last, [r[1] for r in rfm], levels),
        "f": stages.cutpoints([int(b[1]) for b in buyers], [r[2] for r in rfm], levels),
        "m": stages.cutpoints([int(b[2]) for b in buyers], [r[3] for r in rfm], levels),
    }


def _ltv(analytics: Analytics, workspace_id: int, at: datetime) -> dict[str, Any]:
    """The seeds' LTV = ARPU x expected lifetime, over the last two years of orders."""
    year, two = at - timedelta(days=365), at - timedelta(days=730)
    ((buyers, revenue, cohort, churned),) = analytics.query(
        LTV, [year, two, year, year, workspace_id]
    )
    if not buyers or not cohort or not churned:
        return {}
    arpu = int(revenue) / int(buyers)
    churn = int(churned) / int(cohort)
    return {
        "arpu_fen": int(round(arpu)),
        "churn_rate": round(churn, 4),
        "lifetime_years": round(1.0 / churn, 3),
        "ltv_fen": int(round(clv.ltv(arpu, churn))),
    }


def _state(session: Session, workspace_id: int) -> LifecycleState:
    state = session.scalars(
        select(LifecycleState).where(LifecycleState.workspace_id == workspace_id)
    ).first()
    if state is None:
        state = LifecycleState(workspace_id=workspace_id, refreshed_at=now())
        session.add(state)
    return state
