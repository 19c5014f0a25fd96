"""The demo's platform exports as real files, in each platform's own headers and habits.

Tmall: GBK CSV with ="..." around long numbers; JD: XLSX; Youzan: UTF-8 CSV with an extra
推广渠道 column; Douyin: UTF-8-with-BOM CSV, one row per sub-order; WeCom contacts: XLSX.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from siyu.demo.generator import Contact, Dataset, Line, Order
from siyu.ingest.layouts import DOUYIN, JD, TMALL, WECOM_CONTACTS, YOUZAN, Layout

MUNICIPALITIES = ("北京", "上海", "天津", "重庆")
# The Youzan export's touchpoint column, which the built-in youzan layout does not read.
YOUZAN_TOUCHPOINT = "推广渠道"
Cells = Callable[[Order, Line], dict[str, Any]]


def yuan(fen: int) -> str:
    """Fen as the yuan text exports show: 16900 → 169.00."""
    return f"{fen // 100}.{fen % 100:02d}"


def stamp(at: datetime | None) -> str:
    """A local time as exports write it, or an empty cell."""
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else ""


def status_word(layout: Layout, status: str) -> str:
    """The platform's first word for a siyu status (交易成功 for completed on Tmall)."""
    # JD has no word of its own for "shipped": its 等待收货 counts as paid.
    for wanted in (status, "paid"):
        word = next((w for w, s in layout.statuses.items() if s == wanted), None)
        if word:
            return word
    raise ValueError(f"{layout.name} has no word for {status}")


def _province(o: Order) -> str:
    p = o.place[0]
    return f"{p}市" if p in MUNICIPALITIES else f"{p}省"


def _city(o: Order) -> str:
    c = o.place[1]
    return f"{c}市" if c in MUNICIPALITIES else c


def _paid_at(o: Order) -> datetime | None:
    return None if o.status == "cancelled" else o.ordered_at + timedelta(minutes=2)


def _tmall(o: Order, line: Line) -> dict[str, Any]:
    # Tmall wraps long numbers in ="..." so Excel keeps every digit.
    return {
        "external_id": f'="{o.external_id}"',
        "taobao_nick": o.buyer,
        "paid_yuan": yuan(o.paid_fen),
        "total_yuan": yuan(o.total_fen),
        "ordered_at": stamp(o.ordered_at),
        "paid_at": stamp(_paid_at(o)),
        "name": o.name,
        "phone": f'="{o.phone}"' if o.phone else "",
        # Tmall writes 上海 上海市 浦东新区 … but 浙江省 杭州市 西湖区 …, then a postcode.
        "address": f"{_province(o) if o.place[0] not in MUNICIPALITIES else o.place[0]} "
        f"{_city(o)} {o.place[2]} {o.place[3]} 000000",
        "product": line.product.name,
        "sku": line.product.sku,
        "quantity": str(line.quantity),
        "status": status_word(TMALL, o.status),
        "store": "澜蔻官方旗舰店",
        "category": line.product.category,
    }


def _jd(o: Order, line: Line) -> dict[str, Any]:
    return {
        "external_id": o.external_id,
        "jd_pin": o.buyer,
        "product": line.product.name,
        "sku": line.product.sku,
        "quantity": line.quantity,
        "unit_price_yuan": line.product.price_fen / 100,
        "paid_yuan": o.paid_fen / 100,
        "total_yuan": o.total_fen / 100,
        "ordered_at": o.ordered_at,
        "status": status_word(JD, o.status),
        "name": o.name,
        "phone": o.phone,
        "address": f"{o.place[0]}{_city(o)}{o.place[2]}{o.place[3]}",
        "store": "澜蔻京东自营旗舰店",
        "category": line.product.category,
    }


def _youzan(o: Order, line: Line) -> dict[str, Any]:
    return {
        "external_id": o.external_id,
        "status": status_word(YOUZAN, o.status),
        "youzan_buyer_id": o.buyer,
        "name": o.name,
        "phone": o.phone or "",
        "address": f"{_province(o)}{_city(o)}{o.place[2]}{o.place[3]}",
        "province": _province(o),
        "city": _city(o),
        "product": line.product.name,
        "sku": line.product.sku,
        "quantity": str(line.quantity),
        "unit_price_yuan": yuan(line.product.price_fen),
        "paid_yuan": yuan(o.paid_fen),
        "total_yuan": yuan(o.total_fen),
        "ordered_at": stamp(o.ordered_at),
        "paid_at": stamp(_paid_at(o)),
        "wechat_unionid": o.unionid or "",
        "store": "澜蔻会员商城",
        "category": line.product.category,
        "touchpoint": o.touchpoint or "",
    }


def _douyin(o: Order, line: Line) -> dict[str, Any]:
    return {
        "external_id": o.external_id,
        "product": line.product.name,
        "sku": line.product.sku,
        "quantity": str(line.quantity),
        # Each Douyin row is a sub-order with its own amount.
        "paid_yuan": yuan(0 if o.status == "cancelled" else line.paid_fen),
        "name": o.name,
        "phone": o.phone or "",
        "province": _province(o),
        "city": _city(o),
        "district": o.place[2],
        "address": o.place[3],
        "status": status_word(DOUYIN, o.status),
        "ordered_at": stamp(o.ordered_at),
        "paid_at": stamp(_paid_at(o)),
        "douyin_buyer_id": o.buyer,
        "kol_id": o.kol_id or "",
        "store": "澜蔻抖音官方旗舰店",
        "category": line.product.category,
    }


def _contact(c: Contact) -> dict[str, Any]:
    return {
        "name": c.name,
        "wecom_external_userid": c.external_userid,
        "staff": c.staff,
        "added_at": c.added_at,
        "phone": c.phone,
        "tags": c.tags,
        "source": c.source,
        "wechat_unionid": c.unionid,
    }


def headers(layout: Layout) -> list[str]:
    """The layout's canonical headers, in its column order."""
    return [c.header for c in layout.columns]


def _order_rows(layout: Layout, orders: Iterable[Order], cells: Cells) -> Iterator[list[Any]]:
    fields = [c.field for c in layout.columns]
    for o in orders:
        for line in o.lines:
            values = cells(o, line)
            yield [values.get(f) for f in fields]


def write_csv(path: Path, head: list[str], rows: Iterable[list[Any]], encoding: str) -> int:
    """Write a CSV export; returns the number of data rows."""
    count = 0
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(head)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
            count += 1
    return count


def write_xlsx(path: Path, head: list[str], rows: Iterable[list[Any]]) -> int:
    """Write an XLSX export (streamed, constant memory); returns the number of data rows."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Sheet1")
    sheet.append(head)
    count = 0
    for row in rows:
        sheet.append(row)
        count += 1
    book.save(path)
    return count


def write_exports(data: Dataset, folder: Path) -> dict[str, tuple[Path, int]]:
    """Write every platform's export into the folder; name → (file, data rows)."""
    folder.mkdir(parents=True, exist_ok=True)
    by_channel: dict[str, list[Order]] = {}
    for o in data.orders:
        by_channel.setdefault(o.channel, []).append(o)
    files: dict[str, tuple[Path, int]] = {}
    path = folder / "tmall_orders.csv"
    rows = _order_rows(TMALL, by_channel.get("tmall", []), _tmall)
    files["tmall"] = (path, write_csv(path, headers(TMALL), rows, "gbk"))
    path = folder / "jd_orders.xlsx"
    files["jd"] = (
        path,
        write_xlsx(path, headers(JD), _order_rows(JD, by_channel.get("jd", []), _jd)),
    )
    path = folder / "youzan_orders.csv"
    youzan_fields = [c.field for c in YOUZAN.columns] + ["touchpoint"]
    rows = (
        [cells[f] for f in youzan_fields]
        for o in by_channel.get("youzan", [])
        for line in o.lines
        for cells in (_youzan(o, line),)
    )
    files["youzan"] = (path, write_csv(path, [*headers(YOUZAN), YOUZAN_TOUCHPOINT], rows, "utf-8"))
    path = folder / "douyin_orders.csv"
    rows = _order_rows(DOUYIN, by_channel.get("douyin", []), _douyin)
    files["douyin"] = (path, write_csv(path, headers(DOUYIN), rows, "utf-8-sig"))
    path = folder / "wecom_contacts.xlsx"
    fields = [c.field for c in WECOM_CONTACTS.columns]
    contact_rows = ([_contact(c)[f] for f in fields] for c in data.contacts)
    files["wecom"] = (path, write_xlsx(path, headers(WECOM_CONTACTS), contact_rows))
    return files


def youzan_mapping() -> dict[str, str]:
    """A saved column mapping for the Youzan export that also reads its 推广渠道 column."""
    columns = {c.header: c.field for c in YOUZAN.columns}
    columns[YOUZAN_TOUCHPOINT] = "touchpoint"
    return columns
