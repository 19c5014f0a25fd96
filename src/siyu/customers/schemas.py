"""Request and response shapes for customers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CustomerCreate(BaseModel):
    """A new customer: at least one of name, phone or email."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)

    @model_validator(mode="after")
    def one_of(self) -> CustomerCreate:
        if not (self.name or self.phone or self.email):
            raise ValueError("give at least one of name, phone, email")
        return self


class CustomerOut(BaseModel):
    """A customer as the API shows it; PII is masked for roles that do not need it."""

    id: int
    name: str | None
    phone: str | None
    email: str | None
    created_at: datetime
