"""The demo private domain: generated exports and events loaded the way a user loads them.

Platform exports are written as real files into <data dir>/demo/ and imported with the same
importer as `siyu import`; WeCom, mini-program and store events go through ingest_events, the
function behind POST /api/v1/events:batch. OneID resolves everything on the way in, and the
result is scored against the generator's truth.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, system_principal
from siyu.core.clock import now
from siyu.core.db import Database
from siyu.core.statistics import refresh_statistics
from siyu.customers import suggestions
from siyu.customers.models import Customer, MergeRecord, MergeSuggestion
from siyu.demo import truth
from siyu.demo.exports import write_exports, youzan_mapping
from siyu.demo.generator import Dataset, generate
from siyu.ingest import service as ingest
from siyu.ingest.importers import import_file
from siyu.ingest.schemas import ColumnMappingIn
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import Role, User, Workspace

WORKSPACE = "演示美妆品牌"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "siyu-demo-2026"
EVENT_BATCH = 1000  # the most POST /api/v1/events:batch accepts
MANIFEST = "manifest.json"
YOUZAN_MAPPING = "有赞订单(含推广渠道)"
# (channel, label, built-in layout or None for the saved Youzan mapping)
IMPORTS = (
    ("tmall", "import Tmall 天猫", "tmall"),
    ("jd", "import JD 京东", "jd"),
    ("youzan", "import Youzan 有赞", None),
    ("douyin", "import Douyin 抖音", "douyin"),
    ("wecom", "import WeCom 企微客户", "wecom_contacts"),
)
Progress = Callable[[str, int, int | None], None]


@dataclass
class Step:
    """One timed step of the load: what went in, what was kept, refused or already there."""

    name: str
    records: int = 0
    ok: int = 0
    failed: int = 0
    duplicate: int = 0
    seconds: float = 0.0


@dataclass
class DemoSummary:
    """What the demo loaded and how well OneID did; `existing` when it was already loaded."""

    workspace_id: int
    api_key: str | None
    customers: int
    username: str = ADMIN_USER
    password: str = ADMIN_PASSWORD
    existing: bool = False
    persons: int = 0
    records: int = 0
    merges: int = 0
    suggestions: int = 0
    precision: float | None = None
    recall: float | None = None
    recall_if_suggestions_accepted: float | None = None
    unmapped: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)

    def last_line(self) -> str:
        """The machine-readable last line: records, customers, precision and recall."""
        p = f"{self.precision:.4f}" if self.precision is not None else "-"
        r = f"{self.recall:.4f}" if self.recall is not None else "-"
        return f"demo records={self.records} customers={self.customers} precision={p} recall={r}"


@dataclass
class _Run:
    """The parameters of one load, kept in the manifest so an interrupted load resumes."""

    workspace_id: int
    customers: int
    seed: int
    end: str
    status: str = "loading"
    summary: dict[str, object] | None = None


def build(
    db: Database,
    n_customers: int = 300,
    seed: int = 7,
    data_dir: Path | None = None,
    progress: Progress | None = None,
    on_key: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Create (or reuse) the demo workspace and load it; deterministic by seed."""
    # on_key gets the new API key at once, so an interrupted load does not lose it; a re-run
    # of an interrupted load resumes from the manifest (same seed, size and end time).
    folder = data_dir / "demo" if data_dir is not None else None
    run = _read_manifest(folder)
    loaded: int | None = None
    with db.transaction() as session:
        workspace = session.scalars(select(Workspace).where(Workspace.name == WORKSPACE)).first()
        key: str | None = None
        if workspace is not None:
            if run is None or run.workspace_id != workspace.id or run.status == "complete":
                loaded = workspace.id
        else:
            workspace, key = workspaces.create_workspace(session, WORKSPACE)
            user = session.scalars(select(User).where(User.username == ADMIN_USER)).first()
            user = user or workspaces.create_user(session, ADMIN_USER, ADMIN_PASSWORD)
            workspaces.add_member(session, workspace.id, user, Role.admin)
            local = now().astimezone(ZoneInfo(workspace.timezone)).replace(tzinfo=None)
            run = _Run(workspace.id, n_customers, seed, local.isoformat(timespec="seconds"))
    if loaded is not None:
        return _existing(db, loaded, run)
    assert run is not None
    if key and on_key:
        on_key(key)
    _write_manifest(folder, run)
    with _files(folder) as where:
        summary = _load(db, run, where, progress)
    summary.api_key = key
    run.status, run.summary = "complete", asdict(summary) | {"api_key": None}
    _write_manifest(folder, run)
    return summary


@contextmanager
def _files(folder: Path | None) -> Iterator[Path]:
    """The demo folder, or a temporary one when the caller keeps no data directory."""
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="siyu-demo-") as tmp:
        yield Path(tmp)


def _read_manifest(folder: Path | None) -> _Run | None:
    path = folder / MANIFEST if folder is not None else None
    if path is None or not path.exists():
        return None
    return _Run(**json.loads(path.read_text(encoding="utf-8")))


def _write_manifest(folder: Path | None, run: _Run) -> None:
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(asdict(run), ensure_ascii=False, indent=1)
    (folder / MANIFEST).write_text(text, encoding="utf-8")


def _existing(db: Database, workspace_id: int, run: _Run | None) -> DemoSummary:
    """The already-loaded demo: the stored summary with today's customer count."""
    stored = dict(run.summary) if run is not None and run.summary else {}
    stored.pop("steps", None)
    summary = DemoSummary(**stored) if stored else DemoSummary(workspace_id, None, 0)  # type: ignore[arg-type]
    with db.transaction() as session:
        summary.customers = _count_customers(session, workspace_id)
    summary.workspace_id, summary.api_key, summary.existing = workspace_id, None, True
    return summary


def _count_customers(session: Session, workspace_id: int) -> int:
    # Merged customers keep their rows (for undo); only survivors are customers.
    stmt = select(func.count(Customer.id)).where(
        Customer.workspace_id == workspace_id, Customer.merged_into_id.is_(None)
    )
    return int(session.scalar(stmt) or 0)


@contextmanager
def _timed(steps: list[Step], tell: Progress, name: str) -> Iterator[Step]:
    """A step of the load: announced as it starts, timed, appended to steps as it ends."""
    tell(name, 0, None)
    step = Step(name)
    started = time.perf_counter()
    try:
        yield step
    finally:
        step.seconds = time.perf_counter() - started
        steps.append(step)


def _load(db: Database, run: _Run, folder: Path, progress: Progress | None) -> DemoSummary:
    tell = progress or (lambda step, done, total: None)
    principal = system_principal(run.workspace_id)
    steps: list[Step] = []
    with _timed(steps, tell, "generate 生成") as step:
        data = generate(run.customers, run.seed, datetime.fromisoformat(run.end))
        step.records = len(data.persons)
    with _timed(steps, tell, "write files 导出文件") as step:
        files = write_exports(data, folder)
        step.records = sum(rows for _, rows in files.values())
    with db.transaction() as session:
        spec = ColumnMappingIn(
            name=YOUZAN_MAPPING, columns=youzan_mapping(), constants={"channel": "youzan"}
        )
        ingest.save_column_mapping(session, principal, spec)
    for channel, label, layout in IMPORTS:
        path, _ = files[channel]
        with _timed(steps, tell, label) as step:
            result = import_file(
                db,
                principal,
                path,
                layout=layout,
                mapping=None if layout else YOUZAN_MAPPING,
                progress=_relay(tell, label),
            )
            step.records, step.ok, step.failed = result.rows, result.ok, result.failed
            step.duplicate = result.duplicate
    with _timed(steps, tell, "events:batch 事件") as step:
        _send_events(db, principal, data, step, tell)
    with _timed(steps, tell, "suggest 合并建议") as step, db.transaction() as session:
        refresh_statistics(session)
        step.ok = suggestions.generate(session, principal)
    with _timed(steps, tell, "lifecycle RFM/CLV 生命周期") as step:
        from siyu.lifecycle.demo import fill as fill_lifecycle

        step.ok = fill_lifecycle(db, principal)
    with _timed(steps, tell, "tags & segments 标签人群") as step:
        from siyu.segments.demo import install as install_segments

        step.ok = install_segments(db, principal)
    with _timed(steps, tell, "fission 裂变分销") as step:
        from siyu.distribution.demo import install as install_fission

        step.ok = install_fission(db, principal)
    with _timed(steps, tell, "loyalty 会员积分优惠券") as step:
        from siyu.loyalty.demo import seed as seed_loyalty

        step.ok = seed_loyalty(db, principal)
    with _timed(steps, tell, "journeys 旅程SOP 60天") as step:
        from siyu.journeys.demo import run as run_journeys

        step.ok = run_journeys(db, principal, on_day=_relay(tell, step.name))
    with _timed(steps, tell, "score 评估") as step:
        summary = _score(db, run.workspace_id, data)
        step.records = summary.records
    summary.steps = steps
    return summary


def _relay(tell: Progress, step: str) -> Callable[[int, int | None], None]:
    """A step's (done, total) progress (rows imported, days simulated) under its name."""
    return lambda done, total: tell(step, done, total)


def _send_events(
    db: Database, principal: Principal, data: Dataset, step: Step, tell: Progress
) -> None:
    """Every WeCom, mini-program and store event, in time order, 1,000 per call."""
    payloads = [e.payload for e in data.events]
    step.records = len(payloads)
    tell(step.name, 0, len(payloads))
    for start in range(0, len(payloads), EVENT_BATCH):
        batch = payloads[start : start + EVENT_BATCH]
        with db.transaction() as session:
            result = ingest.ingest_events(session, principal, batch)
        step.ok += result.accepted
        step.duplicate += result.duplicates
        step.failed += result.rejected
        tell(step.name, start + len(batch), len(payloads))


def _score(db: Database, workspace_id: int, data: Dataset) -> DemoSummary:
    with db.transaction() as session:
        scored = truth.score(session, workspace_id, data)
        relaxed = truth.score(session, workspace_id, data, accept_suggestions=True)
        merges = session.scalar(
            select(func.count(MergeRecord.id)).where(
                MergeRecord.workspace_id == workspace_id, MergeRecord.undone_at.is_(None)
            )
        )
        pending = session.scalar(
            select(func.count(MergeSuggestion.id)).where(
                MergeSuggestion.workspace_id == workspace_id, MergeSuggestion.status == "pending"
            )
        )
        customers = _count_customers(session, workspace_id)
    by_channel: Counter[str] = Counter(o.channel for o in data.orders)
    by_channel["wecom contacts"] = len(data.contacts)
    by_channel.update(f"{e.payload['source']} events" for e in data.events)
    return DemoSummary(
        workspace_id=workspace_id,
        api_key=None,
        customers=customers,
        persons=len(data.persons),
        records=scored.records,
        merges=int(merges or 0),
        suggestions=int(pending or 0),
        precision=scored.precision,
        recall=scored.recall,
        recall_if_suggestions_accepted=relaxed.recall,
        unmapped=scored.unmapped,
        by_channel=dict(by_channel),
    )
