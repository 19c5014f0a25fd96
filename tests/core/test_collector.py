import gc

import pytest

from siyu.core import collector
from siyu.core.collector import THRESHOLDS, tune_collector


@pytest.fixture
def untuned(monkeypatch):
    """A process whose collector siyu has not tuned yet; the test's settings are undone."""
    before = gc.get_threshold()
    monkeypatch.setattr(collector, "_tuned", False)
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tuning_freezes_start_up_objects_and_raises_thresholds(untuned):
    assert gc.get_freeze_count() == 0

    tune_collector()

    assert gc.get_threshold() == THRESHOLDS
    assert gc.get_freeze_count() > 0


def test_tuning_happens_once_per_process(untuned):
    tune_collector()
    frozen = gc.get_freeze_count()
    gc.set_threshold(1000, 10, 10)

    tune_collector()

    assert gc.get_threshold() == (1000, 10, 10)
    assert gc.get_freeze_count() == frozen
