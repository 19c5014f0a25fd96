"""Compile a rule tree to one SQLAlchemy Core query of customer ids, bound parameters only.

The same query runs on SQLite and PostgreSQL as it is, and renders (SQLGlot) for DuckDB and
Spark. Every leaf is a plain true/false (never NULL), so NOT is the exact complement.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)

from siyu.customers.models import Customer
from siyu.ingest.models import Event, Order, OrderLine
from siyu.lifecycle.models import CustomerMetrics
from siyu.segments import rules
from siyu.segments.models import SegmentMember
from siyu.tags.models import CustomerTag

# Orders that count: paid and not fully refunded or cancelled.
COUNTED_STATUSES = ("paid", "shipped", "completed", "partially_refunded")
CUSTOMER_FIELDS = {"city", "province", "gender"}
DAYS_FIELDS = {
    "days_since_first_seen": (Customer, "first_seen_at"),
    "days_since_first_order": (CustomerMetrics, "first_order_at"),
    "days_since_last_order": (CustomerMetrics, "last_order_at"),
}
# Metrics with a zero default: a customer not yet computed counts as 0, not unknown.
ZERO_DEFAULT = {"order_count", "total_spend_fen", "aov_fen"}
# Bound parameters of a deferred query (compiled once, run for any customers at any instant).
IDS = "siyu_ids"
AGO = "siyu_ago_"
_COMPARE = {
    "eq": lambda c, v: c == v,
    "ne": lambda c, v: c != v,
    "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v,
    "lt": lambda c, v: c < v,
    "lte": lambda c, v: c <= v,
}
_PY_COMPARE = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def compile_rule(
    rule: Any,
    workspace_id: int,
    at: datetime,
    tz: str = "Asia/Shanghai",
    only: list[int] | None = None,
    portable: bool = False,
    thresholds: dict[str, float | None] | None = None,
) -> Select[Any]:
    """Select the ids of live customers of the workspace the rule admits at instant `at`.

    `only` limits the query (and every sub-query) to some customers: incremental recompute.
    `thresholds` (percentile key -> value) replaces ranking everyone by a stored threshold.
    """
    parsed = rule if isinstance(rule, rules.Node) else rules.parse_rule(rule)
    compiler = _Compiler(workspace_id, at, ZoneInfo(tz), only, portable)
    compiler.thresholds = thresholds
    condition = compiler.node(parsed)
    source = _source(compiler)
    stmt = (
        select(Customer.id)
        .select_from(source)
        .where(Customer.workspace_id == workspace_id, Customer.merged_into_id.is_(None), condition)
    )
    return stmt if only is None else stmt.where(Customer.id.in_(only))


def _source(compiler: _Compiler) -> Any:
    """Customers, with their metrics row when a condition reads one."""
    source: Any = Customer.__table__
    if compiler.uses_metrics:
        source = source.outerjoin(
            CustomerMetrics.__table__,
            and_(
                CustomerMetrics.customer_id == Customer.id,
                CustomerMetrics.workspace_id == compiler.ws,
            ),
        )
    return source


class _Compiler:
    def __init__(
        self,
        workspace_id: int,
        at: datetime,
        zone: ZoneInfo,
        only: list[int] | None,
        portable: bool = False,
        deferred: bool = False,
    ) -> None:
        self.ws, self.at, self.zone, self.only = workspace_id, at, zone, only
        self.portable, self.deferred = portable, deferred
        self.thresholds: dict[str, float | None] | None = None
        self.uses_metrics = False
        self.offsets: set[int] = set()

    def _limit(self, column: Any) -> list[ColumnElement[bool]]:
        if self.deferred:
            return [column.in_(bindparam(IDS, expanding=True))]
        return [] if self.only is None else [column.in_(self.only)]

    def _scoped(self, workspace_column: Any, customer_column: Any) -> list[ColumnElement[bool]]:
        """The customers bound, else the workspace: bound ids are all of one workspace, and a
        workspace test beside them lets SQLite's planner read the whole workspace's index."""
        return self._limit(customer_column) or [workspace_column == self.ws]

    def _ago(self, days: int, column: Any) -> Any:
        """The instant `days` days before now: a value, or (deferred) a parameter per run."""
        if not self.deferred:
            return self.at - timedelta(days=days)
        self.offsets.add(days)
        return bindparam(f"{AGO}{days}", type_=column.type)

    def node(self, rule: Any) -> ColumnElement[bool]:
        method = getattr(self, f"_{rule.type}")
        return method(rule)  # type: ignore[no-any-return]

    def _and(self, rule: rules.And) -> ColumnElement[bool]:
        return and_(true(), *(self.node(c) for c in rule.children))

    def _or(self, rule: rules.Or) -> ColumnElement[bool]:
        return or_(false(), *(self.node(c) for c in rule.children))

    def _not(self, rule: rules.Not) -> ColumnElement[bool]:
        return not_(self.node(rule.child))

    def _metric(self, name: str) -> Any:
        self.uses_metrics = True
        column = getattr(CustomerMetrics, name)
        return func.coalesce(column, 0) if name in ZERO_DEFAULT else column

    def _attribute(self, rule: rules.Attribute) -> ColumnElement[bool]:
        if rule.field in DAYS_FIELDS:
            model, name = DAYS_FIELDS[rule.field]
            if model is CustomerMetrics:
                self.uses_metrics = True
            return self._days(getattr(model, name), rule.op, rule.value)
        column = getattr(Customer, rule.field) if rule.field in CUSTOMER_FIELDS else None
        column = self._metric(rule.field) if column is None else column
        if rule.op == "is_null":
            return column.is_(None)  # type: ignore[no-any-return]
        if rule.op == "not_null":
            return column.is_not(None)  # type: ignore[no-any-return]
        if rule.op == "in":
            test = column.in_(rule.value)
        elif rule.op == "not_in":
            test = column.not_in(rule.value)
        elif rule.op == "between":
            low, high = rule.value  # type: ignore[misc,str-unpack]
            test = column.between(low, high)
        else:
            test = _COMPARE[rule.op](column, rule.value)
        # A missing value satisfies no comparison (and NOT of it holds): never NULL.
        return and_(column.is_not(None), test)

    def _days(self, column: Any, op: str, value: Any) -> ColumnElement[bool]:
        """Whole days since an instant, as a range on the instant (so an index can serve)."""
        if op == "is_null":
            return column.is_(None)  # type: ignore[no-any-return]
        if op == "not_null":
            return column.is_not(None)  # type: ignore[no-any-return]

        def ago(days: int) -> Any:
            return self._ago(days, column)

        # floor(days since) >= n  <=>  instant <= at - n days.
        ranges = {
            "gte": lambda n: column <= ago(n),
            "gt": lambda n: column <= ago(n + 1),
            "lte": lambda n: column > ago(n + 1),
            "lt": lambda n: column > ago(n),
            "eq": lambda n: and_(column > ago(n + 1), column <= ago(n)),
        }
        if op == "between":
            low, high = value
            test = and_(column > ago(high + 1), column <= ago(low))
        elif op == "ne":
            test = not_(ranges["eq"](value))
        else:
            test = ranges[op](value)
        return and_(column.is_not(None), test)

    def _percentile(self, rule: rules.Percentile) -> ColumnElement[bool]:
        """Nearest rank: value >= the p-th percentile <=> 100 * #(x <= value) >= p * n."""
        column = getattr(CustomerMetrics, rule.field)
        key = percentile_key(rule.field, rule.percentile)
        if self.thresholds is not None and key in self.thresholds:
            return self._against(rule, column, self.thresholds[key])
        ranked = ranked_buyers(self.ws, rule.field)
        share = literal(100) * ranked.c.at_or_below
        wanted = rule.percentile * ranked.c.population
        test = share >= wanted if rule.op == "gte" else share < wanted
        return Customer.id.in_(select(ranked.c.customer_id).where(test))

    def _against(
        self, rule: rules.Percentile, column: Any, value: float | None
    ) -> ColumnElement[bool]:
        """The same test against the stored p-th value (the k-th smallest, k = ceil(p*n/100))."""
        if value is None:
            return false()
        self.uses_metrics = True
        test = column >= value if rule.op == "gte" else column < value
        return and_(CustomerMetrics.order_count > 0, column.is_not(None), test)

    def _tag(self, rule: rules.TagRef) -> ColumnElement[bool]:
        having = select(CustomerTag.customer_id).where(
            CustomerTag.tag_id == rule.tag_id,
            *self._scoped(CustomerTag.workspace_id, CustomerTag.customer_id),
        )
        return Customer.id.in_(having) if rule.has else Customer.id.not_in(having)

    def _segment(self, rule: rules.SegmentRef) -> ColumnElement[bool]:
        members = select(SegmentMember.customer_id).where(
            SegmentMember.segment_id == rule.segment_id,
            *self._scoped(SegmentMember.workspace_id, SegmentMember.customer_id),
        )
        return Customer.id.in_(members) if rule.member else Customer.id.not_in(members)

    def _lifecycle(self, rule: rules.Lifecycle) -> ColumnElement[bool]:
        column = self._metric("lifecycle_stage")
        return and_(column.is_not(None), column.in_(list(rule.stages)))

    def _rfm(self, rule: rules.Rfm) -> ColumnElement[bool]:
        column = self._metric("rfm_cell")
        return and_(column.is_not(None), column.in_(list(rule.cells)))

    def _window(self, column: Any, window: rules.Window | None) -> list[ColumnElement[bool]]:
        if window is None:
            return [column <= self._ago(0, column)]
        if window.last_days is not None:
            return [column > self._ago(window.last_days, column), column <= self._ago(0, column)]
        assert window.start is not None and window.end is not None
        start = datetime.combine(window.start, datetime.min.time(), self.zone)
        end = datetime.combine(window.end + timedelta(days=1), datetime.min.time(), self.zone)
        return [column >= start, column < end]

    def _counted(self, rule: rules.Counted, grouped: Any, measure: Any) -> ColumnElement[bool]:
        """Customers whose measure passes; when 0 passes, everyone but those failing it."""
        test = _COMPARE[rule.op](measure, rule.value)
        if _PY_COMPARE[rule.op](0, rule.value):
            return Customer.id.not_in(grouped.having(not_(test)))
        return Customer.id.in_(grouped.having(test))

    def _event(self, rule: rules.EventCond) -> ColumnElement[bool]:
        filters = [Event.type == rule.event_type]
        filters += self._scoped(Event.workspace_id, Event.customer_id)
        filters += self._window(Event.occurred_at, rule.window)
        if rule.name is not None:
            filters.append(Event.name == rule.name)
        for key, value in sorted(rule.properties.items()):
            filters.append(self._property(key) == value)
        measure = (
            func.count(Event.id)
            if rule.measure == "count"
            else func.coalesce(func.sum(Event.amount_fen), 0)
        )
        grouped = select(Event.customer_id).where(*filters).group_by(Event.customer_id)
        return self._counted(rule, grouped, measure)

    def _property(self, key: str) -> Any:
        """A property as text: the store's JSON operator, or SQLGlot's portable function."""
        if self.portable:
            return func.json_extract_scalar(Event.properties, bindparam("path", f"$.{key}"))
        return Event.properties[key].as_string()

    def _order(self, rule: rules.OrderCond) -> ColumnElement[bool]:
        filters: list[ColumnElement[bool]] = [Order.status.in_(COUNTED_STATUSES)]
        filters += self._scoped(Order.workspace_id, Order.customer_id)
        filters += self._window(Order.ordered_at, rule.window)
        for values, column in (
            (rule.channels, Order.channel),
            (rule.stores, Order.store),
            (rule.touchpoints, Order.touchpoint),
            (rule.distributor_ids, Order.distributor_id),
        ):
            if values:
                filters.append(column.in_(list(values)))
        net = Order.paid_fen - Order.refunded_fen
        if rule.min_amount_fen is not None:
            filters.append(net >= rule.min_amount_fen)
        if rule.max_amount_fen is not None:
            filters.append(net <= rule.max_amount_fen)
        source: Any = Order.__table__
        amount: Any = net
        if rule.categories:
            source = source.join(OrderLine.__table__, OrderLine.order_id == Order.id)
            filters.append(OrderLine.category.in_(list(rule.categories)))
            amount = OrderLine.amount_fen - OrderLine.refunded_fen
        measure = (
            func.count(Order.id.distinct())
            if rule.measure == "count"
            else func.coalesce(func.sum(amount), 0)
        )
        grouped = (
            select(Order.customer_id)
            .select_from(source)
            .where(*filters)
            .group_by(Order.customer_id)
        )
        return self._counted(rule, grouped, measure)


def compile_flags(
    rules_: list[Any],
    workspace_id: int,
    tz: str,
    thresholds: dict[str, float | None] | None,
) -> tuple[Select[Any], set[int]]:
    """One query for a few customers: id, then one true/false column per rule, for the live
    customers among the expanding parameter `siyu_ids`; instants are the parameters
    `siyu_ago_<days>` (see `deferred_times`), so the query is built and compiled only once."""
    compiler = _Compiler(workspace_id, datetime.min, ZoneInfo(tz), None, deferred=True)
    compiler.thresholds = thresholds
    parsed = [r if isinstance(r, rules.Node) else rules.parse_rule(r) for r in rules_]
    flags = [compiler.node(rule).label(f"f{i}") for i, rule in enumerate(parsed)]
    source = _source(compiler)
    stmt: Any = (
        select(Customer.id, *flags)
        .select_from(source)
        .where(
            Customer.workspace_id == workspace_id,
            Customer.merged_into_id.is_(None),
            Customer.id.in_(bindparam(IDS, expanding=True)),
        )
    )
    return stmt, compiler.offsets


def deferred_times(at: datetime, offsets: Iterable[int]) -> dict[str, datetime]:
    """The instants a deferred query needs, at instant `at`."""
    return {f"{AGO}{days}": at - timedelta(days=days) for days in offsets}


def percentile_key(field: str, percentile: int) -> str:
    """How a stored threshold is named: aov_fen:80."""
    return f"{field}:{percentile}"


def ranked_buyers(workspace_id: int, field: str) -> Any:
    """Live buyers with a value of `field`: customer_id, value, at_or_below (how many have a
    value at most theirs) and population, for nearest-rank percentiles."""
    column = getattr(CustomerMetrics, field)
    return (
        select(
            CustomerMetrics.customer_id.label("customer_id"),
            column.label("value"),
            func.count().over(order_by=column).label("at_or_below"),
            func.count().over().label("population"),
        )
        .join(Customer, Customer.id == CustomerMetrics.customer_id)
        .where(
            CustomerMetrics.workspace_id == workspace_id,
            Customer.merged_into_id.is_(None),
            CustomerMetrics.order_count > 0,
            column.is_not(None),
        )
        .subquery("ranked")
    )


def referenced(rule: Any) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(tag id, path) and (segment id, path) pairs the rule names."""
    tags, segments = [], []
    for node, path, _depth in rules.walk(rule):
        if isinstance(node, rules.TagRef):
            tags.append((node.tag_id, f"{path}.tag_id"))
        elif isinstance(node, rules.SegmentRef):
            segments.append((node.segment_id, f"{path}.segment_id"))
    return tags, segments
