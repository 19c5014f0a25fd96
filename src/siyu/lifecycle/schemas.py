"""Lifecycle settings (validated, per workspace) and the shapes the API answers with."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

STAGES = (
    "fan",
    "member",
    "new",
    "repeat",
    "loyal",
    "dormant_light",
    "dormant_medium",
    "dormant_heavy",
    "lost",
)
DORMANT = ("dormant_light", "dormant_medium", "dormant_heavy")
# (code, R high, F high, M high), the eight classic RFM cells.
CELLS = (
    ("important_value", True, True, True),
    ("important_develop", True, False, True),
    ("important_keep", False, True, True),
    ("important_retain", False, False, True),
    ("general_value", True, True, False),
    ("general_develop", True, False, False),
    ("general_keep", False, True, False),
    ("general_retain", False, False, False),
)


def _ascending(values: list[int] | list[float], name: str) -> None:
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise ValueError(f"{name} must be strictly ascending")


class RfmSettings(BaseModel):
    """Quantile scores (1..quantiles) by default, or fixed bins with explicit thresholds."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["quantile", "bins"] = "quantile"
    quantiles: int = Field(default=5, ge=2, le=10)
    # Bins mode: score = 1 + thresholds met. Recency in days since the last order (ascending:
    # within the first is best), frequency in orders, monetary in fen.
    recency_days: list[int] = Field(default=[30, 90, 180, 365], min_length=1, max_length=9)
    frequency_orders: list[int] = Field(default=[2, 3, 5, 8], min_length=1, max_length=9)
    monetary_fen: list[int] = Field(
        default=[10000, 30000, 80000, 200000], min_length=1, max_length=9
    )
    # A score at or above this is "high" for the eight cells.
    high_from: int = Field(default=3, ge=2, le=10)

    @model_validator(mode="after")
    def _check(self) -> RfmSettings:
        for name in ("recency_days", "frequency_orders", "monetary_fen"):
            values = getattr(self, name)
            _ascending(values, name)
            if values[0] <= 0:
                raise ValueError(f"{name} must be positive")
        if len({len(self.recency_days), len(self.frequency_orders), len(self.monetary_fen)}) != 1:
            raise ValueError("recency_days, frequency_orders and monetary_fen need equal lengths")
        if self.high_from > self.levels:
            raise ValueError("high_from must not exceed the number of score levels")
        return self

    @property
    def levels(self) -> int:
        """How many scores there are (5 for quintiles)."""
        return self.quantiles if self.mode == "quantile" else len(self.recency_days) + 1


class StageSettings(BaseModel):
    """Stage definitions: who is loyal, and when a buyer becomes light/medium/heavy dormant."""

    model_config = ConfigDict(extra="forbid")

    member_identity_types: list[str] = Field(default=["member_card"], max_length=10)
    member_on_first_order: bool = True
    loyal_min_orders: int = Field(default=4, ge=2)
    loyal_min_spend_fen: int | None = Field(default=300000, ge=1)
    # cycle: idle / own expected interval against cycle_multiples; days: idle against days.
    dormancy_basis: Literal["cycle", "days"] = "cycle"
    # light, medium, heavy, lost.
    cycle_multiples: list[float] = Field(default=[1.5, 2.5, 4.0, 8.0], min_length=4, max_length=4)
    dormant_days: list[int] = Field(default=[60, 120, 180, 365], min_length=4, max_length=4)
    # Interval for one-order customers when no model is fitted; and the floor of any interval.
    default_interval_days: float = Field(default=60.0, gt=0, le=3650)
    min_interval_days: float = Field(default=7.0, gt=0, le=365)

    @model_validator(mode="after")
    def _check(self) -> StageSettings:
        _ascending(self.cycle_multiples, "cycle_multiples")
        _ascending(self.dormant_days, "dormant_days")
        if self.cycle_multiples[0] <= 1.0:
            raise ValueError("cycle_multiples must start above 1")
        if self.dormant_days[0] <= 0:
            raise ValueError("dormant_days must be positive")
        return self


class ClvSettings(BaseModel):
    """CLV horizon and the annual discount rate of clv_fen (expected_spend_fen is undiscounted)."""

    model_config = ConfigDict(extra="forbid")

    horizon_days: int = Field(default=365, ge=7, le=3650)
    annual_discount_rate: float = Field(default=0.10, ge=0.0, le=1.0)
    min_buyers: int = Field(default=20, ge=5)


class Settings(BaseModel):
    """A workspace's lifecycle settings; every part has defaults."""

    model_config = ConfigDict(extra="forbid")

    rfm: RfmSettings = Field(default_factory=RfmSettings)
    stages: StageSettings = Field(default_factory=StageSettings)
    clv: ClvSettings = Field(default_factory=ClvSettings)


class MetricsOut(BaseModel):
    """One customer's computed attributes, RFM, stage and CLV."""

    model_config = ConfigDict(from_attributes=True)

    customer_id: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    order_count: int
    total_spend_fen: int
    aov_fen: int
    favourite_category: str | None
    preferred_channel: str | None
    purchase_cycle_days: float | None
    r_score: int | None
    f_score: int | None
    m_score: int | None
    rfm_cell: str | None
    lifecycle_stage: str | None
    stage_since: datetime | None
    is_member: bool
    expected_interval_days: float | None
    p_alive: float | None
    expected_purchases: float | None
    expected_spend_fen: int | None
    clv_fen: int | None
    computed_at: datetime


class Count(BaseModel):
    key: str
    count: int


class RfmGrid(BaseModel):
    """Customers per cell, and per (R, F) score pair: grid[r-1][f-1]."""

    levels: int
    cells: list[Count]
    grid: list[list[int]]


class DormantOut(BaseModel):
    """A customer on the dormancy warning list."""

    customer_id: int
    lifecycle_stage: str
    last_order_at: datetime | None
    days_idle: float
    expected_interval_days: float | None
    order_count: int
    total_spend_fen: int
    clv_fen: int | None


class ClvSummary(BaseModel):
    """The fitted models, totals and the distribution of CLV."""

    fitted: bool
    params: dict[str, dict[str, float]]
    customers: int
    total_clv_fen: int
    total_expected_spend_fen: int
    mean_p_alive: float | None
    histogram: list[dict[str, int]]
    ltv: dict[str, float | int]
    refreshed_at: datetime | None
    discounted: str = "clv_fen is discounted monthly; expected_spend_fen is not"


class LookalikeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_ids: list[int] = Field(min_length=2, max_length=100000)
    limit: int = Field(default=100, ge=1, le=10000)
    holdout: float = Field(default=0.2, ge=0.0, lt=1.0)


class LookalikeOut(BaseModel):
    """The top customers like the seed, and how well a held-out part of the seed was found."""

    items: list[dict[str, float | int]]
    seed_size: int
    holdout_size: int
    holdout_precision: float | None
    holdout_recall: float | None
    base_rate: float | None
    features: list[str]
