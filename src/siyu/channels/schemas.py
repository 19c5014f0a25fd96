"""Request and response shapes of the channels API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["wecom", "sms", "email", "webhook", "sandbox"]


class ConfigIn(BaseModel):
    """A channel's provider, base URL, options and secrets (secrets are write-only)."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1, max_length=16)
    enabled: bool = True
    base_url: str | None = Field(default=None, max_length=256)
    options: dict[str, Any] = Field(default_factory=dict)
    # Omitted: keep the stored secrets; given: replace them.
    secrets: dict[str, str] | None = None
    rate_per_second: float = Field(default=50.0, gt=0, le=100_000)
    burst: int = Field(default=50, ge=1, le=100_000)


class ConfigOut(BaseModel):
    """A channel config without its secrets (only which secret names are set)."""

    id: int
    channel: str
    provider: str
    enabled: bool
    base_url: str | None
    options: dict[str, Any]
    secret_names: list[str]
    rate_per_second: float
    burst: int


class TemplateIn(BaseModel):
    """A message template: Jinja2 text (and subject / SMS parameters), declared variables."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    channel: Channel | None = None
    subject: str | None = Field(default=None, max_length=500)
    body: str = Field(min_length=1, max_length=5000)
    variables: list[str] = Field(default_factory=list, max_length=50)
    sms_template_code: str | None = Field(default=None, max_length=64)
    sms_params: dict[str, str] = Field(default_factory=dict)


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    channel: str | None
    subject: str | None
    body: str
    variables: list[str]
    sms_template_code: str | None
    sms_params: dict[str, str]
    version: int


class PreviewIn(BaseModel):
    """Preview a template (or ad-hoc content) against a real customer."""

    model_config = ConfigDict(extra="forbid")

    customer_id: int
    template_id: int | None = None
    content: dict[str, Any] | None = None
    context: dict[str, Any] = Field(default_factory=dict)


class RenderedOut(BaseModel):
    text: str
    subject: str | None
    sms_template_code: str | None
    sms_params: dict[str, str]


class SendIn(BaseModel):
    """Queue one touch (the Idempotency-Key header is required)."""

    model_config = ConfigDict(extra="forbid")

    customer_id: int
    channel: Channel
    template_id: int | None = None
    content: dict[str, Any] | None = None
    purpose: Literal["marketing", "transactional"] = "marketing"
    priority: int = Field(default=0, ge=-100, le=100)
    source: str = Field(default="api", min_length=1, max_length=64)
    context: dict[str, Any] = Field(default_factory=dict)


class TouchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    channel: str
    template_id: int | None
    purpose: str
    priority: int
    source: str
    status: str
    reason: str | None
    detail: str | None
    defer_until: datetime | None
    attempts: int
    provider_message_id: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


class StatsOut(BaseModel):
    """Touch counts by status, by suppression/failure reason, and per source."""

    total: int
    by_status: dict[str, int]
    by_reason: dict[str, int]
    by_source: dict[str, dict[str, int]]


class UnsubscribeIn(BaseModel):
    """Stop marketing (scope marketing) or everything (scope all, do-not-disturb) on a channel."""

    model_config = ConfigDict(extra="forbid")

    customer_id: int
    channel: Literal["wecom", "sms", "email", "webhook", "sandbox", "all"]
    scope: Literal["marketing", "all"] = "marketing"


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daily_cap: int = Field(default=1, ge=0, le=100)
    weekly_cap: int = Field(default=3, ge=0, le=700)
    low_activity_stages: list[str] = Field(default_factory=lambda: ["dormant_heavy", "lost"])
    low_activity_weekly_cap: int = Field(default=1, ge=0, le=700)
    tightened_weekly_cap: int = Field(default=1, ge=0, le=700)
    tighten_days: int = Field(default=30, ge=0, le=365)
    quiet_start: str = Field(default="22:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    quiet_end: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    link_base_url: str | None = Field(default=None, max_length=256)


class PolicyOut(PolicyIn):
    model_config = ConfigDict(from_attributes=True, extra="ignore")


class WecomTaskIn(BaseModel):
    """A 群发 (group_msg) or 朋友圈 (moment) task."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["group_msg", "moment"]
    sender: str | None = Field(default=None, max_length=64)
    text: str = Field(min_length=1, max_length=4000)


class WecomTaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    sender: str | None
    content: dict[str, Any]
    status: str
    remote_id: str | None
    reason: str | None
    attempts: int
