"""File imports over both stores: exact orders, lines, customers, error reports, resume, dedup."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.core.audit import AuditEntry
from siyu.core.db import Database
from siyu.core.errors import Forbidden
from siyu.customers.models import Customer, Identity
from siyu.ingest.importers import ImportInterrupted, import_file
from siyu.ingest.layouts import MissingColumns, UnknownLayout
from siyu.ingest.models import MAX_FEN, ImportJob, Order, OrderLine
from siyu.ingest.readers import ImportFileError
from siyu.workspaces.models import Role
from tests.conftest import Tenant
from tests.ingest.files import (
    ADDRESS,
    JD_HEADERS,
    TMALL_HEADERS,
    read_report,
    tmall_row,
    write_csv,
)

REPORT_HEADER = ["行号 row", "列 column", "值 value", "原因", "reason"]


def snapshot(db: Database, workspace_id: int) -> dict[str, Any]:
    """Everything an import writes, with customer ids renumbered by first appearance."""
    with db.transaction() as session:
        ids: dict[int, int] = {}

        def who(customer_id: int) -> int:
            return ids.setdefault(customer_id, len(ids) + 1)

        orders = session.scalars(
            select(Order).where(Order.workspace_id == workspace_id).order_by(Order.id)
        ).all()
        order_rows = [
            (
                o.channel,
                o.external_id,
                who(o.customer_id),
                o.status,
                o.ordered_at,
                o.paid_at,
                o.total_fen,
                o.paid_fen,
                o.store,
                o.touchpoint,
                o.province,
                o.city,
                o.address,
            )
            for o in orders
        ]
        by_id = {o.id: o.external_id for o in orders}
        lines = [
            (
                by_id[x.order_id],
                x.sku,
                x.product,
                x.category,
                x.quantity,
                x.unit_price_fen,
                x.amount_fen,
            )
            for x in session.scalars(
                select(OrderLine)
                .where(OrderLine.workspace_id == workspace_id)
                .order_by(OrderLine.id)
            )
        ]
        identities = sorted(
            (i.type, i.value, who(i.customer_id))
            for i in session.scalars(select(Identity).where(Identity.workspace_id == workspace_id))
        )
        customers = session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.workspace_id == workspace_id, Customer.merged_into_id.is_(None))
        )
    return {"orders": order_rows, "lines": lines, "identities": identities, "customers": customers}


def jobs(db: Database, workspace_id: int) -> list[tuple[Any, ...]]:
    with db.transaction() as session:
        return [
            (j.layout, j.status, j.rows_done, j.rows_ok, j.rows_failed, j.rows_duplicate)
            for j in session.scalars(
                select(ImportJob)
                .where(ImportJob.workspace_id == workspace_id)
                .order_by(ImportJob.id)
            )
        ]


def at(text: str) -> datetime:
    """A Shanghai wall-clock time as the UTC instant the store holds."""
    return datetime.fromisoformat(text + "+08:00").astimezone(UTC)


def test_tmall_csv_becomes_orders_lines_and_customers(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "tmall.csv",
        TMALL_HEADERS,
        [
            tmall_row('="1001"', "nick_a", "13812345678"),
            tmall_row(
                "1002", "nick_a", "+86 138-1234-5678", paid="0.00", total="", status="交易关闭"
            ),
            tmall_row(
                "1003",
                "nick_b",
                "13900001111",
                paid="15",
                total="15",
                status="卖家已发货",
                **{"订单付款时间": "", "宝贝总数量": ""},
            ),
        ],
    )
    result = import_file(db, tenant.principal, path)
    assert (result.layout, result.status, result.rows, result.ok, result.failed) == (
        "tmall",
        "completed",
        3,
        3,
        0,
    )
    assert (result.duplicate, result.report, result.resumed) == (0, None, False)
    assert not (tmp_path / "tmall.csv.errors.csv").exists()
    state = snapshot(db, tenant.workspace_id)
    created, paid_at = at("2026-01-05T10:20:30"), at("2026-01-05T10:21:00")
    assert state["orders"] == [
        (
            "tmall",
            "1001",
            1,
            "completed",
            created,
            paid_at,
            12000,
            9990,
            "旗舰店",
            None,
            "浙江省",
            "杭州市",
            ADDRESS,
        ),
        (
            "tmall",
            "1002",
            1,
            "cancelled",
            created,
            paid_at,
            0,
            0,
            "旗舰店",
            None,
            "浙江省",
            "杭州市",
            ADDRESS,
        ),
        (
            "tmall",
            "1003",
            2,
            "shipped",
            created,
            None,
            1500,
            1500,
            "旗舰店",
            None,
            "浙江省",
            "杭州市",
            ADDRESS,
        ),
    ]
    assert state["lines"] == [
        ("1001", "玻尿酸面霜 50ml", "玻尿酸面霜 50ml", None, 2, 6000, 12000),
        ("1002", "玻尿酸面霜 50ml", "玻尿酸面霜 50ml", None, 2, 0, 0),
        ("1003", "玻尿酸面霜 50ml", "玻尿酸面霜 50ml", None, 1, 1500, 1500),
    ]
    assert state["identities"] == [
        ("phone", "13812345678", 1),
        ("phone", "13900001111", 2),
        ("taobao_nick", "nick_a", 1),
        ("taobao_nick", "nick_b", 2),
    ]
    assert state["customers"] == 2
    assert jobs(db, tenant.workspace_id) == [("tmall", "completed", 3, 3, 0, 0)]
    with db.transaction() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "import")).one()
    assert entry.detail == {
        "layout": "tmall",
        "rows": 3,
        "ok": 3,
        "failed": 0,
        "duplicate": 0,
        "resumed": False,
    }


def test_bad_rows_are_reported_with_masked_pii_and_good_rows_kept(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "tmall.csv",
        TMALL_HEADERS,
        [
            tmall_row("2001", "ok_1", "13812345678"),
            tmall_row("2002", "bad_phone", "1381234"),
            tmall_row("2003", "decimals", "13812345679", paid="10.123"),
            tmall_row("2004", "negative", "13812345679", paid="-5"),
            tmall_row("2005", "nan", "13812345679", total="abc"),
            tmall_row("2006", "status", "13812345679", status="退款中"),
            tmall_row("2007", "", "13812345679"),
            tmall_row("2008", "over", "13812345679", paid="200", total="100"),
            tmall_row("2009", "two", "12345", status="外星"),
            tmall_row("2010", "ok_2", "13700000000"),
        ],
    )
    result = import_file(db, tenant.principal, path)
    assert (result.rows, result.ok, result.failed, result.duplicate) == (10, 2, 8, 0)
    assert result.report == tmp_path / "tmall.csv.errors.csv"
    phone = "not a valid mainland China mobile number (11 digits starting with 1)"
    phone_zh = "不是有效的中国大陆手机号（11位，以1开头）"
    assert read_report(result.report) == [
        REPORT_HEADER,
        ["3", "联系手机", "138****1234", phone_zh, phone],
        ["4", "买家实际支付金额", "10.123", "金额最多两位小数", "amount has more than 2 decimals"],
        ["5", "买家实际支付金额", "-5", "金额不能为负数", "amount cannot be negative"],
        ["6", "总金额", "abc", "不是有效的金额", "not a valid amount"],
        ["7", "订单状态", "退款中", "未知的订单状态 退款中", "unknown order status 退款中"],
        ["8", "买家会员名", "", "必填列为空", "required column is empty"],
        ["9", "买家实际支付金额", "200", "实付金额不能大于订单金额", "cannot exceed total_fen"],
        ["10", "联系手机", "****", phone_zh, phone],
        ["10", "订单状态", "外星", "未知的订单状态 外星", "unknown order status 外星"],
    ]
    state = snapshot(db, tenant.workspace_id)
    assert [o[1] for o in state["orders"]] == ["2001", "2010"]
    assert [x[0] for x in state["lines"]] == ["2001", "2010"]
    assert state["customers"] == 2
    assert jobs(db, tenant.workspace_id) == [("tmall", "completed", 10, 2, 8, 0)]


def test_an_amount_above_the_limit_is_reported_and_the_rest_kept(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "tmall.csv",
        TMALL_HEADERS,
        [
            tmall_row("3001", "at_limit", "13812345678", paid="100000000.00", total="100000000.00"),
            tmall_row("3002", "over", "13812345679", paid="99.00", total="100000000.01"),
            tmall_row("3003", "ok", "13700000000"),
        ],
    )
    result = import_file(db, tenant.principal, path)
    assert (result.rows, result.ok, result.failed, result.duplicate) == (3, 2, 1, 0)
    assert result.report is not None
    assert read_report(result.report) == [
        REPORT_HEADER,
        [
            "3",
            "总金额",
            "100000000.01",
            "金额超过上限（1亿元）",
            "amount is above the limit of 100,000,000 yuan",
        ],
    ]
    state = snapshot(db, tenant.workspace_id)
    assert [o[1] for o in state["orders"]] == ["3001", "3003"]
    with db.transaction() as session:
        paid = session.scalar(select(Order.paid_fen).where(Order.external_id == "3001"))
    assert paid == MAX_FEN


def test_same_phone_on_tmall_and_jd_is_one_customer_and_jd_rows_make_one_order(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    tmall = write_csv(
        tmp_path / "tmall.csv", TMALL_HEADERS, [tmall_row("T1", "nick_a", "13812345678")]
    )
    jd = write_csv(
        tmp_path / "jd.csv",
        JD_HEADERS,
        [
            [
                "J1",
                "pin_a",
                "面霜",
                "SKU-1",
                "1",
                "90.00",
                "100.01",
                "2026-01-06 09:00:00",
                "完成",
                "张三",
                "138 1234 5678",
                "浙江杭州市西湖区文三路88号",
            ],
            [
                "J1",
                "pin_a",
                "眼霜",
                "SKU-2",
                "2",
                "90.00",
                "100.01",
                "2026-01-06 09:00:00",
                "完成",
                "张三",
                "138 1234 5678",
                "浙江杭州市西湖区文三路88号",
            ],
            [
                "J2",
                "pin_b",
                "眼霜",
                "SKU-2",
                "1",
                "30",
                "30",
                "2026-01-07 09:00:00",
                "等待出库",
                "李四",
                "13900001111",
                "北京朝阳区三里屯1号",
            ],
        ],
    )
    assert import_file(db, tenant.principal, tmall).ok == 1
    result = import_file(db, tenant.principal, jd)
    assert (result.layout, result.rows, result.ok, result.failed) == ("jd", 3, 3, 0)
    state = snapshot(db, tenant.workspace_id)
    assert [(o[0], o[1], o[2], o[3], o[6], o[7], o[10], o[11]) for o in state["orders"]] == [
        ("tmall", "T1", 1, "completed", 12000, 9990, "浙江省", "杭州市"),
        ("jd", "J1", 1, "completed", 10001, 9000, "浙江省", "杭州市"),
        ("jd", "J2", 2, "paid", 3000, 3000, "北京市", "北京市"),
    ]
    # No unit price in the JD export: the order amount is shared by quantity, to the fen.
    assert state["lines"][1:] == [
        ("J1", "SKU-1", "面霜", None, 1, 3333, 3333),
        ("J1", "SKU-2", "眼霜", None, 2, 3334, 6668),
        ("J2", "SKU-2", "眼霜", None, 1, 3000, 3000),
    ]
    assert state["customers"] == 2
    assert [i for i in state["identities"] if i[2] == 1] == [
        ("jd_pin", "pin_a", 1),
        ("phone", "13812345678", 1),
        ("taobao_nick", "nick_a", 1),
    ]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk", "gb18030"])
def test_bom_and_gbk_files_import_like_utf8(
    db: Database, tenant: Tenant, other_tenant: Tenant, tmp_path: Path, encoding: str
) -> None:
    rows = [tmall_row("E1", "买家甲", "13812345678"), tmall_row("E2", "买家乙", "13900001111")]
    plain = write_csv(tmp_path / "utf8.csv", TMALL_HEADERS, rows)
    other = write_csv(tmp_path / f"{encoding}.csv", TMALL_HEADERS, rows, encoding=encoding)
    assert import_file(db, tenant.principal, plain).ok == 2
    assert import_file(db, other_tenant.principal, other).ok == 2
    assert snapshot(db, other_tenant.workspace_id) == snapshot(db, tenant.workspace_id)


def test_undecodable_file_is_a_clear_error_and_nothing_is_written(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(",".join(TMALL_HEADERS).encode("utf-8") + b"\n\xff\xfe\x00\x81\x30\xff\n")
    with pytest.raises(ImportFileError) as caught:
        import_file(db, tenant.principal, path)
    assert caught.value.en_message == (
        "The file is not UTF-8, GBK or GB18030 text; save it as CSV (UTF-8/GBK) or .xlsx"
    )
    assert jobs(db, tenant.workspace_id) == []
    assert snapshot(db, tenant.workspace_id)["orders"] == []


def test_unknown_layout_names_the_headers_it_saw(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "x.csv", ["单号", "金额"], [["1", "2"]])
    with pytest.raises(UnknownLayout) as caught:
        import_file(db, tenant.principal, path)
    assert caught.value.en_message == (
        "Unknown file layout; headers seen: 单号、金额. Name one with --layout "
        "(tmall, jd, youzan, douyin, wecom_contacts)"
    )
    forced = write_csv(tmp_path / "t.csv", TMALL_HEADERS[:3], [["1", "n", "2"]])
    with pytest.raises(MissingColumns) as missing:
        import_file(db, tenant.principal, forced, layout="tmall")
    assert missing.value.detail["missing"] == [
        "订单创建时间",
        "收货人姓名",
        "联系手机",
        "收货地址",
        "宝贝标题",
        "订单状态",
    ]
    assert jobs(db, tenant.workspace_id) == []


def test_same_file_twice_adds_nothing(db: Database, tenant: Tenant, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "tmall.csv",
        TMALL_HEADERS,
        [tmall_row(f"D{i}", f"nick{i % 3}", f"1381234567{i % 3}") for i in range(7)]
        + [tmall_row("BAD", "x", "1")],
    )
    first = import_file(db, tenant.principal, path, chunk_rows=3)
    before = snapshot(db, tenant.workspace_id)
    second = import_file(db, tenant.principal, path, chunk_rows=3)
    assert (first.ok, first.failed, first.duplicate) == (7, 1, 0)
    assert (second.ok, second.failed, second.duplicate) == (0, 1, 7)
    assert snapshot(db, tenant.workspace_id) == before
    assert len(before["orders"]) == 7 and before["customers"] == 3
    assert jobs(db, tenant.workspace_id) == [
        ("tmall", "completed", 8, 7, 1, 0),
        ("tmall", "completed", 8, 0, 1, 7),
    ]


def test_interrupted_import_resumes_to_exactly_a_clean_runs_state(
    db: Database, tenant: Tenant, other_tenant: Tenant, tmp_path: Path
) -> None:
    rows = []
    for i in range(10):
        rows.append(tmall_row(f"R{i}", f"nick{i % 4}", f"1390000000{i % 4}"))
        if i in (2, 7):
            rows.append(tmall_row(f"X{i}", "bad", "123"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    clean_path = write_csv(tmp_path / "a" / "orders.csv", TMALL_HEADERS, rows)
    cut_path = write_csv(tmp_path / "b" / "orders.csv", TMALL_HEADERS, rows)
    clean = import_file(db, tenant.principal, clean_path, chunk_rows=3)

    with pytest.raises(ImportInterrupted):
        import_file(db, other_tenant.principal, cut_path, chunk_rows=3, stop_after=2)
    assert jobs(db, other_tenant.workspace_id) == [("tmall", "running", 6, 5, 1, 0)]
    assert len(snapshot(db, other_tenant.workspace_id)["orders"]) == 5
    resumed = import_file(db, other_tenant.principal, cut_path, chunk_rows=3)

    assert resumed.resumed is True
    assert (
        (resumed.rows, resumed.ok, resumed.failed, resumed.duplicate)
        == (
            clean.rows,
            clean.ok,
            clean.failed,
            clean.duplicate,
        )
        == (12, 10, 2, 0)
    )
    assert snapshot(db, other_tenant.workspace_id) == snapshot(db, tenant.workspace_id)
    assert jobs(db, other_tenant.workspace_id) == [("tmall", "completed", 12, 10, 2, 0)]
    assert resumed.report and clean.report
    assert read_report(resumed.report) == read_report(clean.report)
    assert [r[0] for r in read_report(clean.report)[1:]] == ["5", "11"]


def test_analyst_may_not_import_and_nothing_is_written(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    from dataclasses import replace

    path = write_csv(tmp_path / "t.csv", TMALL_HEADERS, [tmall_row("A1", "n", "13812345678")])
    with pytest.raises(Forbidden):
        import_file(db, replace(tenant.principal, role=Role.analyst), path)
    assert jobs(db, tenant.workspace_id) == []
    assert snapshot(db, tenant.workspace_id)["orders"] == []
