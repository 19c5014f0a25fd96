"""The promotions entry points other domains call (journeys issue coupons from a step)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, scoped
from siyu.core.errors import NotFound, SiyuError
from siyu.promotions import coupons
from siyu.promotions.models import Coupon, CouponTemplate


def issue_coupon(
    session: Session,
    principal: Principal,
    template_id: int | str,
    customer_id: int,
    idempotency_key: str,
) -> Coupon:
    """Issue one coupon once per key; the template by id or by its name (e.g. "满50减20")."""
    found = issue_coupons(session, principal, template_id, [(customer_id, idempotency_key)])[0]
    if isinstance(found, SiyuError):
        raise found
    return found


def issue_coupons(
    session: Session,
    principal: Principal,
    template_id: int | str,
    wants: Sequence[tuple[int, str]],
) -> list[Coupon | SiyuError]:
    """Issue coupons of one template, (customer, key) each once per key; in order, a refused
    one as its error (journey steps call this for a whole batch of runs)."""
    try:
        template = _template(session, principal, template_id)
    except SiyuError as exc:
        return [exc] * len(wants)
    issued = coupons.issue_batch(session, principal, template, wants, source="journey")
    return [found for found, _ in issued]


def _template(session: Session, principal: Principal, ref: int | str) -> int:
    if isinstance(ref, int) or str(ref).isdigit():
        return int(ref)
    found = session.scalar(
        scoped(select(CouponTemplate.id), CouponTemplate, principal)
        .where(CouponTemplate.name == ref)
        .order_by(CouponTemplate.id.desc())
    )
    if found is None:
        raise NotFound(zh=f"没有名为 {ref} 的券模板", en=f"No coupon template named {ref}")
    return int(found)
