"""Who is calling, and the one helper that scopes every query to what they may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from siyu.core.errors import Forbidden, NotFound
from siyu.workspaces.models import Role

T = TypeVar("T")


@dataclass(frozen=True)
class Principal:
    """The caller: a workspace, a role, and the key or session that proves it."""

    workspace_id: int
    role: Role
    user_id: int | None = None
    api_key_id: int | None = None
    session_id: int | None = None
    distributor_id: int | None = None
    supplier_id: int | None = None
    address: str | None = None
    locale: str = "zh-CN"

    @property
    def actor(self) -> str:
        """How the audit log names the caller: key:<id>, user:<id> or system."""
        if self.api_key_id is not None:
            return f"key:{self.api_key_id}"
        if self.user_id is not None:
            return f"user:{self.user_id}"
        return "system"

    def require(self, *roles: Role) -> None:
        """Refuse unless the caller holds one of the roles (admin always may)."""
        if self.role is not Role.admin and self.role not in roles:
            raise Forbidden()


def system_principal(workspace_id: int) -> Principal:
    """The identity of the CLI, the demo and background jobs."""
    return Principal(workspace_id=workspace_id, role=Role.admin)


def scoped(stmt: Select[Any], model: Any, principal: Principal) -> Select[Any]:
    """Limit a query to the caller's workspace and, for b and S roles, to their own rows."""
    stmt = stmt.where(model.workspace_id == principal.workspace_id)
    if principal.role is Role.distributor:
        column = getattr(model, "distributor_id", None)
        return (
            stmt.where(false())
            if column is None
            else stmt.where(column == principal.distributor_id)
        )
    if principal.role is Role.supplier:
        column = getattr(model, "supplier_id", None)
        return (
            stmt.where(false()) if column is None else stmt.where(column == principal.supplier_id)
        )
    return stmt


def get_scoped(session: Session, model: type[T], row_id: int, principal: Principal) -> T:
    """Fetch one row the caller may see, or raise NotFound and audit the attempt."""
    row = session.scalars(scoped(select(model), model, principal).where(model.id == row_id)).first()  # type: ignore[attr-defined]
    if row is None:
        from siyu.core.audit import record_denied

        record_denied(session, principal, "read", model.__tablename__, row_id)  # type: ignore[attr-defined]
        raise NotFound()
    return row
