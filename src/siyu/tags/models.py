"""Tags: groups, manual and rule tags, who carries which tag, and when they gained or lost it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, UTCDateTime
from siyu.core.models import IdMixin, WorkspaceMixin
from siyu.customers.merge import register_owned

KINDS = ("manual", "rule")


class TagGroup(IdMixin, WorkspaceMixin, Base):
    """A named shelf of tags (品类偏好, 渠道偏好, 生命周期...)."""

    __tablename__ = "tag_group"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(256), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Tag(IdMixin, WorkspaceMixin, Base):
    """A tag: manual (operators add and remove it) or rule (a rule tree decides who has it)."""

    __tablename__ = "tag"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        UniqueConstraint("workspace_id", "builtin_key"),
    )

    name: Mapped[str] = mapped_column(String(64))
    group_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tag_group.id", ondelete="SET NULL"), default=None
    )
    kind: Mapped[str] = mapped_column(String(8), default="manual")
    rule: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The library definition it was installed from (None for a workspace's own tag).
    builtin_key: Mapped[str | None] = mapped_column(String(64), default=None)
    description: Mapped[str | None] = mapped_column(String(256), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


@register_owned
class CustomerTag(IdMixin, WorkspaceMixin, Base):
    """A customer carries a tag. No unique key: after a merge both sides' rows may name one
    (customer, tag) pair, and undo must give each side its own row back; reads use DISTINCT."""

    __tablename__ = "customer_tag"
    __table_args__ = (
        Index("ix_customer_tag_tag_customer", "tag_id", "customer_id"),
        Index("ix_customer_tag_customer", "customer_id"),
    )

    tag_id: Mapped[int] = mapped_column(BigId, ForeignKey("tag.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    source: Mapped[str] = mapped_column(String(16), default="manual")
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


@register_owned
class TagHistory(IdMixin, WorkspaceMixin, Base):
    """A customer gained or lost a tag, when, and why (manual, rule, file, segment)."""

    __tablename__ = "tag_history"
    __table_args__ = (
        Index("ix_tag_history_customer", "customer_id", "at"),
        Index("ix_tag_history_tag", "tag_id", "at"),
    )

    tag_id: Mapped[int] = mapped_column(BigId, ForeignKey("tag.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    change: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
