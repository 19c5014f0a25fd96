"""Per-customer computed attributes, RFM, lifecycle stage and CLV: what tags and segments read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, UTCDateTime
from siyu.core.models import IdMixin, WorkspaceMixin


class CustomerMetrics(IdMixin, WorkspaceMixin, Base):
    """One row per live (not merged-away) customer; rewritten by the lifecycle refresh."""

    __tablename__ = "customer_metrics"
    __table_args__ = (
        UniqueConstraint("workspace_id", "customer_id"),
        Index("ix_customer_metrics_ws_stage", "workspace_id", "lifecycle_stage"),
        Index("ix_customer_metrics_ws_cell", "workspace_id", "rfm_cell"),
    )

    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id", ondelete="CASCADE"))
    # Computed attributes over paid, not fully refunded orders.
    first_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    order_count: Mapped[int] = mapped_column(default=0)
    total_spend_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    aov_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    favourite_category: Mapped[str | None] = mapped_column(String(64), default=None)
    preferred_channel: Mapped[str | None] = mapped_column(String(16), default=None)
    # The customer's own mean days between orders (None below two orders).
    purchase_cycle_days: Mapped[float | None] = mapped_column(default=None)
    # RFM scores 1..5 (quintiles by default) and the classic cell code, e.g. "important_value".
    r_score: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    f_score: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    m_score: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    rfm_cell: Mapped[str | None] = mapped_column(String(32), default=None)
    # fan, member, new, repeat, loyal, dormant_light, dormant_medium, dormant_heavy, lost.
    lifecycle_stage: Mapped[str | None] = mapped_column(String(24), default=None)
    stage_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # CLV (BG/NBD + Gamma-Gamma): P(alive), expected purchases and spend over the horizon.
    p_alive: Mapped[float | None] = mapped_column(default=None)
    expected_purchases: Mapped[float | None] = mapped_column(default=None)
    expected_spend_fen: Mapped[int | None] = mapped_column(BigInteger, default=None)
    clv_fen: Mapped[int | None] = mapped_column(BigInteger, default=None)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Added by the lifecycle domain: membership (the funnel's second step) and the interval
    # (days) after which this customer counts as overdue, from their history or the model.
    is_member: Mapped[bool] = mapped_column(Boolean, default=False)
    expected_interval_days: Mapped[float | None] = mapped_column(default=None)


class LifecycleSettings(IdMixin, WorkspaceMixin, Base):
    """A workspace's tuned RFM bins, stage definitions and CLV horizon (see schemas.Settings)."""

    __tablename__ = "lifecycle_settings"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LifecycleState(IdMixin, WorkspaceMixin, Base):
    """What the last full refresh learned: RFM cut points, CLV parameters, the seeds' LTV."""

    __tablename__ = "lifecycle_state"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    # {"r": [iso timestamps], "f": [counts], "m": [fen]}: the least value of each score >= 2.
    cutpoints: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # {"bgnbd": {r, alpha, a, b}, "gamma_gamma": {p, q, v}} in days, or {} when not fitted.
    clv_params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # {"arpu_fen", "churn_rate", "lifetime_years", "ltv_fen"} or {} without a year of history.
    ltv: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    customers: Mapped[int] = mapped_column(default=0)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seconds: Mapped[float] = mapped_column(default=0.0)
