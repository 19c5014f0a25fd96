"""Console: coupon templates with issuance, redemption rate and cost; create and issue."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from siyu.core.auth import Principal
from siyu.core.console import ConsoleCaller, attempt, labeler, page, yuan
from siyu.core.errors import InvalidField, SiyuError
from siyu.core.http import DbSession
from siyu.loyalty import strings as _strings  # noqa: F401  (registers the console strings)
from siyu.promotions import coupons
from siyu.promotions.models import COUPON_KINDS
from siyu.promotions.schemas import TemplateIn
from siyu.workspaces.models import Role

router = APIRouter(include_in_schema=False)


def _fen(raw: object, field: str) -> int:
    """Yuan typed by a person (e.g. 19.90) as whole fen; more than two decimals is refused."""
    text = str(raw or "0").strip() or "0"
    try:
        value = Decimal(text) * 100
    except InvalidOperation as exc:
        raise InvalidField(field, "请填写金额", "an amount in yuan") from exc
    # Infinity passes the other checks and then cannot become an int.
    if not value.is_finite() or value != value.to_integral_value() or value < 0:
        raise InvalidField(field, "金额最多两位小数且不能为负", "at most 2 decimals, not negative")
    return int(value)


def _page(
    request: Request, session: Session, caller: Principal, status_code: int = 200, **extra: Any
) -> Response:
    rows = [coupons.template_out(t) for t in coupons.list_templates(session, caller)]
    chart = {
        "names": [r.name for r in rows],
        "issued": [r.issued_count for r in rows],
        "redeemed": [r.redeemed_count for r in rows],
    }
    return page(
        request,
        session,
        caller,
        "coupons_templates.html",
        "loyalty",
        status_code,
        rows=rows,
        chart=chart,
        kinds=COUPON_KINDS,
        label=labeler(caller.locale),
        yuan=yuan,
        can_act=caller.role in (Role.admin, Role.operator),
        **extra,
    )


@router.get("/promotions/coupons", response_class=HTMLResponse)
def templates(
    request: Request, session: DbSession, caller: ConsoleCaller, notice: str = "", n: int = 0
) -> Response:
    """Every template with issued, redeemed, redemption rate and cost."""
    return _page(request, session, caller, notice=notice, n=n)


@router.post("/promotions/coupons", response_class=HTMLResponse)
async def create(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """A new template from the form (amounts in yuan)."""
    form = await request.form()
    try:
        data = TemplateIn(
            name=str(form.get("name", "")).strip(),
            kind=str(form.get("kind", "")),  # type: ignore[arg-type]
            threshold_fen=_fen(form.get("threshold"), "threshold"),
            discount_fen=_fen(form.get("discount"), "discount"),
            percent_off=int(str(form.get("percent") or 0)),
            max_discount_fen=_fen(form.get("discount"), "discount") or None
            if form.get("kind") == "percent"
            else None,
            valid_days=int(str(form.get("days"))) if form.get("days") else None,
            per_customer_limit=int(str(form.get("limit") or 1)),
        )
    except SiyuError as exc:
        return _page(request, session, caller, 422, error=exc.message(caller.locale))
    except ValueError:
        error = InvalidField("template", "请检查填写的内容", "check the values entered")
        return _page(request, session, caller, 422, error=error.message(caller.locale))
    result = attempt(session, lambda: coupons.create_template(session, caller, data))
    if isinstance(result, SiyuError):
        return _page(request, session, caller, 422, error=result.message(caller.locale))
    return RedirectResponse("/promotions/coupons?notice=created", status_code=303)


@router.post("/promotions/coupons/{template_id}/issue", response_class=HTMLResponse)
async def issue(
    template_id: int, request: Request, session: DbSession, caller: ConsoleCaller
) -> Response:
    """Issue to the listed customer ids (one batch; refusals are counted)."""
    form = await request.form()
    parts = [p for p in re.split(r"[\s,，]+", str(form.get("ids", ""))) if p]
    if not parts or not all(p.isdigit() for p in parts):
        error = InvalidField("ids", "应为客户ID列表", "a list of customer ids")
        return _page(request, session, caller, 422, error=error.message(caller.locale))
    batch = str(form.get("batch") or uuid.uuid4().hex[:16])
    ids = [int(p) for p in parts]
    result = attempt(
        session, lambda: coupons.issue_many(session, caller, template_id, ids, batch, "bulk")
    )
    if isinstance(result, SiyuError):
        return _page(request, session, caller, 422, error=result.message(caller.locale))
    return RedirectResponse(
        f"/promotions/coupons?notice=issued&n={result['issued']}", status_code=303
    )
