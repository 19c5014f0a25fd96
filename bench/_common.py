"""Helpers shared by the benchmark scripts: stores, timing, memory, tables and generated people.

PostgreSQL is started with `tests.pg.TempPostgres` (initdb into a temp dir, unix socket only,
run as the postgres user under root), the same throwaway server the test suite uses; the
repository root is put on sys.path for that import.

People are derived from their number alone (a keyed hash), so every script generates the same
names, phones, nicks and addresses for the same person without holding them in memory.
"""

from __future__ import annotations

import cProfile
import hashlib
import io
import os
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402
from tests.pg import TempPostgres, find_bindir  # noqa: E402

from siyu.core.auth import Principal, system_principal  # noqa: E402
from siyu.core.collector import tune_collector  # noqa: E402
from siyu.core.crypto import Keyring, set_keyring  # noqa: E402
from siyu.core.db import Database, make_engine  # noqa: E402
from siyu.core.migrate import upgrade  # noqa: E402
from siyu.workspaces.service import create_workspace  # noqa: E402

# ---------------------------------------------------------------- measuring


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of another process and its reaped children, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and all its live descendants (uvicorn workers, PG backends)."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    return proc_cpu_seconds(pid) + sum(tree_cpu_seconds(int(k)) for k in kids)


def load_average() -> str:
    """The 1/5/15-minute load averages: other work on the machine skews every figure."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


class Stopwatch:
    """Accumulates the wall time of the blocks it times."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def timing(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - started


@contextmanager
def profiled(enabled: bool, label: str, top: int = 0) -> Iterator[None]:
    """cProfile the block when enabled; print the top functions by own time to stderr."""
    if not enabled:
        yield
        return
    top = top or int(os.environ.get("BENCH_TOP", "25"))
    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        if os.environ.get("BENCH_CALLERS"):
            stats.print_callers(os.environ["BENCH_CALLERS"])
        print(f"--- profile: {label} ---\n{out.getvalue()}", file=sys.stderr)


class Pace:
    """Prints to stderr the rate of each tenth of a long stage, to show whether it slows down."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, max(total, 1)
        self.started = self.last_t = time.perf_counter()
        self.last_n = 0
        self.next = self.total // 10 or 1

    def __call__(self, done: int, _total: int | None = None) -> None:
        if done < self.next:
            return
        t = time.perf_counter()
        rate = (done - self.last_n) / max(t - self.last_t, 1e-9)
        print(
            f"  {self.label}: {done:,}/{self.total:,} in {t - self.started:,.0f} s, "
            f"last tenth {rate:,.0f}/s, load {load_average()}",
            file=sys.stderr,
            flush=True,
        )
        self.last_n, self.last_t = done, t
        while self.next <= done:
            self.next += self.total // 10 or 1


def parse_caps(text: str | None) -> dict[str, int]:
    """--cap postgresql=300000,sqlite=500000 → {store: N}."""
    caps = {}
    for part in (text or "").split(","):
        if part.strip():
            store, _, value = part.partition("=")
            caps[store.strip()] = int(value.replace("_", ""))
    return caps


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain aligned table: text left, numbers right."""

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    print(line(headers))
    print(line(["-" * w for w in widths]))
    for r in cells:
        print(line(r))


def last_line(name: str, **fields: object) -> None:
    """The machine-readable last line: `name key=value ...`."""
    parts = []
    for key, value in fields.items():
        if isinstance(value, float):
            value = f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
        parts.append(f"{key}={value}")
    print(f"{name} {' '.join(parts)}", flush=True)


# ---------------------------------------------------------------- stores


@dataclass
class Store:
    """A migrated store with one workspace in it."""

    kind: str  # "sqlite" or "postgresql"
    url: str
    db: Database
    workspace_id: int
    key: str

    @property
    def principal(self) -> Principal:
        return system_principal(self.workspace_id)

    def close(self) -> None:
        self.db.engine.dispose()


class Postgres:
    """One throwaway PostgreSQL 15 server for the run; fresh databases on demand."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        bindir = find_bindir() or Path("/usr/lib/postgresql/15/bin")
        self.server = TempPostgres(bindir, settings)
        self.server.start()
        self._n = 0

    def fresh_url(self, prefix: str = "bench") -> str:
        """A new empty database's URL."""
        self._n += 1
        name = f"{prefix}_{self._n}"
        admin = make_engine(self.server.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        return self.server.url(name)

    @property
    def pid(self) -> int:
        """The server's process id (its backends are its descendants)."""
        assert self.server.proc is not None
        return self.server.proc.pid

    def stop(self) -> None:
        self.server.stop()


def install_keyring(data_dir: Path | None = None) -> Keyring:
    """A keyring for this process; written to data_dir/keys.json when a server must share it."""
    ring = Keyring.load_or_create(data_dir) if data_dir else Keyring.generate()
    set_keyring(ring)
    return ring


def store_url(kind: str, workdir: Path, pg: Postgres | None, name: str) -> str:
    """Where a fresh store goes: a SQLite file in workdir, or a new PostgreSQL database."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / (name + '.db')}"
    assert pg is not None
    return pg.fresh_url(name)


def open_store_at(kind: str, url: str, name: str) -> Store:
    """Migrate the (empty) store at url and create one workspace in it."""
    # A bench process stands for a siyu process, which tunes its collector the same way.
    tune_collector()
    db = Database.from_url(url)
    upgrade(db.engine)
    with db.transaction() as session:
        workspace, key = create_workspace(session, f"bench-{name}")
        workspace_id = workspace.id
    return Store(kind, url, db, workspace_id, key)


def open_store(kind: str, workdir: Path, pg: Postgres | None, name: str) -> Store:
    """A fresh migrated store with one workspace."""
    return open_store_at(kind, store_url(kind, workdir, pg, name), name)


def workdir(prefix: str) -> Path:
    """A scratch directory for files and SQLite stores."""
    return Path(tempfile.mkdtemp(prefix=prefix))


# ---------------------------------------------------------------- generated people

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁"
)
GIVEN = (
    "婷雪丽静敏燕艳娟霞芳娜秀英华慧巧美玉萍红玲桂兰琳晶欣悦佳怡梦涵诗雨思颖晓璐瑶琪菲"
    "伟强磊军洋勇杰涛明超浩宇"
)
NICK_WORDS = ("小", "爱美妆", "宝宝", "酱", "喵", "的小屋", "lily", "coco", "momo", "yoyo", "_mm")
MOBILE = "138 139 137 136 135 150 151 152 158 159 182 187 188 130 131 132 155 156 185 186".split()
PLACES = (
    ("上海市", "上海市", ("浦东新区", "徐汇区", "静安区"), ("张杨路", "漕溪北路", "南京西路")),
    ("北京市", "北京市", ("朝阳区", "海淀区", "东城区"), ("建国路", "中关村大街", "东直门内大街")),
    ("广东省", "广州市", ("天河区", "越秀区", "海珠区"), ("天河路", "中山五路", "江南大道")),
    ("广东省", "深圳市", ("南山区", "福田区", "宝安区"), ("科技园路", "深南大道", "宝安大道")),
    ("浙江省", "杭州市", ("西湖区", "拱墅区", "滨江区"), ("文三路", "莫干山路", "江南大道")),
    ("江苏省", "南京市", ("鼓楼区", "玄武区", "建邺区"), ("中山北路", "珠江路", "江东中路")),
    ("四川省", "成都市", ("锦江区", "武侯区", "高新区"), ("春熙路", "人民南路", "天府大道")),
    ("湖北省", "武汉市", ("江汉区", "武昌区", "洪山区"), ("解放大道", "中南路", "珞喻路")),
)
ESTATES = ("阳光花园", "锦绣华庭", "万科城", "翠苑", "金色家园", "绿城桂花园", "保利天悦")
PRODUCTS = (
    ("澜蔻 丝绒雾面口红 #316 豆沙色 正品", 16900),
    ("澜蔻 水光唇釉 #05 蜜桃 滋润保湿", 13900),
    ("澜蔻 动物眼影盘 小猫盘 九色哑光珠光", 15900),
    ("澜蔻 持妆粉底液 30ml 象牙白 控油遮瑕", 26900),
    ("澜蔻 玻尿酸保湿精华 30ml 补水修护", 36900),
    ("澜蔻 烟酰胺焕亮面霜 50g 提亮肤色", 32900),
    ("澜蔻 氨基酸洁面乳 120g 温和清洁", 8900),
    ("澜蔻 雕花口红礼盒 七夕限定 送女友", 23900),
)
TMALL_STATUSES = (("交易成功", 80), ("买家已付款", 8), ("卖家已发货", 7), ("交易关闭", 5))


def digest(*parts: object, size: int = 16) -> bytes:
    """A deterministic pseudo-random byte string for the given parts."""
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=size).digest()


def number(*parts: object) -> int:
    """A deterministic pseudo-random 64-bit number for the given parts."""
    return int.from_bytes(digest(*parts, size=8), "big")


class People:
    """Person i's identifiers and attributes, computed on demand from i (and a seed)."""

    def __init__(self, seed: str) -> None:
        self.seed = seed

    def h(self, pid: int, what: str) -> int:
        return number(self.seed, pid, what)

    def name(self, pid: int) -> str:
        h = self.h(pid, "name")
        given = GIVEN[h % len(GIVEN)] + (GIVEN[(h >> 8) % len(GIVEN)] if h & 0x10000 else "")
        return SURNAMES[(h >> 20) % len(SURNAMES)] + given

    def phone(self, pid: int, slot: int = 0) -> str:
        """A unique mobile per (person, slot): the last 8 digits are a bijection of the pair."""
        n = pid * 4 + slot
        suffix = (n * 48271 + 1_234_567) % 100_000_000
        return MOBILE[self.h(pid, f"pfx{slot}") % len(MOBILE)] + f"{suffix:08d}"

    def nick(self, pid: int) -> str:
        h = self.h(pid, "nick")
        return f"{NICK_WORDS[h % len(NICK_WORDS)]}{GIVEN[(h >> 8) % len(GIVEN)]}{pid:x}"

    def unionid(self, pid: int) -> str:
        return "o6_" + digest(self.seed, pid, "union", size=12).hex()

    def openid(self, pid: int) -> str:
        return "wx5f2a:oX" + digest(self.seed, pid, "open", size=10).hex()

    def external_userid(self, pid: int) -> str:
        return "wmAb" + digest(self.seed, pid, "ext", size=12).hex()

    def jd_pin(self, pid: int) -> str:
        return f"jd_{digest(self.seed, pid, 'jd', size=5).hex()}"

    def member_card(self, pid: int) -> str:
        return f"VIP{pid:09d}"

    def email(self, pid: int) -> str:
        return f"u{digest(self.seed, pid, 'mail', size=4).hex()}{pid}@example.com"

    def address(self, pid: int) -> str:
        h = self.h(pid, "addr")
        province, city, districts, roads = PLACES[h % len(PLACES)]
        district = districts[(h >> 8) % len(districts)]
        road = roads[(h >> 16) % len(roads)]
        estate = ESTATES[(h >> 24) % len(ESTATES)]
        return (
            f"{province} {city} {district} {road}{(h >> 32) % 999 + 1}号 "
            f"{estate}{(h >> 42) % 30 + 1}幢{(h >> 50) % 2800 + 101}室"
        )
