"""The customer and the OneID identity graph: identities, merges, merge suggestions, consent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, UTCDateTime
from siyu.core.models import IdMixin, TimestampMixin, WorkspaceMixin
from siyu.core.pii import EncryptedString

# Attributes a merge reconciles, in the order they are shown.
ATTRIBUTES = ("name", "phone", "email", "gender", "birthday", "province", "city", "address")


class Customer(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """One person in a workspace's private domain, as OneID resolves them."""

    __tablename__ = "customer"
    __table_args__ = (
        Index("ix_customer_ws_phone", "workspace_id", "phone_bidx"),
        Index("ix_customer_ws_email", "workspace_id", "email_bidx"),
        Index("ix_customer_ws_name", "workspace_id", "name_bidx"),
    )

    name: Mapped[str | None] = mapped_column(EncryptedString("customer.name"), default=None)
    name_bidx: Mapped[str | None] = mapped_column(String(64), default=None)
    phone: Mapped[str | None] = mapped_column(EncryptedString("customer.phone"), default=None)
    phone_bidx: Mapped[str | None] = mapped_column(String(64), default=None)
    email: Mapped[str | None] = mapped_column(EncryptedString("customer.email"), default=None)
    email_bidx: Mapped[str | None] = mapped_column(String(64), default=None)
    address: Mapped[str | None] = mapped_column(EncryptedString("customer.address"), default=None)
    gender: Mapped[str | None] = mapped_column(String(8), default=None)
    birthday: Mapped[str | None] = mapped_column(String(10), default=None)
    province: Mapped[str | None] = mapped_column(String(32), default=None)
    city: Mapped[str | None] = mapped_column(String(32), default=None)
    # The distributor (b) who owns this relationship; scopes what a distributor may see.
    distributor_id: Mapped[int | None] = mapped_column(BigId, default=None, index=True)
    # A merged customer keeps its row (for undo) and points at the survivor.
    merged_into_id: Mapped[int | None] = mapped_column(BigId, default=None, index=True)
    first_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Identity(IdMixin, WorkspaceMixin, Base):
    """One identifier value (a phone, a unionid, a Tmall nick...) and the customer it belongs to."""

    __tablename__ = "identity"
    __table_args__ = (
        UniqueConstraint("workspace_id", "type", "value_bidx"),
        Index("ix_identity_customer", "customer_id"),
    )

    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    type: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(EncryptedString("identity.value"))
    value_bidx: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Observation(IdMixin, WorkspaceMixin, Base):
    """Identifiers seen together in one record (an order, an event, a contact): OneID's evidence."""

    __tablename__ = "observation"
    __table_args__ = (UniqueConstraint("workspace_id", "record", "identity_id"),)

    record: Mapped[str] = mapped_column(String(160))
    identity_id: Mapped[int] = mapped_column(BigId, ForeignKey("identity.id"), index=True)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MergeRecord(IdMixin, WorkspaceMixin, Base):
    """A merge, with what moved and what each side was before, so it can be undone."""

    __tablename__ = "merge_record"

    survivor_id: Mapped[int] = mapped_column(BigId, index=True)
    absorbed_id: Mapped[int] = mapped_column(BigId, index=True)
    reason: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    moved: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Highest id per owned table at merge time: rows above it arrived after the merge.
    watermarks: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # Attribute snapshots hold PII, so they are stored encrypted (JSON text).
    survivor_before: Mapped[str] = mapped_column(EncryptedString("merge.survivor_before"))
    absorbed_before: Mapped[str] = mapped_column(EncryptedString("merge.absorbed_before"))
    conflicts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class MergeSuggestion(IdMixin, WorkspaceMixin, Base):
    """Weak evidence that two customers are one person, for an operator to accept or reject."""

    __tablename__ = "merge_suggestion"
    __table_args__ = (UniqueConstraint("workspace_id", "customer_a", "customer_b"),)

    customer_a: Mapped[int] = mapped_column(BigId)
    customer_b: Mapped[int] = mapped_column(BigId)
    score: Mapped[float]
    evidence: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    merge_id: Mapped[int | None] = mapped_column(BigId, default=None)


class Consent(IdMixin, WorkspaceMixin, Base):
    """A customer's recorded consent (or refusal) for a channel and purpose."""

    __tablename__ = "consent"

    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(32), default="marketing")
    granted: Mapped[bool]
    source: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
