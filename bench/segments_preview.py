"""Segment preview (the builder's live count) and incremental recompute, on both stores.

Generated deterministically: N customers (100,000 by default), about 3 orders each with a
categorised line, 2 events each, a customer_metrics row each and a manual tag on 10%. Five
segments in the seeds' vocabulary are previewed through `siyu.segments.service.preview` (rule
check + compiled query: count and 10 sample ids). The baseline in the same run is the same count
hand-written as plain SQL over the same store. Then the five are saved and one customer's
incremental recompute of every saved segment and rule tag is timed.

    python bench/segments_preview.py            # 100,000 customers, SQLite and PostgreSQL
    python bench/segments_preview.py --quick    # 20,000 customers, SQLite only
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import bindparam, text  # noqa: E402

from bench._common import (  # noqa: E402
    Postgres,
    Store,
    install_keyring,
    last_line,
    load_average,
    open_store,
    print_table,
    workdir,
)
from siyu.core.clock import SimulatedClock, set_clock  # noqa: E402
from siyu.core.db import UTCDateTime, bulk_insert, reserve_ids, table_of  # noqa: E402
from siyu.customers.models import Customer  # noqa: E402
from siyu.ingest.models import Event, Order, OrderLine  # noqa: E402
from siyu.lifecycle.models import CustomerMetrics  # noqa: E402
from siyu.segments import service  # noqa: E402
from siyu.segments.schemas import SegmentIn  # noqa: E402
from siyu.tags import service as tags  # noqa: E402
from siyu.tags.schemas import TagIn  # noqa: E402

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
CITIES = ("上海", "北京", "广州市", "深圳市", "杭州市", "成都市", "武汉市", "南京市")
CATEGORIES = ("口红", "口红", "口红", "护肤", "护肤", "眼影", "粉底", "香水")
CHANNELS = ("tmall", "jd", "douyin", "youzan", "wechat", "store")
STAGES = ("new", "repeat", "loyal", "dormant_light", "dormant_medium", "dormant_heavy", "lost")
COUNTED = ("paid", "shipped", "completed", "partially_refunded")


def generate(store: Store, n: int, seed: int = 7) -> int:
    """Customers, orders, lines, events and metrics, bulk-inserted in chunks."""
    rng = random.Random(seed)
    ws = store.workspace_id
    with store.db.transaction() as session:
        ids = reserve_ids(session, table_of(Customer), n)
        customers, metrics, orders, lines, events = [], [], [], [], []
        for cid in ids:
            customers.append(
                {
                    "id": cid,
                    "workspace_id": ws,
                    "city": rng.choice(CITIES),
                    "gender": rng.choice("ff fm"),
                    "first_seen_at": NOW - timedelta(days=rng.randint(1, 700)),
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
            spend, last = 0, None
            count = rng.choice((0, 1, 1, 2, 3, 3, 4, 6, 8))
            for k in range(count):
                at = NOW - timedelta(days=rng.randint(0, 720), minutes=rng.randint(0, 1440))
                fen = rng.randint(59, 899) * 100
                orders.append(
                    {
                        "workspace_id": ws,
                        "external_id": f"B{cid}-{k}",
                        "channel": rng.choice(CHANNELS),
                        "customer_id": cid,
                        "status": "completed",
                        "ordered_at": at,
                        "total_fen": fen,
                        "paid_fen": fen,
                        "refunded_fen": 0,
                        "created_at": at,
                    }
                )
                spend, last = spend + fen, max(last or at, at)
            for _ in range(2):
                events.append(
                    {
                        "workspace_id": ws,
                        "event_id": f"E{cid}-{len(events)}",
                        "customer_id": cid,
                        "type": rng.choice(("click", "view", "share", "sign_in")),
                        "source": "bench",
                        "occurred_at": NOW - timedelta(days=rng.randint(0, 90)),
                        "received_at": NOW,
                        "properties": {"campaign": rng.choice(("618", "1111", "daily"))},
                    }
                )
            metrics.append(
                {
                    "workspace_id": ws,
                    "customer_id": cid,
                    "order_count": count,
                    "total_spend_fen": spend,
                    "aov_fen": spend // count if count else 0,
                    "last_order_at": last,
                    "lifecycle_stage": rng.choice(STAGES) if count else "fan",
                    "computed_at": NOW,
                }
            )
        bulk_insert(session, table_of(Customer), customers)
        order_ids = reserve_ids(session, table_of(Order), len(orders))
        for oid, o in zip(order_ids, orders, strict=True):
            o["id"] = oid
            lines.append(
                {
                    "workspace_id": ws,
                    "order_id": oid,
                    "sku": "S",
                    "product": "P",
                    "category": rng.choice(CATEGORIES),
                    "quantity": 1,
                    "unit_price_fen": o["paid_fen"],
                    "amount_fen": o["paid_fen"],
                }
            )
        for chunk in range(0, len(orders), 50_000):
            bulk_insert(session, table_of(Order), orders[chunk : chunk + 50_000])
            bulk_insert(session, table_of(OrderLine), lines[chunk : chunk + 50_000])
        for chunk in range(0, len(events), 50_000):
            bulk_insert(session, table_of(Event), events[chunk : chunk + 50_000])
        bulk_insert(session, table_of(CustomerMetrics), metrics)
        tag = tags.create_tag(session, store.principal, TagIn(name="团长"))
        tags.apply(session, tag, ids[::10], (), "manual")
        tag_id = tag.id
    if store.kind == "postgresql":
        with store.db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return tag_id


def segments(tag_id: int) -> list[tuple[str, dict[str, Any], str]]:
    """(name, rule, hand-written count SQL) of five representative segments."""
    live = "c.workspace_id = :ws AND c.merged_into_id IS NULL"
    return [
        (
            "上海口红爱好者",
            {
                "type": "and",
                "children": [
                    {"type": "attribute", "field": "city", "op": "eq", "value": "上海"},
                    {
                        "type": "order",
                        "categories": ["口红"],
                        "value": 2,
                        "window": {"last_days": 180},
                    },
                ],
            },
            f"SELECT count(*) FROM customer c WHERE {live} AND c.city = '上海' AND c.id IN ("
            "SELECT o.customer_id FROM orders o JOIN order_line l ON l.order_id = o.id "
            "WHERE o.workspace_id = :ws AND o.status IN ('paid','shipped','completed',"
            "'partially_refunded') AND o.ordered_at > :d180 AND o.ordered_at <= :now "
            "AND l.category = '口红' GROUP BY o.customer_id HAVING count(DISTINCT o.id) >= 2)",
        ),
        (
            "沉睡召回",
            {
                "type": "and",
                "children": [
                    {"type": "attribute", "field": "order_count", "op": "gte", "value": 1},
                    {
                        "type": "attribute",
                        "field": "days_since_last_order",
                        "op": "gte",
                        "value": 90,
                    },
                ],
            },
            f"SELECT count(*) FROM customer c JOIN customer_metrics m ON m.customer_id = c.id "
            f"WHERE {live} AND m.order_count >= 1 AND m.last_order_at <= :d90",
        ),
        (
            "高客单用户",
            {"type": "percentile", "field": "aov_fen", "percentile": 80},
            "SELECT count(*) FROM (SELECT m.customer_id, count(*) OVER (ORDER BY m.aov_fen) AS le, "
            "count(*) OVER () AS n FROM customer_metrics m JOIN customer c ON c.id = m.customer_id "
            f"WHERE {live} AND m.order_count > 0) r WHERE 100 * r.le >= 80 * r.n",
        ),
        (
            "618活动点击",
            {
                "type": "event",
                "event_type": "click",
                "properties": {"campaign": "618"},
                "value": 1,
                "window": {"last_days": 30},
            },
            f"SELECT count(*) FROM customer c WHERE {live} AND c.id IN (SELECT e.customer_id "
            "FROM event e WHERE e.workspace_id = :ws AND e.type = 'click' AND e.occurred_at > :d30 "
            "AND e.occurred_at <= :now AND {prop} = '618')",
        ),
        (
            "非团长的休眠客",
            {
                "type": "and",
                "children": [
                    {"type": "tag", "tag_id": tag_id, "has": False},
                    {"type": "lifecycle", "stages": ["dormant_light", "dormant_medium"]},
                ],
            },
            f"SELECT count(*) FROM customer c JOIN customer_metrics m ON m.customer_id = c.id "
            f"WHERE {live} AND m.lifecycle_stage IN ('dormant_light','dormant_medium') AND "
            f"c.id NOT IN (SELECT t.customer_id FROM customer_tag t WHERE t.tag_id = {tag_id})",
        ),
    ]


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    """Median seconds of `repeat` runs, and the last answer."""
    times, answer = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), answer


def bench_store(store: Store, n: int, repeat: int) -> tuple[list[list[Any]], float]:
    """Preview rows for the table, and the median incremental ms."""
    tag_id = generate(store, n)
    prop = (
        "json_extract(e.properties, '$.campaign')"
        if store.kind == "sqlite"
        else "(e.properties ->> 'campaign')"
    )
    params = {
        "ws": store.workspace_id,
        "now": NOW,
        **{f"d{d}": NOW - timedelta(days=d) for d in (30, 90, 180)},
    }
    rows = []
    for name, rule, sql in segments(tag_id):
        sql = sql.replace("{prop}", prop)
        times = [bindparam(k, type_=UTCDateTime()) for k in params if k != "ws" and f":{k}" in sql]
        raw = text(sql).bindparams(*times)
        with store.db.transaction() as session:

            def ours_fn(s: Any = session, r: Any = rule) -> Any:
                return service.preview(s, store.principal, r)

            def floor_fn(s: Any = session, q: Any = raw) -> Any:
                return s.scalar(q, params)

            ours, (count, _) = timed(ours_fn, repeat)
            floor, expected = timed(floor_fn, repeat)
        assert count == expected, (name, count, expected)
        rows.append([store.kind, name, count, ours * 1000, floor * 1000, ours / floor])
    with store.db.transaction() as session:
        for name, rule, _ in segments(tag_id):
            service.create_segment(session, store.principal, SegmentIn(name=name, rule=rule))
    rng = random.Random(3)
    with store.db.transaction() as session:
        first = session.scalar(text("SELECT min(id) FROM customer"))
        samples = []
        for _ in range(repeat * 10):
            one = [first + rng.randrange(n)]
            started = time.perf_counter()
            service.refresh_workspace(session, store.workspace_id, one)
            samples.append(time.perf_counter() - started)
    return rows, statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 customers, SQLite only")
    parser.add_argument("--customers", type=int, default=None)
    args = parser.parse_args()
    n = args.customers or (20_000 if args.quick else 100_000)
    kinds = ["sqlite"] if args.quick else ["sqlite", "postgresql"]
    install_keyring()
    set_clock(SimulatedClock(NOW))
    folder = workdir("siyu-bench-segments-")
    pg = Postgres() if "postgresql" in kinds else None
    table, incremental = [], {}
    try:
        for kind in kinds:
            store = open_store(kind, folder, pg, f"segments_{kind}")
            rows, incremental[kind] = bench_store(store, n, 3 if args.quick else 5)
            table += rows
            store.close()
    finally:
        if pg is not None:
            pg.stop()
    print(f"customers={n:,} load={load_average()}")
    headers = ["store", "segment", "members", "preview_ms", "raw_sql_ms", "ratio"]
    print_table(headers, table)
    for kind, ms in incremental.items():
        print(f"{kind}: incremental recompute of 5 segments for one customer, median {ms:.1f} ms")
    worst = max(r[3] for r in table)
    last_line(
        "segments_preview",
        customers=n,
        max_preview_ms=worst,
        max_ratio=max(r[5] for r in table),
        incremental_ms=max(incremental.values()),
    )


if __name__ == "__main__":
    main()
