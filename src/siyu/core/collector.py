"""Cyclic garbage collector settings for siyu's long-running processes."""

from __future__ import annotations

import gc

# Generation-0 threshold: collections every 50k allocations instead of every 700.
THRESHOLDS = (50_000, 20, 100)

_tuned = False


def tune_collector() -> None:
    """Freeze start-up's objects and collect less often, once per process.

    Why: an ingest batch keeps hundreds of thousands of objects alive (rows, identities,
    attribute dicts) and the default collector re-scans them, plus every module and model
    made at start-up, each 700 allocations; that was half of OneID resolution's time.
    Reference counting still frees almost everything at once; only cycles wait longer.
    """
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
