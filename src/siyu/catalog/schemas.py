"""Request and response shapes for suppliers, products, SKUs, stock and reservations."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from siyu.catalog.models import MATERIAL_KINDS

MaterialKind = Literal[MATERIAL_KINDS]  # type: ignore[valid-type]


class SupplierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32, pattern=r"^[\w\-]+$")
    name: str = Field(min_length=1, max_length=128)
    inventory_url: str | None = Field(default=None, max_length=512, pattern=r"^https?://")
    pull_minutes: int = Field(default=0, ge=0, le=1440, strict=True)
    low_stock: int = Field(default=10, ge=0, strict=True)


class SupplierOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    inventory_url: str | None
    pull_minutes: int
    last_pulled_at: datetime | None
    last_pull_error: str | None


class SkuIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=128)
    price_fen: int = Field(ge=0, strict=True)
    on_hand: int = Field(default=0, ge=0, strict=True)


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    supplier_id: int | None = None
    name: str = Field(min_length=1, max_length=256)
    category: str = Field(min_length=1, max_length=64)
    image_url: str | None = Field(default=None, max_length=512)
    copy_text: str | None = Field(default=None, max_length=4000)
    skus: list[SkuIn] = Field(min_length=1, max_length=100)


class SkuOut(BaseModel):
    id: int
    code: str
    name: str
    price_fen: int
    on_hand: int
    reserved: int
    available: int
    version: int


class ProductOut(BaseModel):
    id: int
    supplier_id: int
    name: str
    category: str
    image_url: str | None
    copy_text: str | None
    skus: list[SkuOut]


class StockUpdate(BaseModel):
    """The supplier's count for one SKU, stamped with its own increasing version."""

    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=64)
    on_hand: int = Field(ge=0, strict=True)
    version: int = Field(ge=1, strict=True)


class StockBatch(BaseModel):
    updates: list[StockUpdate] = Field(min_length=1, max_length=1000)


class StockResult(BaseModel):
    sku: str
    outcome: Literal["applied", "unchanged", "stale"]
    version: int
    on_hand: int


class ReserveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ref: str = Field(min_length=1, max_length=128)
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=10000, strict=True)
    hold_minutes: int = Field(default=30, gt=0, le=7 * 24 * 60, strict=True)


class ReservationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ref: str
    sku_id: int
    quantity: int
    status: str
    expires_at: datetime


class MaterialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: MaterialKind
    title: str = Field(min_length=1, max_length=256)
    body: str | None = Field(default=None, max_length=8000)
    url: str | None = Field(default=None, max_length=512)
    product_id: int | None = None
    tier: Literal["starter", "growth", "core"] | None = None


class MaterialOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    title: str
    body: str | None
    url: str | None
    product_id: int | None
    supplier_id: int | None
    tier: str | None


class FeedbackOut(BaseModel):
    """Feedback or a complaint on a supplier's SKU; the customer only as a pseudonym."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    type: str
    source: str
    occurred_at: datetime
    sku: str
    product_id: int
    product: str
    customer_ref: str
    properties: dict[str, Any]
