"""Channels: configs, templates, touches (one decided message), frequency policy and state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, UTCDateTime
from siyu.core.models import IdMixin, TimestampMixin, WorkspaceMixin
from siyu.core.pii import EncryptedString
from siyu.customers.merge import register_owned

CHANNELS = ("wecom", "sms", "email", "webhook", "sandbox")
PROVIDERS = {
    "wecom": ("wecom",),
    "sms": ("aliyun", "tencent"),
    "email": ("smtp",),
    "webhook": ("webhook",),
    "sandbox": ("sandbox",),
}
PURPOSES = ("marketing", "transactional")
STATUSES = ("queued", "suppressed", "deferred", "sent", "delivered", "failed", "dead")
# Touches that hold (or held) a slot under the caps; suppressed, failed and dead ones do not.
COUNTED = ("queued", "deferred", "sent", "delivered")
PENDING = ("queued", "deferred")


class ChannelConfig(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """How one workspace reaches one channel: provider, base URL, options and encrypted secrets."""

    __tablename__ = "channel_config"
    __table_args__ = (UniqueConstraint("workspace_id", "channel"),)

    channel: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    base_url: Mapped[str | None] = mapped_column(String(256), default=None)
    # Non-secret options: corp_id, agent sender, sign_name, sdk_app_id, smtp host/port, ...
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Secrets (keys, passwords, tokens) as encrypted JSON text; never logged or returned.
    secrets: Mapped[str | None] = mapped_column(EncryptedString("channel.secrets"), default=None)
    rate_per_second: Mapped[float] = mapped_column(default=50.0)
    burst: Mapped[int] = mapped_column(default=50)


class MessageTemplate(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """A sandboxed Jinja2 message; variables lists the context names a sender must give."""

    __tablename__ = "message_template"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str | None] = mapped_column(String(16), default=None)
    subject: Mapped[str | None] = mapped_column(Text, default=None)
    body: Mapped[str] = mapped_column(Text)
    variables: Mapped[list[str]] = mapped_column(JSON, default=list)
    # SMS providers send a pre-approved template code with named parameters (each Jinja).
    sms_template_code: Mapped[str | None] = mapped_column(String(64), default=None)
    sms_params: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(default=1)


class FrequencyPolicy(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """A workspace's caps on marketing touches per customer, quiet hours and tightening."""

    __tablename__ = "frequency_policy"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    daily_cap: Mapped[int] = mapped_column(default=1)
    weekly_cap: Mapped[int] = mapped_column(default=3)
    # Low-activity customers (by lifecycle stage) get tighter caps.
    low_activity_stages: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: ["dormant_heavy", "lost"]
    )
    low_activity_weekly_cap: Mapped[int] = mapped_column(default=1)
    # After a complaint or a mute, the customer's weekly cap for some days.
    tightened_weekly_cap: Mapped[int] = mapped_column(default=1)
    tighten_days: Mapped[int] = mapped_column(default=30)
    quiet_start: Mapped[str] = mapped_column(String(5), default="22:00")
    quiet_end: Mapped[str] = mapped_column(String(5), default="08:00")
    link_base_url: Mapped[str | None] = mapped_column(String(256), default=None)


class ContactState(IdMixin, WorkspaceMixin, Base):
    """One row per contacted customer: the lock that serializes cap decisions, and tightening."""

    __tablename__ = "contact_state"
    __table_args__ = (UniqueConstraint("workspace_id", "customer_id"),)

    customer_id: Mapped[int] = mapped_column(BigId)
    tightened_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    tightened_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    complaints: Mapped[int] = mapped_column(default=0)


@register_owned
class Touch(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """One message decided for one customer on one channel, and what became of it."""

    __tablename__ = "touch"
    __table_args__ = (
        UniqueConstraint("workspace_id", "idempotency_key"),
        Index("ix_touch_customer_day", "customer_id", "slot_day"),
        Index("ix_touch_ws_status", "workspace_id", "status"),
        Index("ix_touch_ws_source", "workspace_id", "source"),
        Index("ix_touch_provider_msg", "channel", "provider_message_id"),
    )

    # No index of its own (migration 0011): the unique key and ix_touch_ws_* lead with it, and
    # every touch inserted paid for one more index.
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspace.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    channel: Mapped[str] = mapped_column(String(16))
    template_id: Mapped[int | None] = mapped_column(BigId, default=None)
    purpose: Mapped[str] = mapped_column(String(16), default="marketing")
    priority: Mapped[int] = mapped_column(default=0)
    source: Mapped[str] = mapped_column(String(64), default="api")
    idempotency_key: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    # The local day (date ordinal in the workspace's zone) whose cap this touch counts against.
    slot_day: Mapped[int] = mapped_column(default=0)
    defer_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    provider_message_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # The rendered message (it may carry the customer's name), encrypted JSON text.
    rendered: Mapped[str | None] = mapped_column(EncryptedString("touch.rendered"), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class RateBucket(IdMixin, WorkspaceMixin, Base):
    """A token bucket per workspace and channel, row-locked so several workers share it."""

    __tablename__ = "channel_rate_bucket"
    __table_args__ = (UniqueConstraint("workspace_id", "channel"),)

    channel: Mapped[str] = mapped_column(String(16))
    tokens: Mapped[float]
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProviderToken(IdMixin, WorkspaceMixin, Base):
    """A cached provider access token (WeCom gettoken), encrypted, with its expiry."""

    __tablename__ = "channel_provider_token"
    __table_args__ = (UniqueConstraint("workspace_id", "channel"),)

    channel: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(EncryptedString("channel.token"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SandboxMessage(IdMixin, WorkspaceMixin, Base):
    """What the sandbox channel would have sent (for demos), viewable in the console."""

    __tablename__ = "sandbox_message"

    touch_id: Mapped[int] = mapped_column(BigId, index=True)
    customer_id: Mapped[int] = mapped_column(BigId)
    subject: Mapped[str | None] = mapped_column(EncryptedString("sandbox.subject"), default=None)
    body: Mapped[str] = mapped_column(EncryptedString("sandbox.body"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ShortLink(IdMixin, WorkspaceMixin, Base):
    """A tracked short link /l/{code}: a click redirects and records a click event."""

    __tablename__ = "short_link"
    __table_args__ = (UniqueConstraint("code"),)

    code: Mapped[str] = mapped_column(String(24))
    touch_id: Mapped[int | None] = mapped_column(BigId, default=None, index=True)
    customer_id: Mapped[int] = mapped_column(BigId)
    url: Mapped[str] = mapped_column(Text)
    clicks: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WecomTask(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """A WeCom group-message (群发) or moments (朋友圈) task, sent from the outbox."""

    __tablename__ = "wecom_task"

    kind: Mapped[str] = mapped_column(String(16))  # group_msg | moment
    sender: Mapped[str | None] = mapped_column(String(64), default=None)
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    remote_id: Mapped[str | None] = mapped_column(String(128), default=None)
    reason: Mapped[str | None] = mapped_column(String(64), default=None)
    attempts: Mapped[int] = mapped_column(default=0)
