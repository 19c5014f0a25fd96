"""Export layouts operators really have (Tmall, JD, Youzan, Douyin, WeCom), as data.

A layout maps the headers of one platform's export to siyu field names. The field names are
shared with the generic layout (a saved ColumnMapping), so one importer reads them all:

- order fields: external_id, channel, status, ordered_at, paid_at, paid_fen / paid_yuan,
  total_fen / total_yuan, phone, email, name, address, province, city, district, product,
  sku, category, quantity, unit_price_fen / unit_price_yuan, store, touchpoint, kol_id
- contact fields: external_userid-style identifiers, name, phone, staff, added_at, tags, source
- any identifier type from customers/identifiers.py (taobao_nick, jd_pin, wechat_unionid, ...)

Money columns named *_yuan hold yuan with up to 2 decimals; *_fen hold whole fen. Times are the
workspace's local time. `amounts` says whether money columns repeat the order's totals on every
line of a multi-line order ("order") or hold that line's share, to be summed ("line").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from siyu.core.errors import ValidationFailed
from siyu.customers.identifiers import TYPES as IDENTIFIER_TYPES

Kind = Literal["orders", "contacts"]

ORDER_FIELDS = (
    "external_id",
    "channel",
    "status",
    "ordered_at",
    "paid_at",
    "paid_fen",
    "paid_yuan",
    "total_fen",
    "total_yuan",
    "name",
    "address",
    "province",
    "city",
    "district",
    "product",
    "sku",
    "category",
    "quantity",
    "unit_price_fen",
    "unit_price_yuan",
    "store",
    "touchpoint",
    "kol_id",
)
CONTACT_FIELDS = ("name", "staff", "added_at", "tags", "source")
# Fields whose values are personal information: masked in error reports.
PII_FIELDS = frozenset({"phone", "email", "name", "address"})
# Fields whose cells may not be empty when a generic mapping maps them.
REQUIRED_FIELDS = frozenset({"external_id", "ordered_at", "paid_fen", "paid_yuan", "added_at"})


@dataclass(frozen=True)
class Column:
    """One field of a layout, found under any of its header spellings (first = canonical)."""

    field: str
    headers: tuple[str, ...]
    required: bool = True

    @property
    def header(self) -> str:
        return self.headers[0]


@dataclass(frozen=True)
class Layout:
    """One export format: its kind, channel, columns and status words."""

    name: str
    kind: Kind
    channel: str | None
    columns: tuple[Column, ...]
    statuses: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    amounts: Literal["order", "line"] = "order"
    # Touchpoint recorded when a kol_id cell is filled (Douyin 达人 orders).
    kol_touchpoint: str = "kol_comment"
    # A saved mapping names exactly the file's headers, so every one of them must be there.
    strict_headers: bool = False

    def bind(self, headers: Sequence[str]) -> dict[str, tuple[int, str]]:
        """field → (column index, header as in the file); a missing required header is an error."""
        index = {h.strip(): i for i, h in enumerate(headers) if h is not None}
        bound: dict[str, tuple[int, str]] = {}
        missing: list[str] = []
        for col in self.columns:
            hit = next((h for h in col.headers if h in index), None)
            if hit is not None:
                bound[col.field] = (index[hit], hit)
            elif col.required or self.strict_headers:
                missing.append("/".join(col.headers))
        if missing:
            raise MissingColumns(self.name, missing)
        return bound

    def matches(self, headers: Sequence[str]) -> int:
        """How many of this layout's columns a header row has; 0 if a required one is missing."""
        present = {h.strip() for h in headers if h}
        found = 0
        for col in self.columns:
            if any(h in present for h in col.headers):
                found += 1
            elif col.required:
                return 0
        return found


class UnknownLayout(ValidationFailed):
    code = "unknown_layout"

    def __init__(self, headers: Sequence[str]) -> None:
        seen = "、".join(h for h in headers if h)[:500]
        super().__init__(
            zh=f"无法识别文件格式，表头为：{seen}；请用 --layout 指定（{', '.join(LAYOUTS)}）",
            en=f"Unknown file layout; headers seen: {seen}. Name one with --layout "
            f"({', '.join(LAYOUTS)})",
            headers=list(headers),
        )


class MissingColumns(ValidationFailed):
    code = "missing_columns"

    def __init__(self, layout: str, missing: list[str]) -> None:
        super().__init__(
            zh=f"文件缺少 {layout} 格式的必需列：{'、'.join(missing)}",
            en=f"The file lacks columns the {layout} layout requires: {', '.join(missing)}",
            missing=missing,
        )


def _c(fld: str, *headers: str, required: bool = True) -> Column:
    return Column(fld, headers, required)


def _statuses(**groups: tuple[str, ...]) -> Mapping[str, str]:
    return MappingProxyType({word: status for status, words in groups.items() for word in words})


TMALL = Layout(
    name="tmall",
    kind="orders",
    channel="tmall",
    columns=(
        _c("external_id", "订单编号"),
        _c("taobao_nick", "买家会员名"),
        _c("paid_yuan", "买家实际支付金额"),
        _c("total_yuan", "总金额", required=False),
        _c("ordered_at", "订单创建时间"),
        _c("paid_at", "订单付款时间", required=False),
        _c("name", "收货人姓名"),
        _c("phone", "联系手机"),
        _c("address", "收货地址"),
        _c("product", "宝贝标题"),
        _c("sku", "商家编码", required=False),
        _c("quantity", "宝贝总数量", required=False),
        _c("status", "订单状态"),
        _c("store", "店铺名称", required=False),
        _c("category", "商品类目", required=False),
    ),
    statuses=_statuses(
        completed=("交易成功",),
        paid=("买家已付款",),
        shipped=("卖家已发货",),
        cancelled=("交易关闭",),
        created=("等待买家付款",),
    ),
)

JD = Layout(
    name="jd",
    kind="orders",
    channel="jd",
    columns=(
        _c("external_id", "订单号"),
        _c("jd_pin", "下单帐号", "下单账号"),
        _c("product", "商品名称"),
        _c("sku", "商品ID"),
        _c("quantity", "订购数量"),
        _c("unit_price_yuan", "京东价", required=False),
        _c("paid_yuan", "应付金额"),
        _c("total_yuan", "订单金额"),
        _c("ordered_at", "下单时间"),
        _c("status", "订单状态"),
        _c("name", "客户姓名"),
        _c("phone", "联系电话"),
        _c("address", "客户地址"),
        _c("store", "店铺名称", required=False),
        _c("category", "商品类目", required=False),
    ),
    statuses=_statuses(
        completed=("完成", "已完成"),
        paid=("等待出库", "等待收货"),
        cancelled=("已取消", "锁定"),
    ),
)

YOUZAN = Layout(
    name="youzan",
    kind="orders",
    channel="youzan",
    columns=(
        _c("external_id", "订单号"),
        _c("status", "订单状态"),
        _c("youzan_buyer_id", "买家ID", "粉丝昵称"),
        _c("name", "收货人", "提货人", "收货人/提货人"),
        _c("phone", "收货人手机号", "提货人手机号", "收货人手机号/提货人手机号"),
        _c("address", "详细收货地址", "提货地址", "详细收货地址/提货地址"),
        _c("province", "收货人省份", required=False),
        _c("city", "收货人城市", required=False),
        _c("product", "商品名称"),
        _c("sku", "商品编码", "规格编码", required=False),
        _c("quantity", "商品数量"),
        _c("unit_price_yuan", "商品单价"),
        _c("paid_yuan", "订单实付金额"),
        _c("total_yuan", "订单商品总价", required=False),
        _c("ordered_at", "订单创建时间"),
        _c("paid_at", "买家付款时间", required=False),
        _c("wechat_unionid", "微信unionid", "unionid", required=False),
        _c("store", "店铺名称", required=False),
        _c("category", "商品类目", required=False),
    ),
    statuses=_statuses(
        created=("待付款", "等待买家付款"),
        paid=("待发货", "待成团", "等待商家发货", "已付款"),
        shipped=("已发货", "商家已发货", "待收货"),
        completed=("已完成", "交易完成", "交易成功"),
        cancelled=("已关闭", "交易关闭", "已取消"),
        refunded=("已退款",),
    ),
)

DOUYIN = Layout(
    name="douyin",
    kind="orders",
    channel="douyin",
    columns=(
        _c("external_id", "主订单编号"),
        _c("product", "选购商品"),
        _c("sku", "商品ID", required=False),
        _c("quantity", "商品数量"),
        _c("paid_yuan", "订单应付金额"),
        _c("name", "收件人"),
        _c("phone", "收件人手机号"),
        _c("province", "省"),
        _c("city", "市"),
        _c("district", "区"),
        _c("address", "详细地址"),
        _c("status", "订单状态"),
        _c("ordered_at", "订单提交时间"),
        _c("paid_at", "支付完成时间", required=False),
        _c("douyin_buyer_id", "用户ID", "买家ID"),
        _c("kol_id", "达人ID", required=False),
        _c("store", "店铺名称", required=False),
        _c("category", "商品类目", required=False),
    ),
    statuses=_statuses(
        created=("待支付",),
        paid=("待发货", "备货中", "已支付"),
        shipped=("已发货",),
        completed=("已完成",),
        cancelled=("已关闭", "已取消"),
    ),
    # Each Douyin row is a sub-order (子订单) carrying its own amount.
    amounts="line",
)

WECOM_CONTACTS = Layout(
    name="wecom_contacts",
    kind="contacts",
    channel="wecom",
    columns=(
        _c("name", "客户名称"),
        _c("wecom_external_userid", "外部联系人ID", "external_userid"),
        _c("staff", "添加人"),
        _c("added_at", "添加时间"),
        _c("phone", "备注手机号", "手机号", required=False),
        _c("tags", "标签", required=False),
        _c("source", "来源", required=False),
        _c("wechat_unionid", "unionid", required=False),
    ),
)

LAYOUTS: dict[str, Layout] = {
    layout.name: layout for layout in (TMALL, JD, YOUZAN, DOUYIN, WECOM_CONTACTS)
}
GENERIC = "generic"
# Words any generic file may use for a status, beside siyu's own status names.
GENERIC_STATUSES: Mapping[str, str] = MappingProxyType(
    {k: v for layout in LAYOUTS.values() for k, v in layout.statuses.items()}
)


def detect(headers: Sequence[str]) -> Layout:
    """The layout a header row belongs to; the one matching most columns wins."""
    scored = sorted(
        ((layout.matches(headers), layout.name) for layout in LAYOUTS.values()), reverse=True
    )
    best, name = scored[0]
    if best == 0:
        raise UnknownLayout(headers)
    return LAYOUTS[name]


def get_layout(name: str) -> Layout:
    """A named built-in layout; an unknown name is an error listing the known ones."""
    if name not in LAYOUTS:
        raise ValidationFailed(
            zh=f"未知的文件格式 {name}，可选：{', '.join([*LAYOUTS, GENERIC])}",
            en=f"Unknown layout {name}; choose one of {', '.join([*LAYOUTS, GENERIC])}",
        )
    return LAYOUTS[name]


def mapping_fields(kind: Kind) -> frozenset[str]:
    """The field names a generic mapping of this kind may map headers to."""
    base = ORDER_FIELDS if kind == "orders" else CONTACT_FIELDS
    return frozenset(base) | frozenset(IDENTIFIER_TYPES)


def from_mapping(name: str, kind: Kind, columns: Mapping[str, str]) -> Layout:
    """A generic layout from a saved mapping {file header: field, "=field": constant}."""
    # Constants (keys starting with "=") such as "=channel" are applied by the importer.
    cols = tuple(
        Column(fld, (header,), required=fld in REQUIRED_FIELDS)
        for header, fld in columns.items()
        if not header.startswith("=")
    )
    constants = {k[1:]: v for k, v in columns.items() if k.startswith("=")}
    return Layout(
        name=f"{GENERIC}:{name}",
        kind=kind,
        channel=constants.get("channel"),
        columns=cols,
        statuses=GENERIC_STATUSES,
        amounts="order" if constants.get("amounts", "order") == "order" else "line",
        strict_headers=True,
    )
