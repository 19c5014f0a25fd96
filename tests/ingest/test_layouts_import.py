"""XLSX files, the Youzan/Douyin/WeCom layouts and generic mappings, over both stores."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from siyu.core.db import Database
from siyu.core.errors import InvalidField, NotFound
from siyu.ingest import service
from siyu.ingest.importers import import_file
from siyu.ingest.models import Event
from siyu.ingest.readers import ImportFileError
from siyu.ingest.schemas import ColumnMappingIn
from tests.conftest import Tenant
from tests.ingest.files import JD_HEADERS, TMALL_HEADERS, read_report, write_csv, write_xlsx
from tests.ingest.test_importers import at, jobs, snapshot


def test_xlsx_with_typed_cells_and_a_blank_row(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    when = datetime(2026, 1, 5, 10, 20, 30)
    row = [
        "X1",
        "nick",
        99.9,
        120,
        when,
        None,
        "张三",
        13812345678,
        "浙江省 杭州市 西湖区 文三路88号",
        "面霜",
        2,
        "交易成功",
        "旗舰店",
    ]
    # 0.1 + 0.2 style float noise in a computed cell still means whole fen.
    noisy = [
        "X2",
        "nick2",
        0.1 + 0.2,
        None,
        "2026-01-05 11:00:00",
        None,
        "李四",
        "13900001111",
        "广东省 深圳市 南山区",
        "眼霜",
        1.0,
        "买家已付款",
        None,
    ]
    bad = [
        "X3",
        "nick3",
        10.005,
        None,
        when,
        None,
        "王五",
        13700000000,
        "x",
        "眼霜",
        1,
        "交易成功",
        None,
    ]
    path = write_xlsx(tmp_path / "tmall.xlsx", TMALL_HEADERS, [row, noisy, [None] * 13, bad])
    result = import_file(db, tenant.principal, path)
    assert (result.layout, result.rows, result.ok, result.failed) == ("tmall", 4, 2, 1)
    state = snapshot(db, tenant.workspace_id)
    assert [(o[1], o[3], o[4], o[6], o[7], o[10], o[11]) for o in state["orders"]] == [
        ("X1", "completed", at("2026-01-05T10:20:30"), 12000, 9990, "浙江省", "杭州市"),
        ("X2", "paid", at("2026-01-05T11:00:00"), 30, 30, "广东省", "深圳市"),
    ]
    assert result.report == tmp_path / "tmall.xlsx.errors.csv"
    assert read_report(result.report)[1:] == [
        ["5", "买家实际支付金额", "10.005", "金额最多两位小数", "amount has more than 2 decimals"]
    ]


def test_truncated_xlsx_is_a_clear_error(db: Database, tenant: Tenant, tmp_path: Path) -> None:
    whole = write_xlsx(tmp_path / "whole.xlsx", TMALL_HEADERS, [["1"] * 13] * 50)
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ImportFileError) as caught:
        import_file(db, tenant.principal, cut)
    assert caught.value.en_message.startswith(
        "Cannot read the .xlsx file; it is corrupt or truncated"
    )
    assert jobs(db, tenant.workspace_id) == []


def test_youzan_unit_prices_and_unionid(db: Database, tenant: Tenant, tmp_path: Path) -> None:
    headers = [
        "订单号",
        "订单状态",
        "买家ID",
        "收货人/提货人",
        "收货人手机号/提货人手机号",
        "详细收货地址/提货地址",
        "商品名称",
        "商品数量",
        "商品单价",
        "订单实付金额",
        "订单创建时间",
        "微信unionid",
    ]
    common = ["Y1", "已发货", "yz-1", "张三", "13812345678", "上海市 上海市 浦东新区 世纪大道1号"]
    rows = [
        [*common, "面霜", "2", "50.00", "80.00", "2026-02-01 08:00:00", "oU-1"],
        [*common, "眼霜", "1", "30.00", "80.00", "2026-02-01 08:00:00", "oU-1"],
    ]
    result = import_file(db, tenant.principal, write_csv(tmp_path / "yz.csv", headers, rows))
    assert (result.layout, result.ok) == ("youzan", 2)
    state = snapshot(db, tenant.workspace_id)
    # Paid is the order's; without a goods-total column the total is what the lines add to.
    assert [(o[1], o[3], o[6], o[7], o[10], o[11]) for o in state["orders"]] == [
        ("Y1", "shipped", 13000, 8000, "上海市", "上海市")
    ]
    assert state["lines"] == [
        ("Y1", "面霜", "面霜", None, 2, 5000, 10000),
        ("Y1", "眼霜", "眼霜", None, 1, 3000, 3000),
    ]
    assert [i[0] for i in state["identities"]] == ["phone", "wechat_unionid", "youzan_buyer_id"]


def test_douyin_sub_orders_sum_and_kol_touchpoint(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    headers = [
        "主订单编号",
        "选购商品",
        "商品数量",
        "订单应付金额",
        "收件人",
        "收件人手机号",
        "省",
        "市",
        "区",
        "详细地址",
        "订单状态",
        "订单提交时间",
        "用户ID",
        "达人ID",
    ]
    person = ["王五", "13700000000", "浙江", "宁波市", "鄞州区", "天童路1号"]
    rows = [
        ["D1", "面霜", "3", "100.00", *person, "已完成", "2026-03-01 20:00:00", "dy-1", "kol-9"],
        ["D1", "眼霜", "1", "33.33", *person, "已完成", "2026-03-01 20:00:00", "dy-1", "kol-9"],
        ["D2", "面霜", "1", "50", *person, "待发货", "2026-03-02 20:00:00", "dy-1", ""],
    ]
    result = import_file(db, tenant.principal, write_csv(tmp_path / "dy.csv", headers, rows))
    assert (result.layout, result.ok, result.failed) == ("douyin", 3, 0)
    state = snapshot(db, tenant.workspace_id)
    assert [(o[1], o[2], o[3], o[6], o[7], o[9], o[10], o[11], o[12]) for o in state["orders"]] == [
        (
            "D1",
            1,
            "completed",
            13333,
            13333,
            "kol_comment",
            "浙江省",
            "宁波市",
            "浙江省 宁波市 鄞州区 天童路1号",
        ),
        ("D2", 1, "paid", 5000, 5000, None, "浙江省", "宁波市", "浙江省 宁波市 鄞州区 天童路1号"),
    ]
    assert state["lines"] == [
        ("D1", "面霜", "面霜", None, 3, 3333, 10000),
        ("D1", "眼霜", "眼霜", None, 1, 3333, 3333),
        ("D2", "面霜", "面霜", None, 1, 5000, 5000),
    ]


def test_one_bad_line_skips_its_whole_order(db: Database, tenant: Tenant, tmp_path: Path) -> None:
    headers = JD_HEADERS
    tail = ["10", "10", "2026-01-06 09:00:00", "完成", "张三", "13812345678", "浙江杭州市"]
    rows = [
        ["J1", "pin", "面霜", "S1", "1", *tail],
        ["J1", "pin", "眼霜", "S2", "0", *tail],
        ["J2", "pin", "面霜", "S1", "1", *tail],
    ]
    result = import_file(db, tenant.principal, write_csv(tmp_path / "jd.csv", headers, rows))
    assert (result.ok, result.failed) == (1, 2)
    assert read_report(result.report)[1:] == [  # type: ignore[arg-type]
        [
            "2",
            "订单号",
            "J1",
            "同一订单的第 3 行有误，整单未导入",
            "row 3 of the same order is invalid; the whole order was skipped",
        ],
        ["3", "订购数量", "0", "应为正整数", "must be a positive whole number"],
    ]
    assert [o[1] for o in snapshot(db, tenant.workspace_id)["orders"]] == ["J2"]


def test_wecom_contacts_become_add_contact_events_once(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    headers = ["客户名称", "外部联系人ID", "添加人", "添加时间", "备注手机号", "标签", "来源"]
    rows = [
        ["小美", "wmEXT1", "导购A", "2026-01-10 09:30", "13812345678", "高意向，复购", "扫码"],
        ["小美", "wmEXT1", "导购B", "2026-01-11 09:30", "", "", ""],
        ["阿强", "wmEXT2", "导购A", "2026-01-12 09:30", "999", "", ""],
        ["无名", "", "导购A", "2026-01-12 09:30", "", "", ""],
    ]
    path = write_csv(tmp_path / "wecom.csv", headers, rows)
    first = import_file(db, tenant.principal, path)
    assert (first.layout, first.ok, first.failed, first.duplicate) == ("wecom_contacts", 2, 2, 0)
    assert read_report(first.report)[1:] == [  # type: ignore[arg-type]
        [
            "4",
            "备注手机号",
            "****",
            "不是有效的中国大陆手机号（11位，以1开头）",
            "not a valid mainland China mobile number (11 digits starting with 1)",
        ],
        ["5", "外部联系人ID", "", "必填列为空", "required column is empty"],
    ]
    with db.transaction() as session:
        events = session.scalars(
            select(Event).where(Event.workspace_id == tenant.workspace_id).order_by(Event.id)
        ).all()
        got = [(e.type, e.source, e.occurred_at, e.properties, e.customer_id) for e in events]
    assert [g[:4] for g in got] == [
        (
            "add_contact",
            "wecom",
            at("2026-01-10T09:30:00"),
            {"staff": "导购A", "tags": ["高意向", "复购"], "source": "扫码"},
        ),
        ("add_contact", "wecom", at("2026-01-11T09:30:00"), {"staff": "导购B"}),
    ]
    assert got[0][4] == got[1][4]
    assert snapshot(db, tenant.workspace_id)["identities"] == [
        ("phone", "13812345678", 1),
        ("wecom_external_userid", "wmEXT1", 1),
    ]
    again = import_file(db, tenant.principal, path)
    assert (again.ok, again.failed, again.duplicate) == (0, 2, 2)


def test_generic_mapping_imports_any_headers(db: Database, tenant: Tenant, tmp_path: Path) -> None:
    mapping = ColumnMappingIn(
        name="门店POS",
        columns={
            "单号": "external_id",
            "时间": "ordered_at",
            "实收(分)": "paid_fen",
            "会员卡": "member_card",
            "手机": "phone",
            "商品": "product",
            "状态": "status",
        },
        constants={"channel": "store"},
    )
    with db.transaction() as session:
        service.save_column_mapping(session, tenant.principal, mapping)
    rows = [
        ["P1", "2026-04-01 12:00", "2599", "VIP001", "13812345678", "面霜", "completed"],
        ["P2", "2026-04-01 13:00", "12.5", "VIP002", "", "面霜", "已完成"],
    ]
    path = write_csv(tmp_path / "pos.csv", list(mapping.columns), rows)
    result = import_file(db, tenant.principal, path, mapping="门店POS")
    assert (result.layout, result.ok, result.failed) == ("generic:门店POS", 1, 1)
    assert read_report(result.report)[1:] == [  # type: ignore[arg-type]
        ["3", "实收(分)", "12.5", "不是整数", "not a whole number"]
    ]
    state = snapshot(db, tenant.workspace_id)
    assert [(o[0], o[1], o[3], o[6], o[7]) for o in state["orders"]] == [
        ("store", "P1", "completed", 2599, 2599)
    ]
    assert state["lines"] == [("P1", "面霜", "面霜", None, 1, 2599, 2599)]
    with pytest.raises(NotFound):
        import_file(db, tenant.principal, path, mapping="nope")
    wrong = write_csv(tmp_path / "wrong.csv", ["单号", "时间"], [["P3", "2026-04-01"]])
    with pytest.raises(Exception, match="lacks columns"):
        import_file(db, tenant.principal, wrong, mapping="门店POS")


@pytest.mark.parametrize(
    ("columns", "constants", "field"),
    [
        ({"a": "external_id", "b": "ordered_at", "c": "paid_fen", "d": "vip"}, {}, "columns.d"),
        ({"a": "external_id", "b": "ordered_at", "c": "paid_fen"}, {"channel": "store"}, "columns"),
        (
            {"a": "external_id", "b": "ordered_at", "c": "phone"},
            {"channel": "x"},
            "constants.channel",
        ),
    ],
)
def test_a_mapping_that_cannot_import_is_refused(
    db: Database,
    tenant: Tenant,
    columns: dict[str, str],
    constants: dict[str, str],
    field: str,
) -> None:
    body = ColumnMappingIn(name="m", columns=columns, constants=constants)
    with pytest.raises(InvalidField) as caught, db.transaction() as session:
        service.save_column_mapping(session, tenant.principal, body)
    assert caught.value.detail["errors"][0]["field"] == field
