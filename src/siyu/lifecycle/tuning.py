"""A workspace's lifecycle settings: read (defaults when never saved) and save (validated)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal
from siyu.core.clock import now
from siyu.core.errors import InvalidField
from siyu.lifecycle.models import LifecycleSettings
from siyu.lifecycle.schemas import Settings
from siyu.workspaces.models import Role


def load(session: Session, workspace_id: int) -> Settings:
    """The saved settings, or the defaults."""
    row = session.scalars(
        select(LifecycleSettings).where(LifecycleSettings.workspace_id == workspace_id)
    ).first()
    return Settings.model_validate(row.config) if row is not None else Settings()


def parse(raw: Any) -> Settings:
    """Validate settings from a request; the first bad field is named."""
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        raise InvalidField(field, first["msg"], first["msg"]) from None


def save(session: Session, principal: Principal, settings: Settings) -> Settings:
    """Store the workspace's settings (operators and admins); audited."""
    principal.require(Role.operator)
    row = session.scalars(
        select(LifecycleSettings).where(LifecycleSettings.workspace_id == principal.workspace_id)
    ).first()
    config = settings.model_dump(mode="json")
    if row is None:
        row = LifecycleSettings(workspace_id=principal.workspace_id, config=config)
        session.add(row)
    row.config, row.updated_at = config, now()
    session.flush()
    audit.record(session, principal, "update", "lifecycle_settings", row.id)
    return settings
