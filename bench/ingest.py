"""Ingestion throughput: CSV import against the store's own floor, and HTTP batch events.

What is measured against what, in one run on one machine:

- CSV import. A Tmall order export (订单编号, 买家会员名, 买家实际支付金额, 订单创建时间,
  收货人姓名, 联系手机, 收货地址, 宝贝标题, 订单状态; UTF-8 with BOM, one order per row, all rows
  valid, 4 orders per buyer on average) is generated deterministically and imported with
  `siyu.ingest.importers.import_file(layout="tmall")`, the path of `siyu import` (parse, OneID,
  PII encryption, a commit every 1,000 rows with the job's progress). Its rows/s is divided by
  the floor for the whole file on the same store, measured in the same run:
    * SQLite: `csv.reader` over the file into `executemany` of a bare 9-TEXT-column table, one
      transaction, same pragmas as siyu (WAL, synchronous=NORMAL);
    * PostgreSQL: `COPY ... FROM STDIN (FORMAT csv, HEADER)` of the file's bytes into a bare
      9-TEXT-column table.
  Target: import >= 50% of the floor. `--cap store=N` imports only the file's first N rows on
  that store (a stage that would run past ~20 minutes); nothing is extrapolated.
- HTTP. The real app (`siyu.api.create_app` with settings from SIYU_*, over a fresh store of
  the same kind) runs under uvicorn in a subprocess on 127.0.0.1, one worker process by default
  as `siyu serve` runs it. A separate client process (httpx, a few threads, every request body
  serialized before the clock starts) POSTs `/api/v1/events:batch` with 100-event batches;
  a failed batch is re-sent after a short backoff (event ids make that safe), up to 20 times.
  events/s = events confirmed stored / client wall time. Server, client (and PostgreSQL) share
  the machine's 2 cores; the CPU seconds of each are reported. Target: >= 10,000 events/s;
  RudderStack publishes about 1,700 events/s for a 2-core node. Modes (`--modes`):
    * sync: each event resolved by OneID and stored before the 200;
    * async: `Prefer: respond-async` (validated, deduplicated and landed durably before the
      202) with one `siyu worker` resolving the backlog meanwhile on the same 2 cores;
    * accept: the same requests with no worker running (what the API alone takes in and keeps,
      the figure RudderStack's gateway number compares with), then one worker is started and
      the drain of the whole backlog is timed on its own.

    python bench/ingest.py           # 1,000,000 rows, 100,000 HTTP events, SQLite and PostgreSQL
    python bench/ingest.py --quick   # 20,000 rows (import: the first 3,000), 2,000 events
    python bench/ingest.py --cap sqlite=300000,postgresql=200000 --threads 4,1 --workers 1,2
    python bench/ingest.py --stages http --modes accept --workers 2   # HTTP only, no CSV

The last line is `ingest csv_rows_per_s=... floor_rows_per_s=... http_events_per_s=...`, for
the default store (SQLite) and the first HTTP configuration: http_events_per_s is the sync mode,
http_accept_per_s and http_drain_per_s the accept mode.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import multiprocessing as mp
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from _common import (  # noqa: E402
    PRODUCTS,
    TMALL_STATUSES,
    Pace,
    People,
    Postgres,
    Store,
    install_keyring,
    last_line,
    load_average,
    number,
    open_store,
    parse_caps,
    print_table,
    profiled,
    tree_cpu_seconds,
    workdir,
)
from sqlalchemy import func, select  # noqa: E402

from siyu.ingest.importers import import_file  # noqa: E402
from siyu.ingest.models import Event, Order  # noqa: E402

SEED = "siyu-bench-ingest"
TMALL_HEADERS = (
    "订单编号",
    "买家会员名",
    "买家实际支付金额",
    "订单创建时间",
    "收货人姓名",
    "联系手机",
    "收货地址",
    "宝贝标题",
    "订单状态",
)
START = datetime(2025, 1, 1)
BATCH = 100
RETRIES = 20


# ---------------------------------------------------------------- data


def status_for(h: int) -> str:
    pick = h % 100
    for status, weight in TMALL_STATUSES:
        if pick < weight:
            return status
        pick -= weight
    return TMALL_STATUSES[0][0]


def write_tmall_csv(path: Path, rows: int, people: People) -> None:
    """`rows` Tmall order rows from rows/4 buyers, deterministic, in creation-time order."""
    buyers = max(rows // 4, 1)
    step = 365 * 86400 / rows
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(TMALL_HEADERS)
        for i in range(rows):
            h = number(SEED, i, "order")
            pid = h % buyers
            title, price = PRODUCTS[(h >> 20) % len(PRODUCTS)]
            qty = (h >> 24) % 3 + 1
            paid = max(price * qty - ((h >> 28) % 3) * 1000, 100)
            at = START + timedelta(seconds=int(i * step) + (h >> 32) % 60)
            out.writerow(
                (
                    str(3_018_000_000_000_000 + i * 97),
                    people.nick(pid),
                    f"{paid // 100}.{paid % 100:02d}",
                    at.strftime("%Y-%m-%d %H:%M:%S"),
                    people.name(pid),
                    people.phone(pid),
                    people.address(pid),
                    title if qty == 1 else f"{title} x{qty}",
                    status_for(h >> 40),
                )
            )


def head_of(path: Path, rows: int, dest: Path) -> Path:
    """The header and the first `rows` rows of a CSV (a capped stage's own file)."""
    with (
        open(path, encoding="utf-8-sig", newline="") as src,
        open(dest, "w", encoding="utf-8-sig", newline="") as out,
    ):
        csv.writer(out).writerows(itertools.islice(csv.reader(src), rows + 1))
    return dest


# ---------------------------------------------------------------- floors


def sqlite_floor(path: Path, db_path: Path) -> float:
    """Seconds to read the CSV with csv.reader and executemany it into a bare table."""
    con = sqlite3.connect(db_path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    columns = ", ".join(f"c{i} TEXT" for i in range(len(TMALL_HEADERS)))
    con.execute(f"CREATE TABLE floor ({columns})")
    marks = ", ".join("?" * len(TMALL_HEADERS))
    started = time.perf_counter()
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        con.execute("BEGIN")
        con.executemany(f"INSERT INTO floor VALUES ({marks})", reader)
        con.execute("COMMIT")
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def postgres_floor(path: Path, store: Store) -> float:
    """Seconds to COPY the CSV's bytes into a bare table."""
    raw = store.db.engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        columns = ", ".join(f"c{i} TEXT" for i in range(len(TMALL_HEADERS)))
        conn.execute(f"CREATE TABLE floor ({columns})")
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("COPY floor FROM STDIN (FORMAT csv, HEADER true)") as copy,
            open(path, "rb") as fh,
        ):
            while block := fh.read(1 << 20):
                copy.write(block)
        conn.commit()
        return time.perf_counter() - started
    finally:
        raw.close()


# ---------------------------------------------------------------- siyu import


def siyu_import(path: Path, store: Store, rows: int, profile: bool) -> float:
    """Seconds for import_file over the whole file; every row must be stored."""
    pace = Pace(f"{store.kind} import_file", rows)
    started = time.perf_counter()
    with profiled(profile, f"import_file {store.kind}"):
        result = import_file(store.db, store.principal, path, layout="tmall", progress=pace)
    seconds = time.perf_counter() - started
    with store.db.transaction() as session:
        stored = session.scalar(select(func.count()).select_from(Order))
    if result.ok != rows or stored != rows:
        raise SystemExit(f"import stored {stored} of {rows} rows: {result.summary()}")
    return seconds


# ---------------------------------------------------------------- HTTP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def event_batch(
    people: People, buyers: int, run: str, first: int, size: int, mix: str = "distinct"
) -> bytes:
    """One request body: `size` events of a WeChat/Tmall mix, some carrying two identifiers.

    mix "distinct": the people of one batch are all different (i * stride mod buyers, stride
    coprime with buyers >= the batch size); they come back in later batches. mix "repeat": people
    drawn at random, so one batch may name a person twice.
    """
    stride = next(p for p in (7919, 7927, 7933) if buyers % p)
    events = []
    for i in range(first, first + size):
        h = number(SEED, run, i, "event")
        pid = (i * stride) % buyers if mix == "distinct" else h % buyers
        kind = (h >> 32) % 100
        at = START + timedelta(seconds=i * 13)
        event: dict[str, object] = {
            "event_id": f"{run}-{i}",
            "occurred_at": at.isoformat() + "+08:00",
            "properties": {"page": f"/p/{(h >> 40) % 50}", "ref": "moments"},
        }
        if kind < 40:
            event.update(type="view", source="wechat")
            event["identifiers"] = {"wechat_unionid": people.unionid(pid)}
        elif kind < 65:
            event.update(type="sign_in", source="wechat")
            event["identifiers"] = {
                "wechat_unionid": people.unionid(pid),
                "phone": people.phone(pid),
            }
        elif kind < 85:
            event.update(type="click", source="tmall")
            event["identifiers"] = {"taobao_nick": people.nick(pid)}
        else:
            event.update(type="purchase", source="tmall", amount_fen=16900)
            event["identifiers"] = {"taobao_nick": people.nick(pid), "phone": people.phone(pid)}
        events.append(event)
    return json.dumps({"events": events}, ensure_ascii=False).encode()


def http_client(
    base: str,
    key: str,
    events: int,
    threads: int,
    mix: str,
    mode: str,
    ready: mp.Event,
    go: mp.Event,
    out: mp.Queue,
) -> None:
    """Build every body first, then POST them from `threads` threads; report to the parent."""
    people = People(SEED + "-http")
    buyers = max(events // 4, BATCH)
    bodies = [
        event_batch(people, buyers, "ev", first, min(BATCH, events - first), mix)
        for first in range(0, events, BATCH)
    ]
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    if mode in ("async", "accept"):
        headers["prefer"] = "respond-async"
    counter = itertools.count()
    lock = threading.Lock()
    statuses: Counter[int | str] = Counter()
    accepted = [0]

    def work() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=300) as client:
            while True:
                with lock:
                    index = next(counter)
                if index >= len(bodies):
                    return
                # A failed batch is sent again after a short backoff, as an SDK would; event ids
                # make replays safe.
                for attempt in range(RETRIES):
                    if attempt:
                        time.sleep(min(0.01 * 2**attempt, 0.5))
                    try:
                        response = client.post("/api/v1/events:batch", content=bodies[index])
                        status = response.status_code
                    except httpx.HTTPError as exc:
                        status, response = type(exc).__name__, None
                    with lock:
                        statuses[status] += 1
                        if response is not None and status in (200, 202):
                            body = response.json()
                            accepted[0] += body["accepted"] + body["queued"] + body["duplicates"]
                            break

    ready.set()
    go.wait()
    cpu = os.times()
    started = time.perf_counter()
    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    seconds = time.perf_counter() - started
    after = os.times()
    out.put(
        {
            "seconds": seconds,
            "accepted": accepted[0],
            "statuses": dict(statuses),
            "client_cpu": (after.user - cpu.user) + (after.system - cpu.system),
        }
    )


WORKER = (
    "import os; from siyu.core.db import Database; from siyu.worker import Worker; "
    "Worker(Database.from_url(os.environ['SIYU_DATABASE_URL']), idle_sleep=0.05).run()"
)


def run_http(
    store: Store,
    data: Path,
    events: int,
    threads: int,
    workers: int,
    mix: str,
    db_pid: int | None,
    mode: str = "sync",
) -> dict[str, object]:
    """Serve the app on the store, drive it from a client process, check what was stored.

    mode "async" sends `Prefer: respond-async` (202, events queued) with one `siyu worker`
    process resolving the queue meanwhile; it reports the acceptance time (client) and the
    end-to-end time until every event is stored in `event`. Mode "accept" sends the same
    requests with no worker running (what the API alone accepts and keeps durably), then starts
    one and times the drain of the backlog on its own.
    """
    port = free_port()
    env = {
        **os.environ,
        "SIYU_DATA_DIR": str(data),
        "SIYU_DATABASE_URL": store.url,
        "SIYU_MAX_BODY_BYTES": str(8 * 1_048_576),
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "siyu.api:served_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    log = open(data / f"uvicorn-{store.kind}-{workers}w-{threads}t-{mix}.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    worker: subprocess.Popen[bytes] | None = None
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise SystemExit(f"uvicorn exited: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.1)
        if mode in ("async", "accept"):
            # Started (and its imports done) before the clock, as a running `siyu worker` is.
            worker = subprocess.Popen(
                [sys.executable, "-c", WORKER], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        # Warm-up outside the clock: the first request imports and compiles lazily.
        warm = event_batch(People(SEED + "-warm"), BATCH, "warm", 0, BATCH)
        headers = {"authorization": f"Bearer {store.key}", "content-type": "application/json"}
        for _ in range(max(workers, 1) * 2):
            r = httpx.post(f"{base}/api/v1/events:batch", content=warm, headers=headers, timeout=60)
            r.raise_for_status()
        if worker:
            warm_async(base, store)
        if mode == "accept":
            assert worker is not None
            worker.terminate()  # warm, then gone: the API alone takes the requests
            worker.wait(timeout=60)
        ctx = mp.get_context("fork")
        ready, go, out = ctx.Event(), ctx.Event(), ctx.Queue()
        client = ctx.Process(
            target=http_client,
            args=(base, store.key, events, threads, mix, mode, ready, go, out),
        )
        client.start()
        ready.wait()
        server_cpu = tree_cpu_seconds(server.pid)
        db_cpu = tree_cpu_seconds(db_pid) if db_pid else 0.0
        worker_cpu = tree_cpu_seconds(worker.pid) if worker else 0.0
        go.set()
        clock_started = time.perf_counter()
        result = out.get()
        server_cpu = tree_cpu_seconds(server.pid) - server_cpu
        db_cpu = (tree_cpu_seconds(db_pid) if db_pid else 0.0) - db_cpu
        if mode == "accept":
            assert worker is not None
            result["drain_db_cpu"] = tree_cpu_seconds(db_pid) if db_pid else 0.0
            clock_started = time.perf_counter()
            worker = subprocess.Popen(
                [sys.executable, "-c", WORKER], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            worker_cpu = 0.0
        if worker:
            result["e2e_seconds"] = wait_stored(store, events, clock_started)
            worker_cpu = tree_cpu_seconds(worker.pid) - worker_cpu
        if mode == "accept":
            result["drain_db_cpu"] = (tree_cpu_seconds(db_pid) if db_pid else 0.0) - result[
                "drain_db_cpu"
            ]
        client.join()
    finally:
        if worker:
            worker.terminate()
            worker.wait(timeout=60)
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    with store.db.transaction() as session:
        stored = session.scalar(
            select(func.count()).select_from(Event).where(Event.event_id.like("ev-%"))
        )
    result["stored"] = stored
    result["worker_cpu"] = worker_cpu
    result["server_cpu"] = server_cpu
    result["db_cpu"] = db_cpu
    if stored != events or result["accepted"] != events:
        print(f"WARNING http on {store.kind}: stored {stored} of {events}: {result}")
    return result


def http_rows(
    kind: str,
    r: dict[str, object],
    events: int,
    workers: int,
    threads: int,
    mix: str,
    mode: str,
) -> list[tuple[object, ...]]:
    """Table rows of one HTTP run: answered (sync: stored) and, async, stored end to end."""
    cpu = f"cpu s: server {r['server_cpu']:.0f}"
    if r.get("db_cpu"):
        cpu += f" postgres {r['db_cpu']:.0f}"
    if mode == "async":
        cpu += f" worker {r['worker_cpu']:.0f}"
    cpu += f" client {r['client_cpu']:.0f}; responses {r['statuses']}"
    name = f"HTTP events:batch x{BATCH} {mode}, {workers} proc, {threads} client thr, {mix}"
    seconds = float(r["seconds"])  # type: ignore[arg-type]
    stored = int(r["stored"])  # type: ignore[call-overload]
    answered = "stored" if mode == "sync" else "queued (202)"
    rate = stored / seconds
    rows: list[tuple[object, ...]] = [
        (kind, f"{name}: {answered}", events, seconds, rate, f"{rate / 10_000:.4f}", cpu)
    ]
    if mode != "sync":
        e2e = float(r["e2e_seconds"])  # type: ignore[arg-type]
        what = "stored end to end" if mode == "async" else "backlog drained by 1 worker"
        note = f"{stored / e2e / 1700:.2f}x RudderStack"
        if mode == "accept":
            note = f"cpu s: worker {r['worker_cpu']:.0f}"
            if r.get("drain_db_cpu"):
                note += f" postgres {r['drain_db_cpu']:.0f}"
        rows.append(
            (
                kind,
                f"{name}: {what}",
                events,
                e2e,
                stored / e2e,
                f"{stored / e2e / 10_000:.4f}",
                note,
            )
        )
    return rows


def warm_async(base: str, store: Store) -> None:
    """One async batch through the worker, outside the clock: both are warm afterwards."""
    headers = {
        "authorization": f"Bearer {store.key}",
        "content-type": "application/json",
        "prefer": "respond-async",
    }
    body = event_batch(People(SEED + "-warm-async"), BATCH, "warm-async", 0, BATCH)
    httpx.post(f"{base}/api/v1/events:batch", content=body, headers=headers, timeout=60)
    for _ in range(600):
        with store.db.transaction() as session:
            stored = session.scalar(
                select(func.count()).select_from(Event).where(Event.event_id.like("warm-async-%"))
            )
        if stored >= BATCH:
            return
        time.sleep(0.1)


def wait_stored(store: Store, events: int, started: float, limit: float = 1200) -> float:
    """Seconds from the clock's start until all `events` are in `event` (async mode)."""
    while time.perf_counter() - started < limit:
        with store.db.transaction() as session:
            stored = session.scalar(
                select(func.count()).select_from(Event).where(Event.event_id.like("ev-%"))
            )
        if stored >= events:
            break
        time.sleep(0.1)
    return time.perf_counter() - started


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="20,000 rows (import: first 3,000), 2,000 events"
    )
    parser.add_argument("--rows", type=int, help="CSV rows (default 1,000,000)")
    parser.add_argument(
        "--cap",
        help="import only the file's first N rows on a store, e.g. postgresql=300000 "
        "(the floor still loads the whole file)",
    )
    parser.add_argument("--http-events", type=int, help="HTTP events (default 100,000)")
    parser.add_argument(
        "--threads", default="4", help="client threads; a list runs each (the first is reported)"
    )
    parser.add_argument("--workers", default="1", help="uvicorn worker processes; a list runs each")
    parser.add_argument(
        "--mix", default="distinct", choices=("distinct", "repeat"), help="people per batch"
    )
    parser.add_argument(
        "--modes",
        default="sync,async,accept",
        help="HTTP modes: sync (stored before the answer), async (Prefer: respond-async, a "
        "worker draining meanwhile), accept (respond-async with the worker paused, then its drain)",
    )
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--stages", default="import,http", help="import and/or http")
    parser.add_argument("--profile", action="store_true", help="cProfile the siyu import")
    args = parser.parse_args()

    rows = args.rows or (20_000 if args.quick else 1_000_000)
    caps = parse_caps(args.cap)
    http_events = args.http_events or (2_000 if args.quick else 100_000)
    stores = [s for s in args.stores.split(",") if s]
    stages = set(args.stages.split(","))

    work = workdir("siyu-bench-ingest-")
    install_keyring(work)
    print(f"{os.cpu_count()} CPUs; load average {load_average()}", flush=True)
    pg = Postgres() if "postgresql" in stores else None
    table: list[tuple[object, ...]] = []
    figures: dict[str, float] = {}
    try:
        csv_path = work / "tmall.csv"
        if "import" in stages:
            started = time.perf_counter()
            write_tmall_csv(csv_path, rows, People(SEED))
            print(
                f"generated {rows:,} Tmall rows ({csv_path.stat().st_size / 1e6:,.0f} MB) "
                f"in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
        for kind in stores if "import" in stages else []:
            n = min(caps.get(kind, 3_000 if args.quick else rows), rows)
            path = csv_path if n == rows else head_of(csv_path, n, work / f"tmall-{n}.csv")
            store = open_store(kind, work, pg, f"import_{kind}")
            if kind == "sqlite":
                floor_name = "floor: csv.reader + executemany"
                floor_s = sqlite_floor(csv_path, work / "floor.db")
            else:
                floor_name = "floor: COPY FROM STDIN csv"
                floor_s = postgres_floor(csv_path, store)
            floor_rate = rows / floor_s
            table.append((kind, floor_name, rows, floor_s, floor_rate, "1", ""))
            print(f"{kind} floor: {floor_rate:,.0f} rows/s", flush=True)
            seconds = siyu_import(path, store, n, args.profile)
            rate = n / seconds
            note = "target >= 0.50" + ("" if n == rows else f"; the file's first {n:,} rows")
            table.append(
                (
                    kind,
                    "siyu import_file(tmall)",
                    n,
                    seconds,
                    rate,
                    f"{rate / floor_rate:.4f}",
                    note,
                )
            )
            print(f"{kind} import: {rate:,.0f} rows/s; load {load_average()}", flush=True)
            if kind == "sqlite":
                figures["csv"], figures["floor"] = rate, floor_rate
            store.close()
        configs = [
            (int(w), int(t)) for w in args.workers.split(",") for t in args.threads.split(",")
        ]
        modes = [m for m in args.modes.split(",") if m]
        for kind in stores if "http" in stages else []:
            for (workers, threads), mode in itertools.product(configs, modes):
                store = open_store(kind, work, pg, f"http_{kind}_{workers}_{threads}_{mode}")
                db_pid = pg.pid if pg and kind == "postgresql" else None
                r = run_http(store, work, http_events, threads, workers, args.mix, db_pid, mode)
                table += http_rows(kind, r, http_events, workers, threads, args.mix, mode)
                rate = r["stored"] / r["seconds"]  # type: ignore[operator]
                e2e = r["stored"] / r.get("e2e_seconds", r["seconds"])  # type: ignore[operator]
                print(
                    f"{kind} http {mode} {workers}x{threads}: {rate:,.0f} events/s answered, "
                    f"{e2e:,.0f} events/s stored; load {load_average()}",
                    flush=True,
                )
                if kind == "sqlite" and (workers, threads) == configs[0]:
                    figures[f"http_{mode}"] = rate
                    if mode != "sync":
                        figures[f"http_{mode}_e2e"] = e2e
                store.close()
    finally:
        if pg:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)

    print()
    print("ratio = import rows/s / floor rows/s of the same store; HTTP: events/s / 10,000")
    print_table(("store", "path", "rows", "seconds", "per_s", "ratio", "note"), table)
    last_line(
        "ingest",
        csv_rows_per_s=round(figures.get("csv", 0.0)),
        floor_rows_per_s=round(figures.get("floor", 0.0)),
        http_events_per_s=round(figures.get("http_sync", 0.0)),
        http_async_accept_per_s=round(figures.get("http_async", 0.0)),
        http_async_stored_per_s=round(figures.get("http_async_e2e", 0.0)),
        http_accept_per_s=round(figures.get("http_accept", 0.0)),
        http_drain_per_s=round(figures.get("http_accept_e2e", 0.0)),
    )


if __name__ == "__main__":
    main()
