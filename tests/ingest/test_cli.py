"""`siyu import` as an operator runs it: a fresh data directory, real files, the summary line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.ingest.files import TMALL_HEADERS, read_report, tmall_row, write_csv


def siyu(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIYU_DATA_DIR": str(data_dir), "SIYU_LOCALE": "en"}
    env.pop("SIYU_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "siyu", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_import_prints_a_summary_and_writes_the_error_report(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = write_csv(
        tmp_path / "天猫.csv",
        TMALL_HEADERS,
        [tmall_row("C1", "nick", "13812345678"), tmall_row("C2", "nick", "1381234")],
        encoding="gbk",
    )
    none = siyu(data, "import", str(path))
    assert none.returncode == 1
    assert "No workspace yet" in none.stdout

    assert siyu(data, "workspace", "create", "品牌").returncode == 0
    first = siyu(data, "import", str(path))
    assert first.returncode == 0, first.stderr
    report = tmp_path / "天猫.csv.errors.csv"
    assert first.stdout.strip().splitlines()[-1] == (
        f"import rows=2 ok=1 failed=1 duplicate=0 report={report}"
    )
    assert read_report(report)[1][:3] == ["3", "联系手机", "138****1234"]
    assert "13812345678" not in first.stdout + first.stderr

    again = siyu(data, "import", str(path), "--workspace", "1", "--layout", "tmall")
    assert again.stdout.strip().splitlines()[-1] == (
        f"import rows=2 ok=0 failed=1 duplicate=1 report={report}"
    )


def test_unknown_layout_and_ambiguous_workspace_are_clear_errors(tmp_path: Path) -> None:
    data = tmp_path / "data"
    siyu(data, "workspace", "create", "A")
    siyu(data, "workspace", "create", "B")
    path = write_csv(tmp_path / "x.csv", ["编号", "金额"], [["1", "2"]])
    ambiguous = siyu(data, "import", str(path))
    assert (ambiguous.returncode, ambiguous.stdout.strip()) == (
        1,
        "Name the workspace with --workspace",
    )
    unknown = siyu(data, "import", str(path), "--workspace", "2")
    assert unknown.returncode == 1
    assert "Unknown file layout; headers seen: 编号、金额" in unknown.stdout
    assert "Traceback" not in unknown.stderr
