"""`siyu loyalty tick` and `siyu loyalty card` on a real data directory."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_cli import run_siyu


def test_tick_then_card(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = run_siyu(data, "workspace", "create", "品牌A")
    assert made.returncode == 0, made.stderr
    workspace = re.search(r"workspace=(\d+)", made.stdout).group(1)  # type: ignore[union-attr]
    tick = run_siyu(data, "loyalty", "tick", "--workspace", workspace)
    assert tick.returncode == 0, tick.stderr
    last = tick.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"loyalty tick date=\d{4}-\d{2}-\d{2} expired=0 upgraded=0 grace=0 downgraded=0 "
        r"member_day_coupons=0 birthdays=0",
        last,
    ), last
    card = run_siyu(data, "loyalty", "card", "1", "--workspace", workspace)
    assert card.returncode == 1
    assert "Traceback" not in card.stderr
    assert "未找到" in card.stdout + card.stderr
