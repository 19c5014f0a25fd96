"""Fission: attribution and commission for many orders across many distributors, against a floor.

What is measured against what, in one run on one machine, on SQLite and PostgreSQL:

- Data (loaded in bulk, not timed): D distributors (one in five under an upline, one in ten in
  the `core` tier), one share link each, C customers, N paid orders with one line each (a third
  in the 美妆 category); for 60% of the orders the customer opened a random distributor's link a
  day before, 20% name their distributor themselves, the rest have no touch (or a touch older
  than the 7-day window). Three rules: default 10% / 2%, 美妆 12% / 3%, tier core 15% / 3%.
- siyu: `siyu.distribution.ledger.Ledger.run` over every order id (what the
  `orders.stored` reaction runs), in transactions of 50,000 orders, set-based per 5,000:
  last-touch attribution written onto orders and the seller onto customers (UPDATE ... FROM),
  the most specific rule per line (a CASE), level 1 and 2 entries by one INSERT ... SELECT.
- Floor: the same attribution and the same rates as ONE hand-written INSERT ... SELECT into a
  bare 4-column table (a correlated subquery per order for the last touch, CASE for the rules),
  with no writes back to orders or customers. The two must agree on the entry count and the sum.
- Writes alone: the floor's rows INSERTed into commission_entry (siyu's indexes, unique dedupe
  key and foreign keys) plus the same two write-backs, then rolled back: what any
  implementation writing the same rows pays for the writes alone, before computing anything.
- Safety: 400 concurrent reservations (16 threads) against a stock of 100, and 150 concurrent
  joins into 50 three-person groups; oversell = units reserved beyond stock, overfill = seats
  beyond a group's size (both must be 0).

    python bench/fission.py            # 1,000,000 orders, 50,000 distributors
    python bench/fission.py --quick    # 20,000 orders, 2,500 distributors (< 60 s)

The last line is `fission orders=... seconds=... oversell=0 overfill=0` (seconds: siyu on SQLite).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from _common import (  # type: ignore[import-not-found]
    Postgres,
    Store,
    install_keyring,
    last_line,
    load_average,
    open_store,
    print_table,
    workdir,
)
from sqlalchemy import func, select, text

from siyu.catalog import service as catalog
from siyu.catalog.models import Stock
from siyu.catalog.schemas import ProductIn, ReserveIn, SkuIn, SupplierIn
from siyu.core.db import bulk_insert, table_of
from siyu.customers.models import Customer
from siyu.distribution import commissions
from siyu.distribution.ledger import Ledger
from siyu.distribution.models import CommissionEntry, Distributor, ShareLink, ShareVisit
from siyu.distribution.schemas import RuleIn
from siyu.ingest.models import Order, OrderLine
from siyu.promotions.groupbuy import service as groupbuy
from siyu.promotions.groupbuy.models import GroupBuy, GroupMember
from siyu.promotions.groupbuy.schemas import TemplateIn

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CHUNK = 50_000
QUICK = (20_000, 2_500)  # orders, distributors: well inside 60 s on a busy 2-core machine
RULES = (
    ("默认", {}, (10, 2)),
    ("美妆", {"category": "美妆"}, (12, 3)),
    ("core", {"tier": "core"}, (15, 3)),
)


def load(store: Store, orders: int, distributors: int, customers: int, seed: int = 7) -> None:
    """Bulk-load distributors, links, customers, orders, lines, visits and the three rules."""
    started, rng = time.perf_counter(), random.Random(seed)
    ws, t = store.workspace_id, T0
    with store.db.transaction() as s:
        people = [
            {
                "id": d,
                "workspace_id": ws,
                "code": f"D{d}",
                "name": f"店主{d}",
                "distributor_id": d,
                "parent_id": (d % 1000) + 1 if d > 1000 and d % 5 == 0 else None,
                "tier": "core" if d % 10 == 0 else "starter",
                "status": "active",
                "created_at": t,
                "updated_at": t,
            }
            for d in range(1, distributors + 1)
        ]
        bulk_insert(s, table_of(Distributor), people)
        links = [
            {
                "id": d,
                "workspace_id": ws,
                "distributor_id": d,
                "kind": "link",
                "code": f"s{ws}x{d}",
                "visits": 0,
                "created_at": t,
            }
            for d in range(1, distributors + 1)
        ]
        bulk_insert(s, table_of(ShareLink), links)
        for start in range(1, customers + 1, CHUNK):
            bulk_insert(
                s,
                table_of(Customer),
                [
                    {"id": c, "workspace_id": ws, "created_at": t, "updated_at": t}
                    for c in range(start, min(start + CHUNK, customers + 1))
                ],
            )
        for start in range(1, orders + 1, CHUNK):
            rows, lines, visits = [], [], []
            for o in range(start, min(start + CHUNK, orders + 1)):
                customer = rng.randrange(1, customers + 1)
                at = t + timedelta(minutes=o)
                paid = rng.randrange(1000, 50000)
                roll = rng.random()
                named = rng.randrange(1, distributors + 1) if roll < 0.2 else None
                rows.append(
                    {
                        "id": o,
                        "workspace_id": ws,
                        "external_id": f"O{o}",
                        "channel": "wechat",
                        "customer_id": customer,
                        "status": "paid",
                        **dict.fromkeys(("ordered_at", "paid_at", "created_at"), at),
                        "total_fen": paid,
                        "paid_fen": paid,
                        "refunded_fen": 0,
                        "distributor_id": named,
                    }
                )
                lines.append(
                    {
                        "workspace_id": ws,
                        "order_id": o,
                        "sku": f"K{o % 50}",
                        "product": "商品",
                        "category": "美妆" if o % 3 == 0 else "食品",
                        "quantity": 1,
                        "unit_price_fen": paid,
                        "amount_fen": paid,
                        "refunded_quantity": 0,
                        "refunded_fen": 0,
                    }
                )
                if 0.2 <= roll < 0.8 or roll > 0.95:
                    d = rng.randrange(1, distributors + 1)
                    back = timedelta(days=1) if roll < 0.8 else timedelta(days=9)
                    visits.append(
                        {
                            "workspace_id": ws,
                            "link_id": d,
                            "distributor_id": d,
                            "customer_id": customer,
                            "at": at - back,
                        }
                    )
            bulk_insert(s, table_of(Order), rows)
            bulk_insert(s, table_of(OrderLine), lines)
            bulk_insert(s, table_of(ShareVisit), visits)
        for name, where, rates in RULES:
            data = RuleIn(name=name, rates=[Decimal(r) for r in rates], **where)  # type: ignore[arg-type]
            commissions.create_rule(s, store.principal, data)
    if store.kind == "postgresql":
        with store.db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            for table in ("distributor", "share_link", "customer", "orders"):
                top = f"(SELECT max(id) FROM {table})"
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {top})"
                )
            conn.commit()
    took = time.perf_counter() - started
    print(f"{store.kind}: loaded {orders:,} orders in {took:.1f} s", flush=True)


def siyu_run(store: Store, orders: int) -> float:
    """Ledger.run over every order, CHUNK orders per transaction; wall seconds."""
    started = time.perf_counter()
    for start in range(1, orders + 1, CHUNK):
        with store.db.transaction() as s:
            Ledger(s, store.workspace_id).run(range(start, min(start + CHUNK, orders + 1)))
    return time.perf_counter() - started


def floor_sql(kind: str, ws: int) -> str:
    """The same attribution and rates as one INSERT ... SELECT."""
    back = (
        "datetime(o.ordered_at, '-7 days')"
        if kind == "sqlite"
        else "o.ordered_at - interval '7 days'"
    )
    return f"""
    INSERT INTO bench_floor (order_id, distributor_id, level, amount_fen)
    WITH sold AS (
      SELECT o.id, o.paid_fen, l.category,
             COALESCE(o.distributor_id, (
               SELECT v.distributor_id FROM share_visit v
               WHERE v.customer_id = o.customer_id AND v.at >= {back} AND v.at <= o.ordered_at
               ORDER BY v.at DESC LIMIT 1)) AS seller
      FROM orders o JOIN order_line l ON l.order_id = o.id
      WHERE o.workspace_id = {ws}
    ), priced AS (
      SELECT s.id, d.id AS d1, d.parent_id AS d2, s.paid_fen,
             CASE WHEN s.category = '美妆' THEN 1200 WHEN d.tier = 'core' THEN 1500
                  ELSE 1000 END AS r1,
             CASE WHEN s.category = '美妆' THEN 300 WHEN d.tier = 'core' THEN 300
                  ELSE 200 END AS r2
      FROM sold s JOIN distributor d ON d.id = s.seller
    )
    SELECT id, d1, 1, paid_fen * r1 / 10000 FROM priced
    UNION ALL
    SELECT id, d2, 2, paid_fen * r2 / 10000 FROM priced WHERE d2 IS NOT NULL
    """


def floor_run(store: Store) -> tuple[float, int, int]:
    """The floor's wall seconds, entries and total fen."""
    with store.db.engine.connect() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE bench_floor"
            " (order_id BIGINT, distributor_id BIGINT, level INT, amount_fen BIGINT)"
        )
        conn.commit()
        started = time.perf_counter()
        conn.exec_driver_sql(floor_sql(store.kind, store.workspace_id))
        conn.commit()
        seconds = time.perf_counter() - started
        count, total = conn.execute(
            text("SELECT count(*), coalesce(sum(amount_fen), 0) FROM bench_floor")
        ).one()
    return seconds, int(count), int(total)


WRITES = (
    # The floor's rows into siyu's ledger table (its indexes, keys and constraints) ...
    "INSERT INTO commission_entry (workspace_id, distributor_id, order_id, level, kind,"
    " base_fen, amount_fen, status, dedupe, created_at, settle_after)"
    " SELECT {ws}, distributor_id, order_id, level, 'commission', amount_fen, amount_fen,"
    " 'pending', 'commission:' || CAST(order_id AS VARCHAR) || ':' || CAST(level AS VARCHAR),"
    " '2026-01-01 00:00:00.000000', '2026-01-16 00:00:00.000000' FROM bench_floor",
    # ... and the same two write-backs siyu does: the seller onto orders and customers.
    "UPDATE orders SET distributor_id = f.distributor_id FROM bench_floor f"
    " WHERE f.order_id = orders.id AND f.level = 1 AND orders.distributor_id IS NULL",
    "UPDATE customer SET distributor_id = f.seller FROM (SELECT o.customer_id,"
    " min(f.distributor_id) AS seller FROM bench_floor f JOIN orders o ON o.id = f.order_id"
    " WHERE f.level = 1 GROUP BY o.customer_id) f"
    " WHERE customer.id = f.customer_id AND customer.distributor_id IS NULL",
)


def writes_run(store: Store) -> float:
    """Only the writes siyu must do, from the floor's rows; wall seconds, then rolled back."""
    with store.db.engine.connect() as conn:
        started = time.perf_counter()
        for sql in WRITES:
            conn.exec_driver_sql(sql.format(ws=store.workspace_id))
        seconds = time.perf_counter() - started
        conn.rollback()
    return seconds


def siyu_totals(store: Store) -> tuple[int, int]:
    with store.db.transaction() as s:
        count, total = s.execute(
            select(func.count(), func.coalesce(func.sum(CommissionEntry.amount_fen), 0)).where(
                CommissionEntry.workspace_id == store.workspace_id
            )
        ).one()
    return int(count), int(total)


def safety(store: Store) -> tuple[int, int]:
    """Concurrent reservations and joins on real threads: (oversell, overfill)."""
    p, db = store.principal, store.db
    with db.transaction() as s:
        supplier = catalog.create_supplier(s, p, SupplierIn(code="BENCH", name="bench"))
        catalog.create_product(
            s,
            p,
            ProductIn(
                supplier_id=supplier.id,
                name="x",
                category="美妆",
                skus=[
                    SkuIn(code="HOT", name="x", price_fen=100, on_hand=100),
                    SkuIn(code="GRP", name="g", price_fen=100, on_hand=10_000),
                ],
            ),
        )
        tid = groupbuy.create_template(
            s,
            p,
            TemplateIn(
                name="g", sku="GRP", group_size=3, group_price_fen=50, time_limit_minutes=60
            ),
        ).id
        codes = [groupbuy.open_group(s, p, tid, c).code for c in range(1, 51)]

    # A refusal is the expected outcome once stock or seats run out.
    def reserve(i: int) -> None:
        with suppress(catalog.OutOfStock), db.transaction() as s:
            catalog.reserve(s, p, ReserveIn(ref=f"B{i}", sku="HOT", quantity=1))

    def join(i: int) -> None:
        with suppress(groupbuy.GroupFull), db.transaction() as s:
            groupbuy.join(s, p, codes[i % 50], 1000 + i)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(reserve, range(400)))
        list(pool.map(join, range(150)))
    with db.transaction() as s:
        over = s.scalar(
            select(func.coalesce(func.sum(Stock.reserved - Stock.on_hand), 0)).where(
                Stock.workspace_id == store.workspace_id, Stock.reserved > Stock.on_hand
            )
        )
        seats = s.execute(
            select(GroupMember.group_id, func.count())
            .join(GroupBuy, GroupBuy.id == GroupMember.group_id)
            .where(GroupBuy.workspace_id == store.workspace_id)
            .group_by(GroupMember.group_id)
        ).all()
    return int(over or 0), sum(max(0, n - 3) for _, n in seats)


def measure(store: Store, orders: int) -> tuple[list[tuple[Any, ...]], float]:
    """Floor, writes alone and siyu on one loaded store: table rows and siyu's seconds."""
    floor_s, floor_n, floor_fen = floor_run(store)
    writes_s = writes_run(store)
    siyu_s = siyu_run(store, orders)
    n, fen = siyu_totals(store)
    agree = "yes" if (n, fen) == (floor_n, floor_fen) else f"NO ({n}/{fen})"
    kind = store.kind
    print(f"{kind}: siyu {siyu_s:.1f} s, floor {floor_s:.1f} s, writes {writes_s:.1f} s")
    return [
        (kind, "floor: one INSERT ... SELECT", orders, floor_s, floor_n, 1.0, ""),
        (kind, "writes alone (floor's rows)", orders, writes_s, floor_n, writes_s / floor_s, ""),
        (kind, "siyu Ledger.run", orders, siyu_s, n, siyu_s / floor_s, f"agree={agree}"),
    ], siyu_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="{:,} orders, {:,} distributors".format(*QUICK)
    )
    parser.add_argument("--orders", type=int)
    parser.add_argument("--distributors", type=int)
    parser.add_argument("--stores", default="sqlite,postgresql")
    args = parser.parse_args()
    orders = args.orders or (QUICK[0] if args.quick else 1_000_000)
    distributors = args.distributors or (QUICK[1] if args.quick else 50_000)
    customers = max(orders // 5, 1000)
    stores = [s for s in args.stores.split(",") if s]
    work = workdir("siyu-bench-fission-")
    install_keyring(work)
    print(f"{os.cpu_count()} CPUs; load average {load_average()}", flush=True)
    pg = Postgres() if "postgresql" in stores else None
    table: list[tuple[Any, ...]] = []
    seconds = 0.0  # siyu's on the first store
    oversell = overfill = 0
    try:
        for kind in stores:
            store = open_store(kind, work, pg, f"fission_{kind}")
            load(store, orders, distributors, customers)
            rows, siyu_s = measure(store, orders)
            table += rows
            if kind == stores[0]:
                seconds = siyu_s
            o, f = safety(store)
            oversell, overfill = oversell + o, overfill + f
            print(f"{kind}: oversell={o} overfill={f}; load {load_average()}", flush=True)
            store.close()
    finally:
        if pg is not None:
            pg.stop()
    print_table(["store", "method", "orders", "seconds", "entries", "× floor", "note"], table)
    last_line("fission", orders=orders, seconds=seconds, oversell=oversell, overfill=overfill)


if __name__ == "__main__":
    main()
