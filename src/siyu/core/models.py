"""Column helpers shared by every domain's tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.clock import now
from siyu.core.db import BigId, UTCDateTime


class IdMixin:
    """Surrogate integer key."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)


class WorkspaceMixin:
    """Every business row belongs to one workspace."""

    workspace_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )


class TimestampMixin:
    """Created/updated times from the core clock."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=lambda: now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=lambda: now(), onupdate=lambda: now()
    )
