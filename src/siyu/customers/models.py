"""The customer: one person in a workspace's private domain; PII encrypted, found by blind index."""

from __future__ import annotations

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId
from siyu.core.models import IdMixin, TimestampMixin, WorkspaceMixin
from siyu.core.pii import EncryptedString


class Customer(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """A customer profile (OneID fills in identities and attributes)."""

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
    # The distributor (b) who owns this relationship; scopes what a distributor may see.
    distributor_id: Mapped[int | None] = mapped_column(BigId, default=None, index=True)
