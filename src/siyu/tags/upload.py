"""Tagging from an uploaded file: one customer id or phone a line."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, scoped
from siyu.core.errors import InvalidField
from siyu.core.pii import blind_index, normalize_phone
from siyu.customers.models import Customer


def ids_from_file(session: Session, principal: Principal, content: bytes) -> list[int]:
    """Customer ids from an uploaded file: one customer id or phone per line (first column).

    A header line is skipped; a line that is neither, or names nobody, is an error naming it.
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidField("file", "文件须为UTF-8编码", "the file must be UTF-8 text") from None
    ids: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.split(",")[0].strip().strip('"')
        if not value or (number == 1 and not value.lstrip("+").isdigit()):
            continue
        ids.append(_one_customer(session, principal, value, f"file.row.{number}"))
    if not ids:
        raise InvalidField("file", "文件中没有客户", "the file names no customers")
    return ids


def _one_customer(session: Session, principal: Principal, value: str, field: str) -> int:
    digits = value.replace(" ", "").replace("-", "")
    stmt = scoped(select(Customer.id), Customer, principal).where(Customer.merged_into_id.is_(None))
    if len(digits.lstrip("+")) >= 11:
        phone = normalize_phone(digits, field)
        found = session.scalar(stmt.where(Customer.phone_bidx == blind_index("phone", phone)))
    elif digits.isdigit():
        found = session.scalar(stmt.where(Customer.id == int(digits)))
    else:
        found = None
        raise InvalidField(field, "应为客户ID或手机号", "expected a customer id or a phone number")
    if found is None:
        raise InvalidField(field, "找不到这个客户", "no live customer matches this line")
    return int(found)
