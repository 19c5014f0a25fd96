"""Request and response shapes for events, orders and refunds."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from siyu.ingest.models import CHANNELS, EVENT_TYPES, MAX_FEN, ORDER_STATUSES

Fen = Field(ge=0, le=MAX_FEN, strict=True, description="Money in fen (分), a whole number")
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
Channel = Literal[CHANNELS]  # type: ignore[valid-type]
OrderStatus = Literal[ORDER_STATUSES]  # type: ignore[valid-type]


class Attributes(BaseModel):
    """What a record says about the person (PII is encrypted when stored)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=64)
    gender: Literal["f", "m"] | None = None
    birthday: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    province: str | None = Field(default=None, max_length=32)
    city: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=256)


class EventIn(BaseModel):
    """One event; identifiers name the person ({"phone": ..., "wechat_unionid": ...})."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=128)
    type: EventType
    occurred_at: datetime
    identifiers: dict[str, str] = Field(min_length=1)
    source: str = Field(default="api", max_length=32)
    name: str | None = Field(default=None, max_length=64)
    amount_fen: int | None = Field(default=None, ge=0, le=MAX_FEN, strict=True)
    properties: dict[str, Any] = Field(default_factory=dict)
    attributes: Attributes | None = None


class EventBatch(BaseModel):
    """Up to 1,000 events; each is validated on its own so one bad event costs only itself."""

    events: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class EventResult(BaseModel):
    index: int
    event_id: str | None
    # "queued": accepted by the async path (202), stored once the worker has resolved it.
    status: Literal["accepted", "queued", "duplicate", "rejected"]
    customer_id: int | None = None
    errors: list[dict[str, str]] = Field(default_factory=list)


class BatchResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    queued: int = 0
    results: list[EventResult]


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=64)
    product: str = Field(min_length=1, max_length=256)
    category: str | None = Field(default=None, max_length=64)
    quantity: int = Field(gt=0, strict=True)
    unit_price_fen: int = Fen
    amount_fen: int = Fen


class OrderIn(BaseModel):
    """An order from any channel; the identifiers resolve its customer."""

    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(min_length=1, max_length=64)
    channel: Channel
    status: OrderStatus = "paid"
    ordered_at: datetime
    paid_at: datetime | None = None
    total_fen: int = Fen
    paid_fen: int = Fen
    identifiers: dict[str, str] = Field(min_length=1)
    attributes: Attributes | None = None
    store: str | None = Field(default=None, max_length=64)
    distributor_id: int | None = None
    touchpoint: str | None = Field(default=None, max_length=32)
    lines: list[LineIn] = Field(default_factory=list, max_length=500)


class OrderOut(BaseModel):
    id: int
    external_id: str
    channel: str
    customer_id: int
    status: str
    ordered_at: datetime
    total_fen: int
    paid_fen: int
    refunded_fen: int
    created: bool = True


class RefundLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str
    quantity: int = Field(gt=0, strict=True)
    amount_fen: int = Fen


class RefundIn(BaseModel):
    """A full or partial refund; lines say which SKUs came back."""

    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(min_length=1, max_length=64)
    amount_fen: int = Field(gt=0, le=MAX_FEN, strict=True)
    reason: str | None = Field(default=None, max_length=256)
    lines: list[RefundLineIn] = Field(default_factory=list)


class ColumnMappingIn(BaseModel):
    """A generic layout: the file's headers → siyu field names, plus constants (e.g. channel)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    kind: Literal["orders", "contacts"] = "orders"
    columns: dict[str, str] = Field(min_length=1, max_length=100)
    constants: dict[str, str] = Field(default_factory=dict)


class ColumnMappingOut(BaseModel):
    id: int
    name: str
    kind: str
    columns: dict[str, str]
    constants: dict[str, str]


class ImportRowError(BaseModel):
    row: int
    column: str
    value: str
    reason_zh: str
    reason_en: str


class ImportJobOut(BaseModel):
    """An import's progress and counts; errors are the first rows of its error report."""

    id: int
    layout: str
    filename: str
    status: str
    rows_done: int
    rows_ok: int
    rows_failed: int
    rows_duplicate: int
    error: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    errors: list[ImportRowError] = Field(default_factory=list)
