"""`siyu demo` as a user runs it: real files, the real importer, OneID scored against the truth."""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from siyu.demo.truth import Score, pairwise
from siyu.ingest.layouts import DOUYIN, TMALL

N = 300
LAST = re.compile(r"^demo records=(\d+) customers=(\d+) precision=(\d\.\d{4}) recall=(\d\.\d{4})$")
TABLES = ("customer", "identity", "orders", "order_line", "event", "merge_record", "import_job")


@dataclass
class Run:
    data_dir: Path
    out: str
    seconds: float

    @property
    def last(self) -> re.Match[str]:
        match = LAST.match(self.out.strip().splitlines()[-1])
        assert match, self.out[-2000:]
        return match


def run_demo(data_dir: Path, *args: str) -> Run:
    env = {**os.environ, "SIYU_DATA_DIR": str(data_dir), "SIYU_LOG_LEVEL": "WARNING"}
    env.pop("SIYU_DATABASE_URL", None)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "siyu", "demo", "--no-serve", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return Run(data_dir, result.stdout, time.monotonic() - started)


def counts(data_dir: Path) -> dict[str, int]:
    with sqlite3.connect(data_dir / "siyu.db") as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The demo loaded once, on SQLite, into a fresh data directory."""
    return run_demo(tmp_path_factory.mktemp("demo") / "data", "--customers", str(N), "--seed", "11")


def test_pairs_are_counted_from_the_contingency_table() -> None:
    # Cluster A holds records of persons 1, 1 and 2; cluster B one record of person 2.
    records, predicted, true, correct = pairwise([("A", 1), ("A", 1), ("A", 2), ("B", 2)])
    assert (records, predicted, true, correct) == (4, 3, 2, 1)
    score = Score(records, 0, predicted, true, correct)
    assert score.precision == pytest.approx(1 / 3)
    assert score.recall == pytest.approx(1 / 2)
    assert Score(1, 0, 0, 0, 0).precision == 1.0


def test_demo_loads_files_and_events_and_scores_oneid(loaded: Run) -> None:
    records, customers = int(loaded.last[1]), int(loaded.last[2])
    precision, recall = float(loaded.last[3]), float(loaded.last[4])
    assert records > 20 * N  # about 10 orders and 20 events a person
    assert N < customers < records
    assert precision >= 0.97
    assert recall >= 0.85
    assert "api key (shown once): sy_" in loaded.out
    assert "user=admin password=siyu-demo-2026" in loaded.out
    stored = counts(loaded.data_dir)
    assert stored["import_job"] == 5
    assert stored["orders"] > 5 * N and stored["event"] > 10 * N


def test_exports_are_real_files_in_the_platforms_headers(loaded: Run) -> None:
    folder = loaded.data_dir / "demo"
    names = {p.name for p in folder.iterdir()}
    expected = {"tmall_orders.csv", "jd_orders.xlsx", "youzan_orders.csv", "douyin_orders.csv"}
    assert expected | {"wecom_contacts.xlsx", "manifest.json"} <= names
    with open(folder / "tmall_orders.csv", encoding="gbk", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == [c.header for c in TMALL.columns]
    with open(folder / "douyin_orders.csv", encoding="utf-8-sig", newline="") as fh:
        assert next(csv.reader(fh)) == [c.header for c in DOUYIN.columns]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "complete" and manifest["customers"] == N


def test_second_run_adds_nothing(loaded: Run) -> None:
    before = counts(loaded.data_dir)
    again = run_demo(loaded.data_dir, "--customers", str(N), "--seed", "11")
    assert counts(loaded.data_dir) == before
    assert "already exists" in again.out
    assert "api key" not in again.out
    assert again.last.group(0) == loaded.last.group(0)
    assert again.seconds < 30
