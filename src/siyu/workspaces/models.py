"""Workspaces, staff users, their roles, API keys and console sessions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, UTCDateTime
from siyu.core.models import IdMixin, TimestampMixin, WorkspaceMixin


class Role(enum.StrEnum):
    """What a user or key may do inside a workspace."""

    admin = "admin"
    operator = "operator"
    analyst = "analyst"
    community_manager = "community_manager"
    distributor = "distributor"
    supplier = "supplier"


RoleColumn = Enum(Role, name="role", native_enum=False, length=32)


class Workspace(IdMixin, TimestampMixin, Base):
    """One brand's private domain."""

    __tablename__ = "workspace"

    name: Mapped[str] = mapped_column(String(128), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # Per-workspace options, e.g. {"oneid": {"strong": ["phone", "wechat_unionid"]}}.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class User(IdMixin, TimestampMixin, Base):
    """A staff member who logs in to the console."""

    __tablename__ = "user_account"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    locale: Mapped[str] = mapped_column(String(8), default="zh-CN")
    disabled: Mapped[bool] = mapped_column(default=False)


class Membership(IdMixin, WorkspaceMixin, Base):
    """A user's role in one workspace (and, for b and S roles, whose rows they own)."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "workspace_id"),)

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(RoleColumn)
    distributor_id: Mapped[int | None] = mapped_column(BigId, default=None)
    supplier_id: Mapped[int | None] = mapped_column(BigId, default=None)


class ApiKey(IdMixin, WorkspaceMixin, Base):
    """An API key; only its SHA-256 is stored, the key itself is shown once."""

    __tablename__ = "api_key"

    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(RoleColumn)
    distributor_id: Mapped[int | None] = mapped_column(BigId, default=None)
    supplier_id: Mapped[int | None] = mapped_column(BigId, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ConsoleSession(IdMixin, Base):
    """A logged-in console session; the cookie carries a token whose hash is stored here."""

    __tablename__ = "console_session"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("user_account.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspace.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    address: Mapped[str | None] = mapped_column(String(64), default=None)
