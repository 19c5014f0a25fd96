"""OneID at scale: 1,000,000 identity observations resolved by siyu, timed, sized and scored.

What is measured against what, in one run on one machine:

- An observation is one record (an order, an event, a contact) naming a person by the
  identifiers it carries: one `siyu.customers.oneid.Sighting`. People and their records are
  generated deterministically, with the truth kept: Tmall orders (taobao_nick + phone, name,
  address), JD orders (jd_pin + phone), WeChat events (unionid; 30% also a phone from the
  mini-program's phone authorization), WeCom contacts (external_userid + unionid, half with a
  phone), store POS (member_card + phone) and email clicks (email alone). The noise is what
  operators see: 3% of people change phone halfway through the year, 4% of couples share a
  phone on some orders, 0.5% of order phones carry a typo.
- siyu resolves them with `Resolver(session, system_principal(ws)).resolve_many(batch)` in
  batches of 10,000 (the import's chunk), one transaction and one Resolver per batch, on a
  fresh store; `seconds` is
  the time inside those calls and their commits (generation excluded), `peak_mb` the process's
  peak RSS (ru_maxrss) when resolution ends, each store in a fresh process.
- Precision and recall are over record pairs: two records are predicted together when they end
  in the same customer after merges (merged_into_id followed), truly together when they belong
  to the same person; both come from the contingency table of person x customer.
- Against: the targets (under 20 s and 2,048 MB for 1,000,000 observations) and, for scale and
  as a check of the rules, an in-memory reference of the same rules (strong identifiers merge,
  weak ones attach to the oldest owner, nothing persisted), in its own process.

    python bench/oneid.py           # 1,000,000 observations, SQLite and PostgreSQL
    python bench/oneid.py --cap sqlite=300000,postgresql=200000   # as run for BENCHMARKS.md
    python bench/oneid.py --quick   # 10,000 observations

The last line is `oneid observations=... seconds=... peak_mb=... precision=... recall=...`, for
the default store (SQLite).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue
import shutil
import sys
import time
from array import array
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    Pace,
    People,
    Postgres,
    Store,
    install_keyring,
    last_line,
    load_average,
    number,
    open_store_at,
    parse_caps,
    peak_rss_mb,
    print_table,
    profiled,
    store_url,
    workdir,
)
from _floor import write_floor  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

# Registers orders and events as tables that follow a customer through a merge, as in the app.
import siyu.ingest.models  # noqa: E402, F401, I001
from siyu.customers.identifiers import DEFAULT_STRONG  # noqa: E402
from siyu.customers.models import (  # noqa: E402
    Customer,
    Identity,
    MergeRecord,
    MergeSuggestion,
    Observation,
)
from siyu.customers.oneid import Resolver, Sighting  # noqa: E402

SEED = "siyu-bench-oneid"
START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR = 365 * 86400
INCREMENTAL = 200  # single records resolved after the bulk, for the incremental latency


class World:
    """Record i's person and sighting, computed from i alone; persons = observations / 5."""

    def __init__(self, observations: int) -> None:
        self.n = observations
        self.persons = max(observations // 5, 1)
        self.people = People(SEED)

    def channels(self, pid: int) -> tuple[str, ...]:
        p = number(SEED, pid, "profile")
        has = [
            ("tmall", p % 100 < 80),
            ("jd", (p >> 8) % 100 < 30),
            ("wechat", (p >> 16) % 100 < 70),
            ("wecom", (p >> 16) % 100 < 70 and (p >> 24) % 100 < 40),
            ("store", (p >> 32) % 100 < 20),
            ("email", (p >> 40) % 100 < 15),
        ]
        return tuple(c for c, yes in has if yes) or ("tmall",)

    def phone(self, pid: int, i: int, h: int) -> str:
        p = number(SEED, pid, "profile")
        # 3% change phone halfway through the year.
        slot = 1 if (p >> 48) % 100 < 3 and i > self.n // 2 else 0
        owner = pid
        # In 4% of couples (pids 2k, 2k+1) the second uses the first's phone on half the orders.
        if pid % 2 and pid > 0 and number(SEED, pid // 2, "couple") % 100 < 4 and h & 1:
            owner, slot = pid - 1, 0
        phone = self.people.phone(owner, slot)
        if (h >> 40) % 1000 < 5:  # a typo in the last digit
            phone = phone[:-1] + str((int(phone[-1]) + 1) % 10)
        return phone

    def record(self, i: int) -> tuple[int, Sighting]:
        """(true person, sighting) of record i."""
        h = number(SEED, i, "record")
        pid = h % self.persons
        options = self.channels(pid)
        channel = options[(h >> 24) % len(options)]
        at = START + timedelta(seconds=i * YEAR // self.n)
        p = self.people
        attrs: dict[str, str] = {}
        if channel == "tmall":
            ids = [("taobao_nick", p.nick(pid)), ("phone", self.phone(pid, i, h))]
            attrs = {"name": p.name(pid), "address": p.address(pid)}
        elif channel == "jd":
            ids = [("jd_pin", p.jd_pin(pid)), ("phone", self.phone(pid, i, h))]
            attrs = {"name": p.name(pid), "address": p.address(pid)}
        elif channel == "wechat":
            ids = [("wechat_unionid", p.unionid(pid))]
            if (h >> 32) % 100 < 30:
                ids.append(("phone", self.phone(pid, i, h)))
        elif channel == "wecom":
            ids = [
                ("wecom_external_userid", p.external_userid(pid)),
                ("wechat_unionid", p.unionid(pid)),
            ]
            if (h >> 32) % 2:
                ids.append(("phone", self.phone(pid, i, h)))
            attrs = {"name": p.name(pid)}
        elif channel == "store":
            ids = [("member_card", p.member_card(pid)), ("phone", self.phone(pid, i, h))]
        else:
            ids = [("email", p.email(pid))]
        return pid, Sighting(f"{channel}:{i}", ids, channel, at, attrs)

    def batches(self, size: int) -> Iterator[tuple[list[int], list[Sighting]]]:
        for start in range(0, self.n, size):
            pairs = [self.record(i) for i in range(start, min(start + size, self.n))]
            yield [t for t, _ in pairs], [s for _, s in pairs]


def pair_scores(truth: array, predicted: array) -> tuple[float, float, int, int]:
    """Precision and recall over record pairs from the person x customer contingency table."""

    def pairs(counts: Counter) -> int:
        return sum(n * (n - 1) // 2 for n in counts.values())

    both = pairs(Counter(zip(truth, predicted, strict=True)))
    predicted_pairs, true_pairs = pairs(Counter(predicted)), pairs(Counter(truth))
    precision = both / predicted_pairs if predicted_pairs else 1.0
    recall = both / true_pairs if true_pairs else 1.0
    return precision, recall, predicted_pairs, true_pairs


def run_siyu(
    kind: str, url: str, floor_url: str, n: int, batch: int, profile: bool, out: mp.Queue
) -> None:
    """In a fresh process: resolve every observation on a fresh store, score it, then write
    its rows again raw into a fresh store at floor_url (the physical floor)."""
    install_keyring()
    store = open_store_at(kind, url, "oneid")
    world = World(n)
    truth, got = array("q"), array("q")
    timed = 0.0
    rss_before = peak_rss_mb()
    pace = Pace(f"{kind} resolve_many", n)
    with profiled(profile, f"resolve_many {kind}"):
        for people, sightings in world.batches(batch):
            started = time.perf_counter()
            with store.db.transaction() as session:
                resolved = Resolver(session, store.principal).resolve_many(sightings)
            timed += time.perf_counter() - started
            truth.extend(people)
            got.extend(c for c, _ in resolved)
            pace(len(got))
    peak = peak_rss_mb()
    incremental = one_at_a_time(store, world, n)
    with store.db.transaction() as session:
        stmt = select(Customer.id, Customer.merged_into_id).where(
            Customer.merged_into_id.is_not(None)
        )
        merged = {c: m for c, m in session.execute(stmt)}
        counts = {
            name: session.scalar(select(func.count()).select_from(model))
            for name, model in (
                ("customers", Customer),
                ("identities", Identity),
                ("observation_rows", Observation),
                ("merges", MergeRecord),
                ("suggestions", MergeSuggestion),
            )
        }
    final = array("q", (_follow(merged, c) for c in got))
    precision, recall, predicted_pairs, true_pairs = pair_scores(truth, final)
    floor_s, floor_rows = write_floor(
        store.db, open_store_at(kind, floor_url, "floor").db, -(-n // batch)
    )
    out.put(
        {
            "floor_seconds": floor_s,
            "floor_rows": floor_rows,
            "store": kind,
            "observations": n,
            "seconds": timed,
            "peak_mb": peak,
            "rss_before_mb": rss_before,
            "precision": precision,
            "recall": recall,
            "predicted_pairs": predicted_pairs,
            "true_pairs": true_pairs,
            "clusters": len(set(final)),
            "persons": len(set(truth)),
            "incremental_ms": incremental,
            **counts,
        }
    )
    store.close()


def one_at_a_time(store: Store, world: World, n: int) -> tuple[float, float]:
    """Median and p95 ms of resolving one new record in its own transaction, as the API does,
    against the full store: later records of known people (and some new ones)."""
    latencies = []
    for i in range(n, n + INCREMENTAL):
        _, sighting = world.record(i)
        started = time.perf_counter()
        with store.db.transaction() as session:
            Resolver(session, store.principal).resolve(sighting)
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    return latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)]


def _follow(merged: dict[int, int], customer: int) -> int:
    seen = 0
    while customer in merged and seen < 1000:
        customer, seen = merged[customer], seen + 1
    return customer


def run_reference(n: int, out: mp.Queue) -> None:
    """In a fresh process: the same rules in memory (strong merges, weak attaches to oldest)."""
    strong = set(DEFAULT_STRONG)
    world = World(n)
    owner: dict[tuple[str, str], int] = {}
    parent: list[int] = []
    truth, got = array("q"), array("q")

    def find(c: int) -> int:
        root = c
        while parent[root] != root:
            root = parent[root]
        while parent[c] != root:
            parent[c], c = root, parent[c]
        return root

    timed = 0.0
    for people, sightings in world.batches(1000):
        started = time.perf_counter()
        for s in sightings:
            owners = [(t, find(owner[(t, v)])) for t, v in s.identifiers if (t, v) in owner]
            strong_owners = {o for t, o in owners if t in strong}
            weak_owners = {o for t, o in owners if t not in strong}
            if strong_owners:
                target = min(strong_owners)
                for other in strong_owners - {target}:
                    parent[other] = target
            elif weak_owners:
                target = min(weak_owners)
            else:
                target = len(parent)
                parent.append(target)
            for key in s.identifiers:
                owner.setdefault(key, target)
            got.append(target)
        timed += time.perf_counter() - started
        truth.extend(people)
    peak = peak_rss_mb()
    final = array("q", (find(c) for c in got))
    precision, recall, predicted_pairs, true_pairs = pair_scores(truth, final)
    out.put(
        {
            "store": "memory",
            "observations": n,
            "seconds": timed,
            "peak_mb": peak,
            "precision": precision,
            "recall": recall,
            "predicted_pairs": predicted_pairs,
            "true_pairs": true_pairs,
            "clusters": len(set(final)),
            "persons": len(set(truth)),
        }
    )


def in_child(target: object, *args: object) -> dict[str, object]:
    """Run a stage in a freshly spawned interpreter, so its peak RSS is its own."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, out))  # type: ignore[arg-type]
    proc.start()
    while True:
        try:
            result = out.get(timeout=5)
            break
        except queue.Empty:
            if not proc.is_alive():
                raise SystemExit(f"stage failed with exit code {proc.exitcode}") from None
    proc.join()
    return result  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 observations")
    parser.add_argument("--observations", type=int, help="default 1,000,000")
    parser.add_argument(
        "--cap",
        help="fewer observations on a store (its own smaller world), e.g. postgresql=500000",
    )
    parser.add_argument(
        "--batch", type=int, default=10_000, help="sightings per resolve_many (an import chunk)"
    )
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--profile", action="store_true", help="cProfile siyu's resolution")
    args = parser.parse_args()
    n = args.observations or (10_000 if args.quick else 1_000_000)
    caps = parse_caps(args.cap)
    stores = [s for s in args.stores.split(",") if s]
    sizes = {kind: min(caps.get(kind, n), n) for kind in stores}

    print(f"{n:,} observations of {World(n).persons:,} people; load average {load_average()}")
    results = []
    scratch = workdir("siyu-bench-oneid-")
    pg = Postgres() if "postgresql" in stores else None
    try:
        for kind in stores:
            url, floor = (store_url(kind, scratch, pg, name) for name in ("oneid", "floor"))
            r = in_child(run_siyu, kind, url, floor, sizes[kind], args.batch, args.profile)
            results.append(r)
            print(
                f"{kind}: {sizes[kind]:,} in {r['seconds']:.1f} s, peak {r['peak_mb']:.0f} MB, "
                f"precision {r['precision']:.4f} recall {r['recall']:.4f}; "
                f"load {load_average()}",
                flush=True,
            )
    finally:
        if pg:
            pg.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    refs = [in_child(run_reference, size) for size in sorted(set(sizes.values()) | {n})]
    print(f"load average after: {load_average()}")

    print()
    rows = []
    for r in [*results, *refs]:
        label = "in-memory reference (same rules)" if r["store"] == "memory" else "siyu Resolver"
        rows.append(
            (
                str(r["store"]),
                label,
                r["observations"],
                r["seconds"],
                r["observations"] / r["seconds"],  # type: ignore[operator]
                r["seconds"] / 20,  # type: ignore[operator]
                r["seconds"] / r["floor_seconds"] if "floor_seconds" in r else "",  # type: ignore[operator]
                r["peak_mb"],
                r["peak_mb"] / 2048,  # type: ignore[operator]
                f"{r['precision']:.4f}",
                f"{r['recall']:.4f}",
                r["clusters"],
            )
        )
        if "floor_seconds" in r:
            f = r["floor_seconds"]
            floor_row = (r["store"], "physical floor (its rows, raw)", r["observations"], f)
            rows.append((*floor_row, r["observations"] / f, f / 20, 1.0, "", "", "", "", ""))  # type: ignore[operator]
    print_table(
        (
            "store",
            "path",
            "observations",
            "seconds",
            "per_s",
            "s/20s",
            "x floor",
            "peak_mb",
            "mb/2048",
            "precision",
            "recall",
            "customers",
        ),
        rows,
    )
    for r in results:
        extra = ", ".join(
            f"{k}={r[k]:,}"
            for k in (
                "persons",
                "customers",
                "identities",
                "observation_rows",
                "merges",
                "suggestions",
                "true_pairs",
                "predicted_pairs",
            )
        )
        print(f"{r['store']}: {extra}; rss before resolution {r['rss_before_mb']:.0f} MB")
        print(f"{r['store']} floor: {r['floor_rows']:,} rows in {r['floor_seconds']:.2f} s")
        p50, p95 = r["incremental_ms"]  # type: ignore[misc]
        print(
            f"{r['store']} incremental: one new record in its own transaction against the full "
            f"store, {INCREMENTAL} records: median {p50:.1f} ms, p95 {p95:.1f} ms"
        )
    for r in refs:
        print(
            f"reference {r['observations']:,}: true_pairs={r['true_pairs']:,}, "
            f"predicted_pairs={r['predicted_pairs']:,}"
        )
    head = next((r for r in results if r["store"] == "sqlite"), results[0] if results else refs[-1])
    last_line(
        "oneid",
        observations=head["observations"],
        seconds=f"{head['seconds']:.2f}",
        peak_mb=f"{head['peak_mb']:.0f}",
        precision=f"{head['precision']:.4f}",
        recall=f"{head['recall']:.4f}",
        floor_seconds=f"{head.get('floor_seconds', 0):.2f}",
    )


if __name__ == "__main__":
    main()
