"""The console builder's form (a few condition rows and how they combine) to a rule tree."""

from __future__ import annotations

from typing import Any

from siyu.segments.rules import ATTRIBUTES

ROWS = 4
KINDS = ("attribute", "order", "event", "tag", "lifecycle", "rfm")


def _number(raw: str) -> int | float | str:
    try:
        return int(raw)
    except ValueError:
        try:
            return float(raw)
        except ValueError:
            return raw  # the rule check will name it


def _row(form: dict[str, str], i: int) -> dict[str, Any] | None:
    kind, field = form.get(f"kind_{i}", ""), form.get(f"field_{i}", "").strip()
    op, value = form.get(f"op_{i}", "eq"), form.get(f"value_{i}", "").strip()
    days = form.get(f"days_{i}", "").strip()
    if kind not in KINDS or not field:
        return None
    window = {"window": {"last_days": _number(days)}} if days else {}
    node: dict[str, Any]
    if kind == "attribute":
        typed = value if ATTRIBUTES.get(field) == "text" else _number(value)
        node = {"type": "attribute", "field": field, "op": op, "value": typed}
    elif kind in ("order", "event"):
        count = {"op": op, "value": _number(value or "1")} | window
        node = (
            {"type": "order", "categories": [field]} | count
            if kind == "order"
            else {"type": "event", "event_type": field} | count
        )
    elif kind == "tag":
        node = {"type": "tag", "tag_id": _number(field), "has": op != "ne"}
    elif kind == "lifecycle":
        node = {"type": "lifecycle", "stages": [field]}
    else:
        node = {"type": "rfm", "cells": [field]}
    return {"type": "not", "child": node} if form.get(f"not_{i}") else node


def rule_from_form(form: dict[str, str]) -> dict[str, Any] | None:
    """AND or OR over the filled rows; None when no row is filled."""
    children = [r for i in range(ROWS) if (r := _row(form, i)) is not None]
    if not children:
        return None
    combine = "or" if form.get("combine") == "or" else "and"
    return {"type": combine, "children": children}
