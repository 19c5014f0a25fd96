"""Journeys (lifecycle SOPs): definitions and their versions, runs, timers, step log, tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, UTCDateTime
from siyu.core.models import IdMixin, TimestampMixin, WorkspaceMixin

JOURNEY_STATUSES = ("draft", "active", "paused")
# active: in flight; holdout: recorded, gets nothing; completed, converted (goal), exited, failed.
RUN_STATUSES = ("active", "holdout", "completed", "converted", "exited", "failed")


class Journey(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """A journey: its name, whether it runs, and the published version new runs start on."""

    __tablename__ = "journey"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    # The built-in SOP this journey was made from, if any (e.g. "new_customer_48h").
    sop: Mapped[str | None] = mapped_column(String(64), default=None)
    # The trigger kind of the published version, so signal handlers find journeys fast.
    trigger_type: Mapped[str] = mapped_column(String(32))
    version_id: Mapped[int | None] = mapped_column(BigId, default=None)
    # Schedule triggers: when the audience enters next (None once a one-off schedule fired).
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class JourneyVersion(IdMixin, WorkspaceMixin, Base):
    """One published, immutable definition; runs keep the version they started on."""

    __tablename__ = "journey_version"
    __table_args__ = (UniqueConstraint("journey_id", "number"),)

    journey_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("journey.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JourneyRun(IdMixin, WorkspaceMixin, Base):
    """One customer's pass through one journey version."""

    __tablename__ = "journey_run"
    __table_args__ = (
        UniqueConstraint("journey_id", "customer_id", "entry_key"),
        Index("ix_journey_run_customer", "customer_id", "status"),
        Index("ix_journey_run_journey", "journey_id", "status"),
    )

    journey_id: Mapped[int] = mapped_column(BigId, ForeignKey("journey.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(BigId, ForeignKey("journey_version.id"))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    # What let the customer in (an event id, an order id, a schedule firing): entering is
    # idempotent per entry key, so a redelivered signal does not enter anyone twice.
    entry_key: Mapped[str] = mapped_column(String(96))
    status: Mapped[str] = mapped_column(String(16), default="active")
    # The A/B variant picked at a split (deterministic by customer and journey).
    variant: Mapped[str | None] = mapped_column(String(32), default=None)
    step_key: Mapped[str | None] = mapped_column(String(64), default=None)
    # The event type a wait-until-event step listens for while the run waits.
    waiting_for: Mapped[str | None] = mapped_column(String(32), default=None)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revenue_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class JourneyTimer(IdMixin, Base):
    """A step of a run that is due at a time; the worker claims due timers in batches."""

    __tablename__ = "journey_timer"
    # Ends with id: the claim reads the oldest due timers in (due_at, id) order off the index.
    __table_args__ = (Index("ix_journey_timer_due", "due_at", "id"),)

    # The run's workspace. No key of its own: the run's, which cascades from the workspace,
    # keeps it whole, and a second one made every insert lock the workspace row again.
    workspace_id: Mapped[int] = mapped_column(BigId)

    run_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("journey_run.id", ondelete="CASCADE"), index=True
    )
    step_key: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when a waited-for event arrived (the wait leaves by its event branch).
    woken_by: Mapped[str | None] = mapped_column(String(32), default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class JourneyStep(IdMixin, Base):
    """A step a run executed: once per run and step (the unique key is the idempotency key)."""

    __tablename__ = "journey_step"
    __table_args__ = (
        UniqueConstraint("run_id", "step_key"),
        Index("ix_journey_step_journey", "journey_id", "step_key", "outcome"),
    )

    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("journey_run.id", ondelete="CASCADE"))
    # The run's workspace and journey, copied for the metrics. No keys of their own: the run's,
    # which cascades from both, keeps them whole, and checking the same workspace and journey
    # row again for every step row was half the step log's insert time on PostgreSQL.
    workspace_id: Mapped[int] = mapped_column(BigId)
    journey_id: Mapped[int] = mapped_column(BigId)
    step_key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    # done, sent, suppressed, deferred, failed, skipped
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64), default=None)
    # What the step made elsewhere: a touch, a coupon, a points entry, a task.
    ref: Mapped[str | None] = mapped_column(String(64), default=None)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class JourneyTask(IdMixin, WorkspaceMixin, Base):
    """Work for a person (a call, a 1v1 follow-up) that a journey step created."""

    __tablename__ = "journey_task"
    __table_args__ = (
        UniqueConstraint("run_id", "step_key"),
        Index("ix_journey_task_ws_status", "workspace_id", "status"),
    )

    journey_id: Mapped[int] = mapped_column(BigId, ForeignKey("journey.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("journey_run.id", ondelete="CASCADE"))
    step_key: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    title: Mapped[str] = mapped_column(String(256))
    assignee: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
