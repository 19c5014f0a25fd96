"""Rows of an export → OrderIn / add_contact events, with per-cell errors naming the column."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from siyu.core.errors import InvalidField, SiyuError
from siyu.core.pii import blind_index, mask_email, mask_name, mask_phone
from siyu.customers.identifiers import PII_TYPES, normalize
from siyu.customers.identifiers import TYPES as IDENTIFIER_TYPES
from siyu.ingest.layouts import PII_FIELDS, Layout
from siyu.ingest.models import CHANNELS, ORDER_STATUSES
from siyu.ingest.readers import (
    Cell,
    CellError,
    parse_fen,
    parse_int,
    parse_time,
    parse_yuan,
    province_name,
    region_of,
)
from siyu.ingest.schemas import OrderIn

_TIMES = {"ordered_at", "paid_at", "added_at"}
_TAG_SPLIT = re.compile(r"[,，;；、|\s]+")


@dataclass(frozen=True)
class RowError:
    """One problem with one cell (or one row), as the error report shows it."""

    row: int
    column: str
    value: str
    zh: str
    en: str


@dataclass
class Row:
    """A parsed row: its number in the file, converted values, and what was wrong with it."""

    number: int
    raw: Sequence[Cell]
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)


def shown(fld: str, value: Cell) -> str:
    """A cell as the error report may show it: PII masked."""
    if value is None:
        return ""
    text = value.isoformat(sep=" ") if not isinstance(value, str) else value
    if fld == "phone":
        return mask_phone(text)
    if fld == "email":
        return mask_email(text)
    if fld == "name":
        return mask_name(text)
    if fld in PII_FIELDS or fld in PII_TYPES:
        return text[:3] + "***"
    return text


class RowParser:
    """Converts the cells of one layout's rows; knows which header each field came from."""

    def __init__(self, layout: Layout, binding: dict[str, tuple[int, str]]) -> None:
        self.layout = layout
        self.binding = binding
        # A column every export has may still be empty in a row (a buyer who left no phone or
        # address); personal fields are optional, the keys of the order or contact are not.
        self.required = {c.field for c in layout.columns if c.required} - PII_FIELDS
        self.statuses = dict(layout.statuses)
        if layout.name.startswith("generic"):
            self.statuses.update({s: s for s in ORDER_STATUSES})

    def header(self, fld: str) -> str:
        """The file's header a field was read from ('-' if none)."""
        bound = self.bound(fld)
        return self.binding[bound][1] if bound else "-"

    def bound(self, fld: str) -> str | None:
        """The bound field a name refers to: paid_fen may have been read from paid_yuan."""
        base = fld.removesuffix("_fen").removesuffix("_yuan")
        return next(
            (n for n in (fld, base, f"{base}_yuan", f"{base}_fen") if n in self.binding), None
        )

    def cell(self, raw: Sequence[Cell], fld: str) -> Cell:
        index = self.binding[fld][0]
        value = raw[index] if index < len(raw) else None
        return None if value == "" else value

    def parse(self, number: int, raw: Sequence[Cell]) -> Row:
        """Convert every bound cell; each bad one adds an error naming its column."""
        row = Row(number, raw)
        for fld in self.binding:
            value = self.cell(raw, fld)
            if value is None:
                if fld in self.required:
                    self.fail(row, fld, "必填列为空", "required column is empty")
                continue
            try:
                self._convert(row, fld, value)
            except CellError as exc:
                self.fail(row, fld, exc.zh, exc.en)
            except InvalidField as exc:
                self.fail(row, fld, *reasons(exc))
        if not row.errors and not any(t in row.values for t in IDENTIFIER_TYPES):
            self.fail(
                row, "-", "没有可识别客户的标识（手机号、会员名等）", "no customer identifier"
            )
        return row

    def fail(self, row: Row, fld: str, zh: str, en: str) -> None:
        value = self.cell(row.raw, fld) if fld in self.binding else None
        row.errors.append(RowError(row.number, self.header(fld), shown(fld, value), zh, en))

    def _convert(self, row: Row, fld: str, value: Cell) -> None:
        if fld in _TIMES:
            row.values[fld] = parse_time(value)
            return
        text = value if isinstance(value, str) else value.isoformat(sep=" ") if value else ""
        if fld in IDENTIFIER_TYPES:
            row.values[fld] = normalize(fld, text)
        elif fld.endswith("_yuan"):
            row.values[fld.removesuffix("_yuan")] = parse_yuan(text)
        elif fld.endswith("_fen"):
            row.values[fld.removesuffix("_fen")] = parse_fen(text)
        elif fld == "quantity":
            row.values[fld] = parse_int(text, positive=True)
        elif fld == "status":
            if text not in self.statuses:
                raise CellError(f"未知的订单状态 {text}", f"unknown order status {text}")
            row.values[fld] = self.statuses[text]
        elif fld == "channel":
            if text not in CHANNELS:
                raise CellError(f"未知的渠道 {text}", f"unknown channel {text}")
            row.values[fld] = text
        elif fld == "province":
            row.values[fld] = province_name(text)
        else:
            row.values[fld] = text

    def group_errors(self, rows: list[Row], exc: Exception) -> list[RowError]:
        """An order-level problem, reported on every row of the order."""
        problems: list[tuple[str, str, str]] = []
        if isinstance(exc, ValidationError):
            for e in exc.errors():
                loc = [str(p) for p in e["loc"] if not isinstance(p, int)]
                nested = loc[0] in ("attributes", "identifiers", "lines") and len(loc) > 1
                fld = loc[1] if nested else loc[0]
                problems.append((fld, f"无效：{e['msg']}", e["msg"]))
        elif isinstance(exc, SiyuError):
            for e in exc.detail.get("errors") or [{"field": "-", "reason": exc.en_message}]:
                fld = str(e["field"]).split(".")[-1]
                fld = "product" if fld == "lines" else fld
                zh = reasons(exc)[0] if isinstance(exc, InvalidField) else exc.zh_message
                problems.append((fld, zh, str(e["reason"])))
        out = []
        for row in rows:
            for fld, zh, en in problems:
                bound = self.bound(fld)
                value = self.cell(row.raw, bound) if bound else None
                out.append(RowError(row.number, self.header(fld), shown(fld, value), zh, en))
        return out


def reasons(exc: InvalidField) -> tuple[str, str]:
    """The (zh, en) reason of a one-field error, without the 'field X is invalid' prefix."""
    zh = exc.zh_message.partition("：")[2] or exc.zh_message
    en = exc.detail["errors"][0]["reason"] if exc.detail.get("errors") else exc.en_message
    return zh, en


def order_of(layout: Layout, rows: list[Row]) -> OrderIn:
    """One order from its rows (one per SKU); amounts per the layout's scope."""
    first = rows[0].values
    lines: list[dict[str, Any]] = []
    for row in rows:
        v = row.values
        if not v.get("product"):
            continue
        qty = v.get("quantity", 1)
        amount = None
        if "unit_price" in v:
            amount = v["unit_price"] * qty
        elif layout.amounts == "line":
            amount = v.get("total", v.get("paid", 0))
        lines.append(
            {
                "sku": v.get("sku") or v["product"][:64],
                "product": v["product"],
                "category": v.get("category"),
                "quantity": qty,
                "amount_fen": amount,
            }
        )
    if layout.amounts == "line":
        paid = sum(r.values.get("paid", 0) for r in rows)
        total = sum(r.values.get("total", r.values.get("paid", 0)) for r in rows)
    else:
        paid, total = first["paid"], first.get("total")
    _allocate(lines, (total if total is not None else paid))
    if total is None:
        total = max(paid, sum(line["amount_fen"] for line in lines))
    for line in lines:
        line["unit_price_fen"] = line["amount_fen"] // line["quantity"]
    touchpoint = first.get("touchpoint") or (layout.kol_touchpoint if first.get("kol_id") else None)
    return OrderIn.model_validate(
        {
            "external_id": first["external_id"],
            "channel": layout.channel or first.get("channel"),
            "status": first.get("status", "paid"),
            "ordered_at": first["ordered_at"],
            "paid_at": first.get("paid_at"),
            "total_fen": total,
            "paid_fen": paid,
            "identifiers": {t: first[t] for t in IDENTIFIER_TYPES if t in first},
            "attributes": attributes_of(first) or None,
            "store": first.get("store"),
            "touchpoint": touchpoint,
            "lines": lines,
        }
    )


def _allocate(lines: list[dict[str, Any]], total: int) -> None:
    """Lines without a price share what is left of the order by quantity, to the fen."""
    open_lines = [line for line in lines if line["amount_fen"] is None]
    if not open_lines:
        return
    left = max(total - sum(line["amount_fen"] or 0 for line in lines), 0)
    units = sum(line["quantity"] for line in open_lines)
    given = 0
    for line in open_lines[:-1]:
        line["amount_fen"] = left * line["quantity"] // units
        given += line["amount_fen"]
    open_lines[-1]["amount_fen"] = left - given


def attributes_of(values: dict[str, Any]) -> dict[str, str]:
    """Name and region; an address without a region column gives its province and city."""
    province, city = values.get("province"), values.get("city")
    address = values.get("address")
    if "district" in values or (address and province and not address.startswith(province)):
        # Douyin splits the address over 省/市/区/详细地址; keep the whole of it.
        parts = [province, city, values.get("district"), address]
        address = " ".join(p for p in parts if p) or None
    if address and not (province and city):
        found = region_of(address)
        province, city = province or found[0], city or found[1]
    attrs = {"name": values.get("name"), "province": province, "city": city, "address": address}
    return {k: v for k, v in attrs.items() if v}


def contact_event(layout: Layout, row: Row) -> dict[str, Any]:
    """An add_contact event for one contact row; its id is stable across re-imports."""
    v = row.values
    identifiers = {t: v[t] for t in IDENTIFIER_TYPES if t in v}
    # The layout's first non-PII identifier names the contact (stable if optional ones vary).
    kinds = [c.field for c in layout.columns if c.field in identifiers]
    kind = next((t for t in kinds if t not in PII_TYPES), kinds[0])
    # A PII identifier never appears in clear in an event id: its keyed blind index does.
    key = v[kind] if kind not in PII_TYPES else blind_index(kind, v[kind])
    staff = v.get("staff", "")
    digest = hashlib.sha256(f"{kind}:{key}:{staff}".encode()).hexdigest()[:32]
    properties: dict[str, Any] = {"staff": staff} if staff else {}
    if v.get("tags"):
        properties["tags"] = [t for t in _TAG_SPLIT.split(v["tags"]) if t]
    if v.get("source"):
        properties["source"] = v["source"]
    event: dict[str, Any] = {
        "event_id": f"import:add_contact:{digest}",
        "type": "add_contact",
        "occurred_at": v["added_at"],
        "identifiers": identifiers,
        "source": layout.channel or "import",
        "properties": properties,
    }
    attrs = attributes_of(v)
    if attrs:
        event["attributes"] = attrs
    return event
