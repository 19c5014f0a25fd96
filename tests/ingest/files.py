"""Small export files written the way the platforms write them, for the import tests."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

TMALL_HEADERS = [
    "订单编号",
    "买家会员名",
    "买家实际支付金额",
    "总金额",
    "订单创建时间",
    "订单付款时间",
    "收货人姓名",
    "联系手机",
    "收货地址",
    "宝贝标题",
    "宝贝总数量",
    "订单状态",
    "店铺名称",
]
JD_HEADERS = [
    "订单号",
    "下单帐号",
    "商品名称",
    "商品ID",
    "订购数量",
    "应付金额",
    "订单金额",
    "下单时间",
    "订单状态",
    "客户姓名",
    "联系电话",
    "客户地址",
]
ADDRESS = "浙江省 杭州市 西湖区 文三路88号"


def tmall_row(
    order: str,
    nick: str,
    phone: str,
    paid: str = "99.90",
    total: str = "120.00",
    status: str = "交易成功",
    **over: str,
) -> list[str]:
    """One Tmall order row; keyword arguments override cells by header."""
    row = dict(
        zip(
            TMALL_HEADERS,
            [
                order,
                nick,
                paid,
                total,
                "2026-01-05 10:20:30",
                "2026-01-05 10:21:00",
                "张三",
                phone,
                ADDRESS,
                "玻尿酸面霜 50ml",
                "2",
                status,
                "旗舰店",
            ],
            strict=True,
        )
    )
    row.update(over)
    return [row[h] for h in TMALL_HEADERS]


def write_csv(
    path: Path, headers: list[str], rows: list[list[Any]], encoding: str = "utf-8"
) -> Path:
    """A CSV in the given encoding (utf-8, utf-8-sig, gbk, gb18030)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, headers: list[str], rows: list[list[Any]]) -> Path:
    """A workbook made with openpyxl, cells typed as Excel would type them."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def read_report(path: Path) -> list[list[str]]:
    """An error report's rows, header first (it must be UTF-8 with a BOM)."""
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw[3:].decode("utf-8"))))
