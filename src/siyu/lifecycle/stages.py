"""Stage, score and cell rules in one place, used by the full pass and the incremental one."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime
from typing import Any

from siyu.lifecycle.schemas import CELLS, RfmSettings, StageSettings

DAY = 86400.0


def score(value: Any, cuts: list[Any]) -> int | None:
    """1 + how many cut points (the least value of each score from 2 up) the value reaches."""
    if value is None:
        return None
    return 1 + bisect_right(cuts, value)


def cell(r: int | None, f: int | None, m: int | None, rfm: RfmSettings) -> str | None:
    """The classic cell of (R, F, M): each high when at or above high_from."""
    if r is None or f is None or m is None:
        return None
    high = (r >= rfm.high_from, f >= rfm.high_from, m >= rfm.high_from)
    return next(code for code, *flags in CELLS if tuple(flags) == high)


def cutpoints(values: list[Any], scores: list[int], levels: int) -> list[Any]:
    """For scores 2..levels, the least value that got at least that score (skipping gaps)."""
    least: dict[int, Any] = {}
    for value, s in zip(values, scores, strict=True):
        if s not in least or value < least[s]:
            least[s] = value
    cuts: list[Any] = []
    for s in range(2, levels + 1):
        reached = [least[k] for k in least if k >= s]
        if reached:
            cuts.append(min(reached))
    return cuts


def cycle_days(order_count: int, first: datetime | None, last: datetime | None) -> float | None:
    """The customer's own mean days between orders (None below two orders)."""
    if order_count < 2 or first is None or last is None:
        return None
    return (last - first).total_seconds() / DAY / (order_count - 1)


def expected_interval(
    cycle: float | None, model_interval: float | None, stages: StageSettings
) -> float:
    """Own cycle when there is one, else the model's, else the default; never below the floor."""
    days = cycle or model_interval or stages.default_interval_days
    return max(days, stages.min_interval_days)


def is_loyal(order_count: int, spend_fen: int, stages: StageSettings) -> bool:
    """Loyal (VIP) by orders or by spend."""
    by_spend = stages.loyal_min_spend_fen is not None and spend_fen >= stages.loyal_min_spend_fen
    return order_count >= stages.loyal_min_orders or by_spend


def stage_of(
    *,
    order_count: int,
    spend_fen: int,
    last_order_at: datetime | None,
    interval_days: float | None,
    is_member: bool,
    now: datetime,
    stages: StageSettings,
) -> str:
    """fan → member → new → repeat → loyal, or dormant light/medium/heavy → lost when overdue."""
    if order_count == 0 or last_order_at is None:
        return "member" if is_member else "fan"
    idle = (now - last_order_at).total_seconds() / DAY
    if stages.dormancy_basis == "cycle":
        levels = [interval_days * k for k in stages.cycle_multiples] if interval_days else []
    else:
        levels = [float(d) for d in stages.dormant_days]
    reached = bisect_right(levels, idle)
    if reached:
        return ("dormant_light", "dormant_medium", "dormant_heavy", "lost")[reached - 1]
    if is_loyal(order_count, spend_fen, stages):
        return "loyal"
    return "repeat" if order_count >= 2 else "new"
