"""Cells, encodings and layout detection, without a database."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from siyu.ingest.layouts import LAYOUTS, UnknownLayout, detect
from siyu.ingest.readers import (
    CellError,
    ImportFileError,
    RowReader,
    inspect,
    parse_time,
    parse_yuan,
    region_of,
    xlsx_cell,
)
from tests.ingest.files import TMALL_HEADERS, write_csv


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("99.90", 9990),
        ("99.9", 9990),
        ("100", 10000),
        ("¥1,234.5", 123450),
        ("0", 0),
        ("0.01", 1),
        ("12元", 1200),
    ],
)
def test_yuan_to_fen(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1.001", "amount has more than 2 decimals"),
        ("-1", "amount cannot be negative"),
        ("abc", "not a valid amount"),
        ("NaN", "not a valid amount"),
        ("", "not a valid amount"),
    ],
)
def test_bad_yuan(text: str, reason: str) -> None:
    with pytest.raises(CellError) as caught:
        parse_yuan(text)
    assert caught.value.en == reason


def test_times_as_exports_write_them() -> None:
    want = datetime(2026, 1, 5, 9, 3)
    for text in (
        "2026-01-05 09:03:00",
        "2026/1/5 9:03",
        "2026-01-05T09:03",
        "2026年01月05日 09:03:00",
    ):
        assert parse_time(text) == want
    with pytest.raises(CellError):
        parse_time("昨天")


def test_workbook_numbers_keep_their_digits() -> None:
    assert [xlsx_cell(v) for v in (13812345678, 13812345678.0, 99.9, 0.1 + 0.2, 2.0, None)] == [
        "13812345678",
        "13812345678",
        "99.9",
        "0.3",
        "2",
        None,
    ]


@pytest.mark.parametrize(
    ("address", "region"),
    [
        ("浙江省 杭州市 西湖区 文三路88号", ("浙江省", "杭州市")),
        ("浙江杭州市西湖区文三路88号", ("浙江省", "杭州市")),
        ("北京 北京市 朝阳区 三里屯", ("北京市", "北京市")),
        ("上海浦东新区世纪大道1号", ("上海市", "上海市")),
        ("广西南宁市青秀区", ("广西壮族自治区", "南宁市")),
        ("湖北省恩施土家族苗族自治州恩施市", ("湖北省", "恩施土家族苗族自治州")),
        ("火星基地1号", (None, None)),
    ],
)
def test_region_from_address(address: str, region: tuple[str | None, str | None]) -> None:
    assert region_of(address) == region


@pytest.mark.parametrize(
    ("encoding", "found"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030")],
)
def test_encoding_is_detected(tmp_path: Path, encoding: str, found: str) -> None:
    path = write_csv(tmp_path / "f.csv", TMALL_HEADERS, [["1"] * 13] * 3, encoding=encoding)
    info = inspect(path)
    assert (info.format, info.encoding, info.rows_estimate) == ("csv", found, 3)
    with RowReader(path, info) as reader:
        assert reader.headers == TMALL_HEADERS
        assert [n for n, _ in reader.rows()] == [2, 3, 4]


def test_old_xls_and_empty_files_are_clear_errors(tmp_path: Path) -> None:
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 100)
    with pytest.raises(ImportFileError, match=r"\.xls files are not supported"):
        inspect(xls)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ImportFileError, match="no header row"), RowReader(empty, inspect(empty)):
        pass


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_each_layout_is_detected_from_its_own_headers(name: str) -> None:
    layout = LAYOUTS[name]
    assert detect([c.header for c in layout.columns]).name == name
    assert detect([c.header for c in layout.columns if c.required]).name == name


def test_headers_of_no_layout_are_refused() -> None:
    with pytest.raises(UnknownLayout) as caught:
        detect(["订单编号", "金额"])
    assert caught.value.detail["headers"] == ["订单编号", "金额"]
