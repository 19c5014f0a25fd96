"""`siyu tags install` and `siyu segments refresh` as a user runs them."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import run_siyu


def test_install_the_library_then_refresh(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = run_siyu(data, "workspace", "create", "品牌A")
    assert made.returncode == 0, made.stderr
    installed = run_siyu(data, "tags", "install")
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout.strip().splitlines()[-1] == "tags installed=41"
    again = run_siyu(data, "tags", "install")
    assert again.stdout.strip().splitlines()[-1] == "tags installed=0"
    refreshed = run_siyu(data, "segments", "refresh")
    assert refreshed.returncode == 0, refreshed.stderr
    assert refreshed.stdout.strip().splitlines()[-1] == "segments refreshed=0"


def test_lookalike_refuses_an_unknown_segment_and_bad_bounds(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run_siyu(data, "workspace", "create", "品牌A").returncode == 0
    missing = run_siyu(data, "segments", "lookalike", "424242")
    assert missing.returncode == 1
    assert "未找到" in missing.stdout or "not found" in missing.stdout.lower()
    bounds = run_siyu(data, "segments", "lookalike", "1", "--top-n", "0")
    assert bounds.returncode == 1 and "top_n" in bounds.stdout
