"""Streaming readers for CSV (UTF-8, UTF-8 BOM, GBK/GB18030) and XLSX, and cell parsers."""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from siyu.core.errors import ValidationFailed
from siyu.ingest.models import MAX_FEN

Cell = str | datetime | None
BLOCK = 1 << 20
_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"


class ImportFileError(ValidationFailed):
    """The file as a whole cannot be read (encoding, corrupt workbook, no header)."""

    code = "import_file_error"


@dataclass(frozen=True)
class FileInfo:
    """What one pass over the bytes tells: hash, format, encoding and a row estimate."""

    sha256: str
    format: str  # "csv" or "xlsx"
    encoding: str | None
    size: int
    rows_estimate: int | None


def inspect(path: Path) -> FileInfo:
    """Hash the file and, for CSV, find its encoding, in one streaming pass."""
    digest, size, lines = hashlib.sha256(), 0, 0
    with open(path, "rb") as fh:
        head = fh.read(BLOCK)
        if head.startswith(_XLS_MAGIC):
            raise ImportFileError(
                zh="不支持旧版 .xls 文件，请另存为 .xlsx 或 CSV",
                en="Old .xls files are not supported; save as .xlsx or CSV",
            )
        fmt = "xlsx" if head.startswith(_XLSX_MAGIC) else "csv"
        bom = head.startswith(codecs.BOM_UTF8)
        # Try every candidate at once; a decoder is dropped at its first invalid byte.
        decoders: dict[str, codecs.IncrementalDecoder] = {
            "utf-8": codecs.getincrementaldecoder("utf-8")()
        }
        if not bom:
            decoders["gb18030"] = codecs.getincrementaldecoder("gb18030")()
        block = head
        while block:
            digest.update(block)
            size += len(block)
            if fmt == "csv":
                lines += block.count(b"\n")
                if b"\x00" in block:
                    decoders.clear()
                for name, dec in list(decoders.items()):
                    try:
                        dec.decode(block)
                    except UnicodeDecodeError:
                        del decoders[name]
            block = fh.read(BLOCK)
    if fmt == "xlsx":
        return FileInfo(digest.hexdigest(), fmt, None, size, None)
    for name, dec in list(decoders.items()):
        try:
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            del decoders[name]
    if not decoders:
        raise ImportFileError(
            zh="无法识别文件编码：请保存为 UTF-8 或 GBK 编码的 CSV，或 .xlsx",
            en="The file is not UTF-8, GBK or GB18030 text; save it as CSV (UTF-8/GBK) or .xlsx",
        )
    encoding = "utf-8-sig" if bom else next(iter(decoders))
    return FileInfo(digest.hexdigest(), fmt, encoding, size, max(lines - 1, 0))


class RowReader:
    """Header and rows of a CSV or XLSX file, read lazily; use as a context manager."""

    def __init__(self, path: Path, info: FileInfo) -> None:
        self.path = path
        self.info = info
        self._close: Any = None
        self._rows: Iterator[list[Cell]] = iter(())
        self.rows_estimate = info.rows_estimate
        self.headers: list[str] = []

    def __enter__(self) -> RowReader:
        if self.info.format == "xlsx":
            self._rows = self._open_xlsx()
        else:
            self._rows = self._open_csv()
        first = next(self._rows, None)
        if first is None or not any(first):
            self.close()
            raise ImportFileError(zh="文件为空或第一行不是表头", en="The file has no header row")
        self.headers = [
            clean(c) if isinstance(c, str) else "" if c is None else str(c) for c in first
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def rows(self) -> Iterator[tuple[int, list[Cell]]]:
        """(row number in the file, header = 1; cells) for every row after the header."""
        yield from enumerate(self._rows, start=2)

    def _open_csv(self) -> Iterator[list[Cell]]:
        fh = open(self.path, encoding=self.info.encoding, newline="")  # noqa: SIM115
        self._close = fh.close
        first = fh.readline()
        fh.seek(0)
        # Some exports are tab-separated with a .csv name.
        delimiter = "\t" if "\t" in first and "," not in first else ","
        for row in csv.reader(fh, delimiter=delimiter):
            yield [clean(c) for c in row]

    def _open_xlsx(self) -> Iterator[list[Cell]]:
        import openpyxl

        try:
            book = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # zipfile, XML and openpyxl errors all mean "unreadable"
            raise _corrupt(exc) from None
        self._close = book.close
        sheet = book.worksheets[0]
        if hasattr(sheet, "reset_dimensions") and sheet.max_row:
            self.rows_estimate = max(sheet.max_row - 1, 0)
        try:
            for row in sheet.iter_rows(values_only=True):
                yield [xlsx_cell(v) for v in row]
        except (zipfile.BadZipFile, EOFError, KeyError, OSError, ValueError) as exc:
            raise _corrupt(exc) from None
        except Exception as exc:  # a broken sheet XML surfaces as a parser error mid-stream
            raise _corrupt(exc) from None


def _corrupt(exc: Exception) -> ImportFileError:
    return ImportFileError(
        zh=f"无法读取 .xlsx 文件（文件损坏或不完整：{type(exc).__name__}）",
        en=f"Cannot read the .xlsx file; it is corrupt or truncated ({type(exc).__name__})",
    )


def clean(value: str) -> str:
    """Strip spaces, tabs and the ="..." wrapper exports use to keep Excel off long numbers."""
    value = value.strip().strip("\t").strip()
    if value.startswith('="') and value.endswith('"'):
        value = value[2:-1].strip()
    return value


def xlsx_cell(value: object) -> Cell:
    """A workbook cell as text or a datetime; numbers keep their exact digits."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        cents = value * 100
        # Spreadsheet arithmetic leaves noise like 30.000000000000004; whole fen are meant.
        if abs(cents - round(cents)) < 1e-6:
            return str(Decimal(round(cents)) / 100)
        return repr(value)
    return clean(str(value))


class CellError(Exception):
    """A cell's value is wrong; the message is in Chinese and English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


_TOO_MUCH = ("金额超过上限（1亿元）", "amount is above the limit of 100,000,000 yuan")
_MONEY_JUNK = re.compile(r"[¥￥,，\s]|元$")
TWO_PLACES = Decimal("0.01")


def parse_yuan(value: str) -> int:
    """Yuan with up to 2 decimals to whole fen; more decimals, negative or not a number fail."""
    text = _MONEY_JUNK.sub("", value)
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise CellError("不是有效的金额", "not a valid amount") from None
    if not amount.is_finite():
        raise CellError("不是有效的金额", "not a valid amount")
    if amount < 0:
        raise CellError("金额不能为负数", "amount cannot be negative")
    if amount != amount.quantize(TWO_PLACES):
        raise CellError("金额最多两位小数", "amount has more than 2 decimals")
    if amount * 100 > MAX_FEN:
        raise CellError(*_TOO_MUCH)
    return int(amount * 100)


def parse_fen(value: str) -> int:
    """Whole fen, as parse_int, up to the limit."""
    fen = parse_int(value)
    if fen > MAX_FEN:
        raise CellError(*_TOO_MUCH)
    return fen


def parse_int(value: str, *, positive: bool = False) -> int:
    """A whole number (fen or a quantity); '2.0' from a spreadsheet is 2."""
    try:
        number = Decimal(value.replace(",", ""))
    except InvalidOperation:
        raise CellError("不是整数", "not a whole number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise CellError("不是整数", "not a whole number")
    if number < (1 if positive else 0):
        raise CellError(
            "应为正整数" if positive else "不能为负数",
            "must be a positive whole number" if positive else "cannot be negative",
        )
    return int(number)


_ISO_SECONDS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日",
)


def parse_time(value: Cell) -> datetime:
    """A local date-time as exports write it (or a workbook's own datetime)."""
    if isinstance(value, datetime):
        return value
    assert value is not None
    text = value.strip()
    if _ISO_SECONDS.match(text):
        # The common case, parsed in C (strptime costs ~10 µs a cell); same value as format 1.
        return datetime.fromisoformat(text)
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise CellError(
            "不是有效的时间（如 2026-01-05 10:20:30）",
            "not a valid date-time (e.g. 2026-01-05 10:20:30)",
        ) from None


_MUNICIPALITIES = ("北京", "天津", "上海", "重庆")
_PROVINCES = {
    **{m: f"{m}市" for m in _MUNICIPALITIES},
    **{
        p: f"{p}省"
        for p in (
            "河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 "
            "四川 贵州 云南 陕西 甘肃 青海 台湾"
        ).split()
    },
    "内蒙古": "内蒙古自治区",
    "广西": "广西壮族自治区",
    "西藏": "西藏自治区",
    "宁夏": "宁夏回族自治区",
    "新疆": "新疆维吾尔自治区",
    "香港": "香港特别行政区",
    "澳门": "澳门特别行政区",
}
_LONGEST_FIRST = sorted(_PROVINCES, key=len, reverse=True)
_CITY = re.compile(r"^(.+?(?:自治州|地区|盟|市))")


def province_name(value: str) -> str:
    """The full name of a province however it is written: 浙江, 浙江省 → 浙江省."""
    for short in _LONGEST_FIRST:
        if value.startswith(short):
            return _PROVINCES[short]
    return value


@lru_cache(maxsize=1 << 15)
def region_of(address: str) -> tuple[str | None, str | None]:
    """(province, city) from an address like '浙江省 杭州市 西湖区 …' or '浙江杭州市西湖区…'."""
    # Cached: a buyer's address repeats on every order of an export.
    text = address.strip()
    short = next((s for s in _LONGEST_FIRST if text.startswith(s)), None)
    if short is None:
        return None, None
    province = _PROVINCES[short]
    rest = text[len(province) :] if text.startswith(province) else text[len(short) :]
    if short in _MUNICIPALITIES:
        return province, province
    tokens = rest.split()
    match = _CITY.match(tokens[0]) if tokens else None
    return province, match.group(1) if match else None
