"""The segment rule tree: AND / OR / NOT over conditions, validated before anything is saved.

Tags' rules are the same tree. Every value a user types is checked here (type, length, no SQL
punctuation) and later becomes a bound parameter, never SQL text.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from siyu.core.errors import InvalidField
from siyu.ingest.models import CHANNELS, EVENT_TYPES

# Customer fields and computed metrics a rule may name: kind "text", "number" or "days"
# (whole days since an instant, e.g. days_since_last_order).
ATTRIBUTES: dict[str, str] = {
    "city": "text",
    "province": "text",
    "gender": "text",
    "days_since_first_seen": "days",
    "order_count": "number",
    "total_spend_fen": "number",
    "aov_fen": "number",
    "favourite_category": "text",
    "preferred_channel": "text",
    "purchase_cycle_days": "number",
    "days_since_first_order": "days",
    "days_since_last_order": "days",
    "r_score": "number",
    "f_score": "number",
    "m_score": "number",
    "rfm_cell": "text",
    "lifecycle_stage": "text",
    "p_alive": "number",
    "expected_purchases": "number",
    "expected_spend_fen": "number",
    "clv_fen": "number",
}
PERCENTILE_FIELDS = (
    "order_count",
    "total_spend_fen",
    "aov_fen",
    "purchase_cycle_days",
    "clv_fen",
    "expected_spend_fen",
    "p_alive",
)
STAGES = (
    "fan",
    "member",
    "new",
    "repeat",
    "loyal",
    "dormant_light",
    "dormant_medium",
    "dormant_heavy",
    "lost",
)
RFM_CELLS = (
    "important_value",
    "important_develop",
    "important_keep",
    "important_retain",
    "general_value",
    "general_develop",
    "general_keep",
    "general_retain",
)
OPS_BY_KIND = {
    "text": {"eq", "ne", "in", "not_in", "is_null", "not_null"},
    "number": {"eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between"}
    | {"is_null", "not_null"},
    "days": {"eq", "ne", "gt", "gte", "lt", "lte", "between", "is_null", "not_null"},
}
MAX_DEPTH = 8
MAX_NODES = 200
# Quotes, semicolons, backslashes and comment openers have no place in a city or a category.
_UNSAFE = re.compile(r"['\";\\\x00-\x1f]|--|/\*|\*/")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between", "is_null", "not_null"]
CountOp = Literal["eq", "ne", "gt", "gte", "lt", "lte"]
Measure = Literal["count", "sum_amount"]
Text = Annotated[str, Field(min_length=1, max_length=64)]
Scalar = int | float | str


def safe_text(value: str) -> str:
    """Refuse text carrying SQL punctuation or control characters (an injection attempt)."""
    if _UNSAFE.search(value):
        raise ValueError("contains characters not allowed in a value (quotes, ;, \\, --, /*)")
    return value


def _safe_at(field: str, value: str) -> None:
    try:
        safe_text(value)
    except ValueError as exc:
        raise ValueError(f"@{field}: {exc}") from None


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Window(Node):
    """Either the last N days before now, or from a start date to an end date (inclusive)."""

    last_days: int | None = Field(default=None, ge=1, le=3650)
    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Window:
        dated = self.start is not None or self.end is not None
        if self.last_days is not None and dated:
            raise ValueError("give last_days or start/end, not both")
        if self.last_days is None and (self.start is None or self.end is None):
            raise ValueError("give last_days, or both start and end")
        if self.start and self.end and self.start > self.end:
            raise ValueError("start is after end")
        return self


class And(Node):
    type: Literal["and"]
    children: list[Rule] = Field(min_length=1, max_length=50)


class Or(Node):
    type: Literal["or"]
    children: list[Rule] = Field(min_length=1, max_length=50)


class Not(Node):
    type: Literal["not"]
    child: Rule


class Attribute(Node):
    """A customer field or computed metric compared with a value."""

    type: Literal["attribute"]
    field: str
    op: Op
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _check(self) -> Attribute:
        kind = ATTRIBUTES.get(self.field)
        if kind is None:
            raise ValueError(f"@field: unknown attribute {self.field!r}")
        if self.op not in OPS_BY_KIND[kind]:
            raise ValueError(f"@op: operator {self.op} does not apply to {self.field}")
        try:
            _check_value(kind, self.op, self.value)
        except ValueError as exc:
            raise ValueError(f"@value: {exc}") from None
        return self


def _check_value(kind: str, op: str, value: Any) -> None:
    if op in ("is_null", "not_null"):
        if value is not None:
            raise ValueError(f"{op} takes no value")
        return
    if op in ("in", "not_in", "between"):
        if not isinstance(value, list) or not value or len(value) > 100:
            raise ValueError(f"{op} needs a list of 1 to 100 values")
        if op == "between" and (len(value) != 2 or value[0] > value[1]):
            raise ValueError("between needs [low, high] with low <= high")
        items = value
    else:
        items = [value]
    for item in items:
        if kind == "text":
            if not isinstance(item, str) or not 1 <= len(item) <= 64:
                raise ValueError("needs text of 1 to 64 characters")
            safe_text(item)
        elif isinstance(item, bool) or not isinstance(item, int | float):
            raise ValueError("needs a number")
        elif kind == "days" and not isinstance(item, int):
            raise ValueError("needs a whole number of days")


class Percentile(Node):
    """A metric at or above (gte) or below (lt) the workspace's p-th percentile among buyers."""

    type: Literal["percentile"]
    field: str
    percentile: int = Field(ge=1, le=99)
    op: Literal["gte", "lt"] = "gte"

    @model_validator(mode="after")
    def _check(self) -> Percentile:
        if self.field not in PERCENTILE_FIELDS:
            raise ValueError(f"@field: no percentile of {self.field!r}")
        return self


class TagRef(Node):
    type: Literal["tag"]
    tag_id: int = Field(ge=1)
    has: bool = True


class SegmentRef(Node):
    type: Literal["segment"]
    segment_id: int = Field(ge=1)
    member: bool = True


class Lifecycle(Node):
    type: Literal["lifecycle"]
    stages: list[Literal[STAGES]] = Field(min_length=1)  # type: ignore[valid-type]


class Rfm(Node):
    type: Literal["rfm"]
    cells: list[Literal[RFM_CELLS]] = Field(min_length=1)  # type: ignore[valid-type]


class Counted(Node):
    """What event and order conditions share: a measure compared with a value in a window."""

    measure: Measure = "count"
    op: CountOp = "gte"
    value: int = Field(default=1, ge=0)
    window: Window | None = None


class EventCond(Counted):
    """Count (or sum of amount) of events of a type, with property filters, in a window."""

    type: Literal["event"]
    event_type: Literal[EVENT_TYPES]  # type: ignore[valid-type]
    name: Text | None = None
    properties: dict[str, Text] = Field(default_factory=dict, max_length=10)

    @model_validator(mode="after")
    def _check(self) -> EventCond:
        for key, value in self.properties.items():
            if not _KEY.match(key):
                raise ValueError(f"@properties: name {key!r} must be letters, digits or _")
            _safe_at("properties", value)
        if self.name:
            _safe_at("name", self.name)
        return self


class OrderCond(Counted):
    """Count (or sum of paid amount) of paid orders matching filters, in a window."""

    type: Literal["order"]
    categories: list[Text] | None = Field(default=None, min_length=1, max_length=50)
    channels: list[Literal[CHANNELS]] | None = Field(default=None, min_length=1)  # type: ignore[valid-type]
    stores: list[Text] | None = Field(default=None, min_length=1, max_length=50)
    touchpoints: list[Text] | None = Field(default=None, min_length=1, max_length=20)
    distributor_ids: list[int] | None = Field(default=None, min_length=1, max_length=100)
    min_amount_fen: int | None = Field(default=None, ge=0)
    max_amount_fen: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check(self) -> OrderCond:
        for field in ("categories", "stores", "touchpoints"):
            for value in getattr(self, field) or ():
                _safe_at(field, value)
        return self


Rule = Annotated[
    And
    | Or
    | Not
    | Attribute
    | Percentile
    | TagRef
    | SegmentRef
    | Lifecycle
    | Rfm
    | EventCond
    | OrderCond,
    Field(discriminator="type"),
]
for _model in (And, Or, Not):
    _model.model_rebuild()
RULE = TypeAdapter(Rule)
TYPES = {"and", "or", "not", "attribute", "percentile", "tag", "segment"} | {
    "lifecycle",
    "rfm",
    "event",
    "order",
}


def error_path(prefix: str, loc: tuple[Any, ...]) -> str:
    """rule.children.2.window from pydantic's loc (the union's tag names are left out)."""
    parts = [prefix]
    previous: Any = None
    for i, part in enumerate(loc):
        tagged = i == 0 or isinstance(previous, int) or previous == "child"
        if not (tagged and part in TYPES):
            parts.append(str(part))
        previous = part
    return ".".join(parts)


def parse_rule(raw: Any, prefix: str = "rule") -> Any:
    """A validated rule tree, or InvalidField naming the first bad path (e.g. rule.child.op)."""
    try:
        rule = RULE.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = error_path(prefix, tuple(first["loc"]))
        message = first["msg"].removeprefix("Value error, ")
        if message.startswith("@"):
            field, _, message = message[1:].partition(": ")
            path = f"{path}.{field}"
        raise InvalidField(path, f"规则无效：{message}", message) from None
    _check_size(rule, prefix)
    return rule


def _check_size(rule: Any, prefix: str) -> None:
    count = 0
    for _node, path, depth in walk(rule, prefix):
        count += 1
        if depth > MAX_DEPTH:
            raise InvalidField(
                path, f"嵌套不能超过{MAX_DEPTH}层", f"nesting deeper than {MAX_DEPTH}"
            )
    if count > MAX_NODES:
        raise InvalidField(
            prefix, f"条件不能超过{MAX_NODES}个", f"more than {MAX_NODES} conditions"
        )


def walk(rule: Any, path: str = "rule", depth: int = 1) -> Any:
    """Every node with its path and depth, parents first."""
    yield rule, path, depth
    if isinstance(rule, And | Or):
        for i, child in enumerate(rule.children):
            yield from walk(child, f"{path}.children.{i}", depth + 1)
    elif isinstance(rule, Not):
        yield from walk(rule.child, f"{path}.child", depth + 1)


def dump(rule: Any) -> dict[str, Any]:
    """The rule as stored (JSON, defaults left out)."""
    return RULE.dump_python(rule, mode="json", exclude_none=True)  # type: ignore[no-any-return]
