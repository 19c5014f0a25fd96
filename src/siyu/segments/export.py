"""Export a segment's members to CSV or XLSX; phone and name only for admin/operator, audited."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal
from siyu.core.errors import InvalidField
from siyu.customers.service import FULL_PII_ROLES
from siyu.segments import service
from siyu.workspaces.models import Role

FORMATS = ("csv", "xlsx")
PLAIN = ["customer_id", "city", "province", "gender", "since"]
WITH_PII = ["customer_id", "name", "phone", "city", "province", "gender", "since"]


def rows(
    session: Session, principal: Principal, segment_id: int, with_pii: bool
) -> list[list[object]]:
    """Header and one row per live member."""
    header = WITH_PII if with_pii else PLAIN
    out: list[list[object]] = [list(header)]
    after = None
    while True:
        page = service.members(session, principal, segment_id, after, 1000)
        for customer, since in page:
            values = {
                "customer_id": customer.id,
                "name": customer.name or "",
                "phone": customer.phone or "",
                "city": customer.city or "",
                "province": customer.province or "",
                "gender": customer.gender or "",
                "since": since.isoformat(),
            }
            out.append([values[c] for c in header])
        if len(page) < 1000:
            return out
        after = page[-1][0].id


def export(
    session: Session, principal: Principal, segment_id: int, fmt: str, with_pii: bool
) -> tuple[bytes, str]:
    """The file's bytes and media type; PII needs admin or operator and is audited."""
    principal.require(Role.operator, Role.analyst)
    if fmt not in FORMATS:
        raise InvalidField("format", "只支持 csv 或 xlsx", "csv or xlsx")
    if with_pii and principal.role not in FULL_PII_ROLES:
        audit.record_denied(session, principal, "export", "segment", segment_id)
        principal.require(*FULL_PII_ROLES)
    table = rows(session, principal, segment_id, with_pii)
    audit.record(
        session,
        principal,
        "export",
        "segment",
        segment_id,
        format=fmt,
        rows=len(table) - 1,
        pii=with_pii,
        fields=table[0],
    )
    if fmt == "csv":
        buffer = io.StringIO()
        csv.writer(buffer).writerows(table)
        return buffer.getvalue().encode("utf-8-sig"), "text/csv; charset=utf-8"
    book = Workbook(write_only=True)
    sheet = book.create_sheet("members")
    for row in table:
        sheet.append(row)
    data = io.BytesIO()
    book.save(data)
    return data.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
