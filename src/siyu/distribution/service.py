"""Distributors (b): onboarding, profiles, share links, visits and last-touch attribution."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from siyu.catalog.service import get_product
from siyu.core import audit
from siyu.core.auth import Principal, get_scoped, scoped
from siyu.core.clock import now
from siyu.core.errors import Conflict, InvalidField, NotFound
from siyu.customers.oneid import Resolver, Sighting
from siyu.distribution.models import Distributor, ShareLink, ShareVisit
from siyu.distribution.schemas import DistributorIn, LinkIn, VisitIn, VisitOut
from siyu.ingest.service import identifiers_of
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import ApiKey, Role, Workspace

DEFAULTS = {"attribution_days": 7, "return_days": 15}
# Ids per IN (...) list: well under both stores' bound-parameter limits.
CHUNK = 5000


def settings_of(session: Session, workspace_id: int) -> dict[str, int]:
    """The workspace's distribution settings: attribution window and return window, in days."""
    workspace = session.get(Workspace, workspace_id)
    chosen = (workspace.settings or {}).get("distribution", {}) if workspace else {}
    return {**DEFAULTS, **{k: int(v) for k, v in chosen.items() if k in DEFAULTS}}


def save_settings(session: Session, principal: Principal, chosen: dict[str, int]) -> dict[str, int]:
    """Set the attribution window (1–90 days) and the return window (0–90 days)."""
    principal.require(Role.admin, Role.operator)
    for key, value in chosen.items():
        if key not in DEFAULTS:
            raise InvalidField(key, "未知设置", f"one of {', '.join(DEFAULTS)}")
        low = 1 if key == "attribution_days" else 0
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 90:
            raise InvalidField(
                key, f"应为{low}到90的整数", f"must be a whole number from {low} to 90"
            )
    workspace = session.get(Workspace, principal.workspace_id)
    assert workspace is not None
    current = settings_of(session, principal.workspace_id)
    workspace.settings = {**(workspace.settings or {}), "distribution": {**current, **chosen}}
    session.flush()
    audit.record(session, principal, "update", "distribution_settings", None, changed=chosen)
    return settings_of(session, principal.workspace_id)


def new_code(prefix: str) -> str:
    """A short random code for links and cards (unique across workspaces by constraint)."""
    return f"{prefix}{secrets.token_urlsafe(9).replace('-', 'x').replace('_', 'y')}"


def onboard(session: Session, principal: Principal, data: DistributorIn) -> Distributor:
    """A new distributor; an upline must exist in the workspace (two levels at most)."""
    principal.require(Role.operator)
    if session.scalar(
        select(Distributor.id).where(
            Distributor.workspace_id == principal.workspace_id, Distributor.code == data.code
        )
    ):
        raise Conflict(
            zh=f"分销商编码 {data.code} 已存在", en=f"Distributor code {data.code} exists"
        )
    if data.parent_id is not None:
        parent = session.scalars(
            select(Distributor).where(
                Distributor.workspace_id == principal.workspace_id,
                Distributor.id == data.parent_id,
            )
        ).first()
        if parent is None:
            raise InvalidField("parent_id", "上级分销商不存在", "no such distributor")
    distributor = Distributor(workspace_id=principal.workspace_id, **data.model_dump())
    session.add(distributor)
    session.flush()
    distributor.distributor_id = distributor.id
    audit.record(session, principal, "create", "distributor", distributor.id)
    return distributor


def get_distributor(session: Session, principal: Principal, distributor_id: int) -> Distributor:
    """A distributor the caller may see (a distributor sees only themself)."""
    return get_scoped(session, Distributor, distributor_id, principal)


def list_distributors(
    session: Session, principal: Principal, after_id: int | None = None, limit: int = 50
) -> list[Distributor]:
    """Distributors, oldest first (a distributor gets only their own row)."""
    stmt = scoped(select(Distributor), Distributor, principal).order_by(Distributor.id)
    if after_id is not None:
        stmt = stmt.where(Distributor.id > after_id)
    return list(session.scalars(stmt.limit(limit)))


def issue_key(session: Session, principal: Principal, distributor_id: int) -> tuple[ApiKey, str]:
    """An API key for a distributor's own app: it reads only that distributor's rows."""
    principal.require(Role.admin)
    distributor = get_distributor(session, principal, distributor_id)
    return workspaces.create_api_key(
        session,
        principal,
        f"distributor {distributor.code}",
        Role.distributor,
        distributor_id=distributor.id,
    )


def create_link(
    session: Session, principal: Principal, distributor_id: int, data: LinkIn
) -> ShareLink:
    """A share link, poster or mini-program code for a product (or the whole shop)."""
    principal.require(Role.operator, Role.distributor)
    distributor = get_distributor(session, principal, distributor_id)
    if data.product_id is not None:
        get_product(session, principal, data.product_id)
    link = ShareLink(
        workspace_id=principal.workspace_id,
        distributor_id=distributor.id,
        product_id=data.product_id,
        kind=data.kind,
        code=new_code("s"),
        created_at=now(),
    )
    session.add(link)
    session.flush()
    return link


def link_by_code(session: Session, principal: Principal, code: str) -> ShareLink:
    """A link of the caller's workspace; another workspace's code is simply not found."""
    link = session.scalars(
        select(ShareLink).where(
            ShareLink.workspace_id == principal.workspace_id, ShareLink.code == code
        )
    ).first()
    if link is None:
        raise NotFound(zh=f"没有分享码 {code}", en=f"No share link {code}")
    return link


def record_visit(session: Session, principal: Principal, code: str, data: VisitIn) -> VisitOut:
    """A customer opened a link: resolve them by OneID and remember the touch."""
    principal.require(Role.operator, Role.distributor)
    link = link_by_code(session, principal, code)
    at = data.at or now()
    sighting = Sighting(
        f"visit:{code}:{at.isoformat()}", identifiers_of(data.identifiers), "api", at
    )
    customer_id, _ = Resolver(session, principal).resolve(sighting)
    session.add(
        ShareVisit(
            workspace_id=principal.workspace_id,
            link_id=link.id,
            distributor_id=link.distributor_id,
            customer_id=customer_id,
            at=at,
        )
    )
    session.execute(
        update(ShareLink).where(ShareLink.id == link.id).values(visits=ShareLink.visits + 1)
    )
    session.flush()
    return VisitOut(
        distributor_id=link.distributor_id, customer_id=customer_id, product_id=link.product_id
    )


def id_in(session: Session, column: Any, ids: Sequence[int]) -> Any:
    """column IN ids: one array parameter on PostgreSQL (a long IN list costs parsing there)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(BigInteger())))
    return column.in_(list(ids))


def add_console_user(
    session: Session,
    principal: Principal,
    username: str,
    password: str,
    distributor_id: int | None = None,
    supplier_id: int | None = None,
) -> None:
    """A console login for a distributor's (or supplier's) own view of their rows."""
    principal.require(Role.admin)
    if (distributor_id is None) == (supplier_id is None):
        raise InvalidField(
            "distributor_id", "需指定分销商或品牌方之一", "give a distributor or a supplier"
        )
    if distributor_id is not None:
        get_distributor(session, principal, distributor_id)
    else:
        from siyu.catalog.models import Supplier

        get_scoped(session, Supplier, supplier_id or 0, principal)
    user = workspaces.create_user(session, username, password)
    role = Role.distributor if distributor_id is not None else Role.supplier
    member = workspaces.add_member(session, principal.workspace_id, user, role)
    member.distributor_id, member.supplier_id = distributor_id, supplier_id
    session.flush()
    audit.record(session, principal, "create", "user", user.id, role=str(role))
