"""Stage, score and cell rules: the definitions operators tune, at their edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from siyu.lifecycle.schemas import RfmSettings, StageSettings
from siyu.lifecycle.stages import cell, cutpoints, expected_interval, score, stage_of

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def stage(count: int, idle_days: float, interval: float | None, **settings: object) -> str:
    return stage_of(
        order_count=count,
        spend_fen=1000 * count,
        last_order_at=NOW - timedelta(days=idle_days) if count else None,
        interval_days=interval,
        is_member=False,
        now=NOW,
        stages=StageSettings(**settings),  # type: ignore[arg-type]
    )


def test_dormancy_by_own_cycle() -> None:
    # A 20-day buyer: light after 30 days (1.5x), medium 50 (2.5x), heavy 80 (4x), lost 160 (8x).
    assert [stage(3, d, 20.0) for d in (29.9, 30, 50, 80, 159, 160)] == [
        "repeat",
        "dormant_light",
        "dormant_medium",
        "dormant_heavy",
        "dormant_heavy",
        "lost",
    ]
    # The same idleness is nothing for a 100-day buyer.
    assert stage(3, 80, 100.0) == "repeat"


def test_dormancy_by_days_and_the_early_stages() -> None:
    days = {"dormancy_basis": "days"}
    assert [stage(1, d, 5.0, **days) for d in (59, 60, 120, 180, 365)] == [
        "new",
        "dormant_light",
        "dormant_medium",
        "dormant_heavy",
        "lost",
    ]
    assert stage(4, 1, 30.0) == "loyal" and stage(2, 1, 30.0) == "repeat"
    assert stage(0, 0, None) == "fan"
    assert (
        stage_of(
            order_count=0,
            spend_fen=0,
            last_order_at=None,
            interval_days=None,
            is_member=True,
            now=NOW,
            stages=StageSettings(),
        )
        == "member"
    )


def test_interval_comes_from_history_then_model_then_default() -> None:
    s = StageSettings()
    assert expected_interval(12.0, 40.0, s) == 12.0
    assert expected_interval(None, 40.0, s) == 40.0
    assert expected_interval(None, None, s) == 60.0
    assert expected_interval(2.0, None, s) == 7.0  # never below the floor


def test_cells_and_scores() -> None:
    rfm = RfmSettings()
    assert cell(5, 5, 5, rfm) == "important_value"
    assert cell(3, 1, 4, rfm) == "important_develop"
    assert cell(2, 3, 3, rfm) == "important_keep"
    assert cell(1, 1, 5, rfm) == "important_retain"
    assert cell(1, 1, 1, rfm) == "general_retain"
    assert cell(None, 1, 1, rfm) is None
    # F scores 1,1,1,4,5 (ties share a score): cut points for 2, 3, 4 are all the first 4.
    assert cutpoints([1, 1, 1, 2, 3], [1, 1, 1, 4, 5], 5) == [2, 2, 2, 3]
    assert [score(v, [2, 2, 2, 3]) for v in (1, 2, 3, 9)] == [1, 4, 5, 5]


def test_settings_refuse_what_cannot_be() -> None:
    with pytest.raises(ValidationError):
        StageSettings(cycle_multiples=[2.0, 1.5, 4.0, 8.0])
    with pytest.raises(ValidationError):
        StageSettings(cycle_multiples=[1.0, 1.5, 4.0, 8.0])
    with pytest.raises(ValidationError):
        RfmSettings(mode="bins", recency_days=[30, 60], frequency_orders=[2, 3, 4])
    with pytest.raises(ValidationError):
        RfmSettings(quantiles=3, high_from=4)
    assert (
        RfmSettings(
            mode="bins", recency_days=[30], frequency_orders=[2], monetary_fen=[100], high_from=2
        ).levels
        == 2
    )
