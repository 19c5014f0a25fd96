"""RFM for everyone and five segments at scale, siyu vs the same queries hand-written in DuckDB.

World (deterministic, written straight into a freshly migrated store by DuckDB itself so the
set-up is fast): N customers (1,000,000) and 10·N orders (10,000,000) with one categorised line
each over 540 days, channels and statuses mixed, 3% refunded. Then siyu's full lifecycle
refresh fills `customer_metrics` (timed, reported as set-up).

Measured per store (the SQLite default and PostgreSQL), each best of `--repeat` runs:
- siyu: RFM through `siyu.lifecycle.definitions.rfm_sql` on `siyu.analytics.Analytics`, and
  five segments in the seeds' vocabulary through `siyu.segments.portable.render_portable` on the
  same engine (compiled rule -> portable SQL -> DuckDB over the store);
- floor: the same results from hand-written DuckDB SQL over the same attached store, in the same
  run. Results must be identical (checked: member sets and RFM rows).
- incremental: the five segments saved, then for `--events` single customers an event is
  ingested and every saved segment and rule tag is recomputed for that customer alone
  (`siyu.segments.service.refresh_workspace(..., only=[id])`); median and p95 ms.

    python bench/segments.py            # 1,000,000 customers, 10,000,000 orders, both stores
    python bench/segments.py --quick    # 20,000 customers, 200,000 orders, both stores
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402
from sqlalchemy import text  # noqa: E402

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
from siyu.analytics.engine import Analytics, extension_file, libpq_dsn  # noqa: E402
from siyu.core.clock import SimulatedClock, set_clock  # noqa: E402
from siyu.ingest.models import Order, OrderLine  # noqa: E402
from siyu.lifecycle.definitions import rfm_sql  # noqa: E402
from siyu.lifecycle.incremental import refresh_customers  # noqa: E402
from siyu.lifecycle.refresh import refresh_workspace  # noqa: E402
from siyu.lifecycle.schemas import CELLS, RfmSettings  # noqa: E402
from siyu.segments import full  # noqa: E402
from siyu.segments import service as segments  # noqa: E402
from siyu.segments.schemas import SegmentIn  # noqa: E402

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
START = NOW - timedelta(days=540)
CATEGORIES = ("口红", "眼影", "粉底", "护肤", "香水", "唇釉", "面膜", "防晒")
CHANNELS = ("tmall", "jd", "douyin", "youzan", "wechat", "store")
PAID = "('paid', 'shipped', 'completed', 'partially_refunded')"

SEGMENTS: dict[str, dict[str, Any]] = {
    "口红爱好者 lipstick lovers": {
        "type": "order",
        "categories": ["口红"],
        "op": "gte",
        "value": 2,
        "window": {"last_days": 180},
    },
    "高客单 AOV >= p80": {"type": "percentile", "field": "aov_fen", "percentile": 80},
    "重要价值客户": {"type": "rfm", "cells": ["important_value"]},
    "双11天猫 Double 11 on Tmall": {
        "type": "order",
        "channels": ["tmall"],
        "window": {"start": "2025-11-01", "end": "2025-11-11"},
    },
    "沉睡高价值 dormant high value": {
        "type": "and",
        "children": [
            {"type": "lifecycle", "stages": ["dormant_medium", "dormant_heavy"]},
            {"type": "attribute", "field": "total_spend_fen", "op": "gte", "value": 100000},
        ],
    },
}


def floor_sql(ws: int, at: datetime) -> list[tuple[str, list[Any]]]:
    """The five segments hand-written for DuckDB (tables of the attached store `s`)."""
    at = at.replace(tzinfo=None)
    live = f"c.workspace_id = {ws} AND c.merged_into_id IS NULL"
    d11 = (datetime(2025, 10, 31, 16), datetime(2025, 11, 11, 16))  # Asia/Shanghai days in UTC
    return [
        (
            f"SELECT o.customer_id FROM s.orders o JOIN s.order_line l ON l.order_id = o.id "
            f"JOIN s.customer c ON c.id = o.customer_id WHERE {live} AND o.status IN {PAID} "
            "AND l.category = '口红' AND o.ordered_at > ? AND o.ordered_at <= ? "
            "GROUP BY o.customer_id HAVING COUNT(DISTINCT o.id) >= 2",
            [at - timedelta(days=180), at],
        ),
        (
            f"WITH b AS (SELECT m.customer_id, m.aov_fen FROM s.customer_metrics m "
            f"JOIN s.customer c ON c.id = m.customer_id WHERE {live} AND m.order_count > 0), "
            "t AS (SELECT quantile_disc(aov_fen, 0.8) AS p FROM b) "
            "SELECT b.customer_id FROM b, t WHERE b.aov_fen >= t.p",
            [],
        ),
        (
            f"SELECT m.customer_id FROM s.customer_metrics m JOIN s.customer c "
            f"ON c.id = m.customer_id WHERE {live} AND m.rfm_cell = 'important_value'",
            [],
        ),
        (
            f"SELECT DISTINCT o.customer_id FROM s.orders o JOIN s.customer c "
            f"ON c.id = o.customer_id WHERE {live} AND o.status IN {PAID} "
            "AND o.channel = 'tmall' AND o.ordered_at >= ? AND o.ordered_at < ?",
            list(d11),
        ),
        (
            f"SELECT m.customer_id FROM s.customer_metrics m JOIN s.customer c "
            f"ON c.id = m.customer_id WHERE {live} "
            "AND m.lifecycle_stage IN ('dormant_medium', 'dormant_heavy') "
            "AND m.total_spend_fen >= 100000",
            [],
        ),
    ]


def floor_rfm_sql(ws: int, levels: int, high: int) -> str:
    """RFM quintiles (ties share a score) and the eight cells, hand-written for DuckDB."""
    cases = " ".join(
        f"WHEN r {'>=' if r else '<'} {high} AND f {'>=' if f else '<'} {high} "
        f"AND m {'>=' if m else '<'} {high} THEN '{code}'"
        for code, r, f, m in CELLS
    )

    def score(col: str) -> str:
        rank = f"RANK() OVER (ORDER BY {col})"
        return f"CAST(1 + FLOOR({levels}.0 * ({rank} - 1) / COUNT(*) OVER ()) AS INT)"

    return f"""
WITH a AS (
  SELECT o.customer_id, COUNT(*) AS n, SUM(o.paid_fen - o.refunded_fen) AS spend,
         MAX(o.ordered_at) AS last
  FROM s.orders o JOIN s.customer c ON c.id = o.customer_id
  WHERE o.workspace_id = {ws} AND c.merged_into_id IS NULL AND o.status IN {PAID}
    AND o.paid_fen > o.refunded_fen
  GROUP BY o.customer_id
), sc AS (SELECT customer_id, {score("last")} AS r, {score("n")} AS f, {score("spend")} AS m FROM a)
SELECT customer_id, r, f, m, CASE {cases} END FROM sc ORDER BY customer_id"""


def literal(value: str) -> str:
    """A DuckDB string literal."""
    return "'" + value.replace("'", "''") + "'"


def attach(store: Store, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A bare DuckDB connection with the store attached as `s` (the floor's and the loader's).

    Two SQLite libraries in one process must not hold one file at once (POSIX locks are per
    process), so siyu's own connections are closed first.
    """
    store.db.engine.dispose()
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "threads": 2})
    con.execute("SET TimeZone = 'UTC'")
    mode = " READ_ONLY" if read_only else ""
    if store.kind == "sqlite":
        con.execute(f"LOAD '{extension_file('duckdb_extension_sqlite_scanner', 'sqlite_scanner')}'")
        path = store.url.removeprefix("sqlite:///")
        con.execute(f"ATTACH {literal(path)} AS s (TYPE sqlite{',' + mode if mode else ''})")
    else:
        ext = extension_file("duckdb_extension_postgres_scanner", "postgres_scanner")
        con.execute(f"LOAD '{ext}'")
        dsn = libpq_dsn(store.db.engine.url)
        con.execute(f"ATTACH {literal(dsn)} AS s (TYPE postgres{',' + mode if mode else ''})")
    return con


def generate(store: Store, customers: int, orders: int) -> float:
    """Write the world into the store with DuckDB; returns seconds."""
    started = time.perf_counter()
    ws, start = store.workspace_id, START.replace(tzinfo=None)
    as_text = store.kind == "sqlite"  # siyu's SQLite datetimes are 26-character text
    ts = (lambda e: f"strftime({e}, '%Y-%m-%d %H:%M:%S.%f')") if as_text else (lambda e: e)
    con = attach(store, read_only=False)
    now_ = ts(f"TIMESTAMP '{NOW.replace(tzinfo=None)}'")
    seen = ts(f"TIMESTAMP '{start}' + to_seconds(i % 40000000)")
    con.execute(
        f"INSERT INTO s.customer (id, workspace_id, city, gender, first_seen_at, created_at, "
        f"updated_at) SELECT i + 1, {ws}, ['上海市','北京市','广州市','杭州市'][1 + i % 4], "
        f"CASE WHEN i % 5 = 0 THEN 'm' ELSE 'f' END, "
        f"{seen}, {now_}, {now_} "
        f"FROM range({customers}) t(i)"
    )
    # Customer of order k: a hash spreads ~10 orders per customer with a long tail.
    at = f"TIMESTAMP '{start}' + to_seconds((hash(k, 7) % 46656000)::BIGINT)"
    paid = "(1000 + hash(k, 3) % 60000)::BIGINT"
    con.execute(
        f"INSERT INTO s.orders (id, workspace_id, external_id, channel, customer_id, status, "
        f"ordered_at, total_fen, paid_fen, refunded_fen, created_at) "
        f"SELECT k + 1, {ws}, 'B' || k, {list(CHANNELS)}[1 + (hash(k, 5) % 6)::INT], "
        f"1 + (hash(k, 1) % {customers})::BIGINT, "
        f"CASE WHEN hash(k, 9) % 100 < 3 THEN 'refunded' ELSE 'completed' END, {ts(at)}, "
        f"{paid}, {paid}, CASE WHEN hash(k, 9) % 100 < 3 THEN {paid} ELSE 0 END, {now_} "
        f"FROM range({orders}) t(k)"
    )
    con.execute(
        f"INSERT INTO s.order_line (id, workspace_id, order_id, sku, product, category, "
        f"quantity, unit_price_fen, amount_fen, refunded_quantity, refunded_fen) "
        f"SELECT k + 1, {ws}, k + 1, 'SKU' || (hash(k, 11) % 8), 'p', "
        f"{list(CATEGORIES)}[1 + (hash(k, 11) % 8)::INT], 1, {paid}, {paid}, 0, 0 "
        f"FROM range({orders}) t(k)"
    )
    con.close()
    if store.kind == "postgresql":
        with store.db.transaction() as session:
            for table in ("customer", "orders", "order_line"):
                session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT MAX(id) FROM {table}))"
                    )
                )
            # Statistics, as autovacuum would gather them: without them the planner picks
            # nested loops for saving a segment over a just-loaded store.
            session.execute(text("ANALYZE"))
    return time.perf_counter() - started


def best(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Best wall time of `repeat` runs and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def measure(store: Store, repeat: int, events: int) -> dict[str, Any]:
    """RFM, then the five segments' full pass, siyu vs floor; then incremental latency."""
    ws, at = store.workspace_id, NOW.replace(tzinfo=None)
    settings = RfmSettings()
    out: dict[str, Any] = {"store": store.kind, "rows": []}

    def siyu_rfm() -> list[tuple[Any, ...]]:
        with Analytics(store.db) as analytics:
            return analytics.query(*rfm_sql(settings, ws, at))

    def floor_rfm() -> list[tuple[Any, ...]]:
        con = attach(store, read_only=True)
        try:
            return con.execute(floor_rfm_sql(ws, settings.quantiles, settings.high_from)).fetchall()
        finally:
            con.close()

    s_t, s_rows = best(repeat, siyu_rfm)
    f_t, f_rows = best(repeat, floor_rfm)
    assert [tuple(r) for r in s_rows] == [tuple(r) for r in f_rows], "RFM differs from floor"
    out["rows"].append(("RFM (everyone)", len(s_rows), s_t, f_t))
    out["rfm_s"], out["floor_rfm_s"] = s_t, f_t
    started = time.perf_counter()
    with store.db.transaction() as session:
        ids = [
            segments.create_segment(session, store.principal, SegmentIn(name=n, rule=r)).id
            for n, r in SEGMENTS.items()
        ]
    out["create_s"] = time.perf_counter() - started
    note(f"{store.kind}: RFM measured; five segments saved in {out['create_s']:.1f} s")
    passes = []
    for _ in range(repeat):
        with store.db.transaction() as session:
            passes.append(full.refresh_all(store.db, session, ws))
    run = min(passes, key=lambda p: p.seconds["total"])
    floor_total = 0.0
    for (name, _rule), (sql, params), segment_id in zip(
        SEGMENTS.items(), floor_sql(ws, NOW), ids, strict=True
    ):

        def floor_seg(sql: str = sql, params: list[Any] = params) -> set[int]:
            con = attach(store, read_only=True)
            try:
                return {r[0] for r in con.execute(sql, params).fetchall()}
            finally:
                con.close()

        ft, expected = best(repeat, floor_seg)
        with store.db.transaction() as session:
            members = set(segments.member_ids(session, store.principal, segment_id))
        assert members == expected, f"{name}: {len(members)} members vs floor {len(expected)}"
        out["rows"].append((name, len(members), run.seconds[f"segment:{segment_id}"], ft))
        floor_total += ft
    rest = run.seconds["total"] - sum(run.seconds[f"segment:{i}"] for i in ids)
    out["rows"].append(("(engine start-up, thresholds, write-back)", 0, rest, 0.0))
    out["segments_s"], out["floor_segments_s"] = run.seconds["total"], floor_total
    out["changed"] = sum(a + b for p in passes for a, b in p.changes.values())
    note(f"{store.kind}: full passes and floors measured")
    out["incremental_ms"] = incremental(store, events)
    return out


def note(text: str) -> None:
    """Progress on stderr, with the load average."""
    print(f"{text}; load {load_average()}", file=sys.stderr, flush=True)


def new_order(session: Any, store: Store, customer: int, k: int) -> None:
    """An order arrives for the customer an hour ago (a lipstick every other time)."""
    at = NOW - timedelta(hours=1)
    fen = 20_000 + 7_919 * k % 100_000
    order = Order(
        workspace_id=store.workspace_id,
        external_id=f"NEW{k}",
        channel=CHANNELS[k % len(CHANNELS)],
        customer_id=customer,
        status="completed",
        ordered_at=at,
        total_fen=fen,
        paid_fen=fen,
        created_at=at,
    )
    session.add(order)
    session.flush()
    category = CATEGORIES[0] if k % 2 == 0 else CATEGORIES[1 + k % 7]
    session.add(
        OrderLine(
            workspace_id=store.workspace_id,
            order_id=order.id,
            sku="SKU-new",
            product="p",
            category=category,
            quantity=1,
            unit_price_fen=fen,
            amount_fen=fen,
        )
    )
    session.flush()


def incremental(store: Store, events: int) -> tuple[float, float, int]:
    """For each of `events` customers an order arrives (stored, and the lifecycle metrics
    updated, untimed); then the timed part, as the segments' outbox handler runs it: every
    saved segment and rule tag recomputed for that customer alone, changes written.
    Returns median and p95 ms, and how many memberships changed."""
    latencies, changed = [], 0
    for i in range(events):
        customer = 1 + (i * 7919) % 1000
        with store.db.transaction() as session:
            new_order(session, store, customer, i)
            refresh_customers(session, store.workspace_id, [customer])
        with store.db.transaction() as session:
            started = time.perf_counter()
            result = segments.refresh_workspace(session, store.workspace_id, only=[customer])
            latencies.append((time.perf_counter() - started) * 1000)
        changed += sum(a + b for a, b in result.values())
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.95)], changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--customers", type=int)
    parser.add_argument("--orders", type=int)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    customers = args.customers or (20_000 if args.quick else 1_000_000)
    if args.quick:
        args.repeat, args.events = 1, min(args.events, 50)
    orders = args.orders or customers * 10
    install_keyring()
    set_clock(SimulatedClock(NOW))
    scratch = workdir("siyu-bench-segments-")
    kinds = args.stores.split(",")
    pg = Postgres() if "postgresql" in kinds else None
    results = []
    try:
        for kind in kinds:
            store = open_store(kind, scratch, pg, "segments")
            gen = generate(store, customers, orders)
            started = time.perf_counter()
            with store.db.transaction() as session:
                refresh_workspace(store.db, session, store.workspace_id)
            refresh_s = time.perf_counter() - started
            print(
                f"{kind}: generated {customers:,} customers, {orders:,} orders + lines in "
                f"{gen:.1f} s; siyu lifecycle refresh (metrics, RFM, stages, CLV, written back) "
                f"{refresh_s:.1f} s; load {load_average()}",
                file=sys.stderr,
                flush=True,
            )
            result = measure(store, args.repeat, args.events)
            result["refresh_s"] = refresh_s
            results.append(result)
            store.close()
    finally:
        if pg:
            pg.stop()
    rows = [
        (r["store"], name, n, s, f, s / f if f else "-")
        for r in results
        for name, n, s, f in r["rows"]
    ]
    print_table(["store", "computation", "members", "siyu s", "floor s", "ratio"], rows)
    for r in results:
        p50, p95, moved = r["incremental_ms"]
        print(
            f"{r['store']}: full lifecycle refresh {r['refresh_s']:.1f} s; saving the five "
            f"segments {r['create_s']:.1f} s; memberships changed by the timed full passes: "
            f"{r['changed']}; incremental recompute of 5 saved segments for one customer after "
            f"an order: median {p50:.2f} ms, p95 {p95:.2f} ms ({moved} memberships changed)"
        )
    main_store = results[0]
    total = main_store["rfm_s"] + main_store["segments_s"]
    floor = main_store["floor_rfm_s"] + main_store["floor_segments_s"]
    last_line(
        "segments",
        customers=customers,
        orders=orders,
        rfm_s=round(total, 3),
        floor_s=round(floor, 3),
        ratio=round(total / floor, 3),
        incremental_ms=round(main_store["incremental_ms"][0], 3),
    )


if __name__ == "__main__":
    main()
