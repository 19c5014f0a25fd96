"""Saved segments, their current members and their size over time."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, UTCDateTime
from siyu.core.models import IdMixin, WorkspaceMixin


class Segment(IdMixin, WorkspaceMixin, Base):
    """A named rule tree; its members are kept current as events arrive."""

    __tablename__ = "segment"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(256), default=None)
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    size: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class SegmentMember(IdMixin, WorkspaceMixin, Base):
    """A customer is in a segment now (since when). Not moved by merges: a recompute is."""

    __tablename__ = "segment_member"
    __table_args__ = (
        UniqueConstraint("segment_id", "customer_id"),
        Index("ix_segment_member_customer", "customer_id"),
    )

    segment_id: Mapped[int] = mapped_column(BigId, ForeignKey("segment.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    since: Mapped[datetime] = mapped_column(UTCDateTime)


class SegmentSize(IdMixin, WorkspaceMixin, Base):
    """The segment's size on one day (the last value of that day), for the chart."""

    __tablename__ = "segment_size"
    __table_args__ = (UniqueConstraint("segment_id", "day"),)

    segment_id: Mapped[int] = mapped_column(BigId, ForeignKey("segment.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    size: Mapped[int] = mapped_column(default=0)


class PercentileThreshold(IdMixin, WorkspaceMixin, Base):
    """The workspace's p-th percentile of a metric as of the last full pass: incremental
    recomputes compare with it instead of ranking every customer again for each event."""

    __tablename__ = "percentile_threshold"
    __table_args__ = (UniqueConstraint("workspace_id", "field", "percentile"),)

    field: Mapped[str] = mapped_column(String(32))
    percentile: Mapped[int]
    # None: nobody is in the population (no buyer has a value yet).
    value: Mapped[float | None] = mapped_column(default=None)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
