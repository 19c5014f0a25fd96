"""A small five-field cron parser (minute hour day-of-month month day-of-week), local time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 6))
# Searching minute by minute is bounded: any valid expression fires within about 4 years.
HORIZON = timedelta(days=366 * 4 + 1)


class CronError(ValueError):
    """The expression is not valid five-field cron."""


def _part(text: str, low: int, high: int) -> set[int]:
    step = 1
    if "/" in text:
        text, raw = text.split("/", 1)
        if not raw.isdigit() or int(raw) < 1:
            raise CronError(f"bad step {raw!r}")
        step = int(raw)
    if text == "*":
        start, end = low, high
    elif "-" in text:
        a, b = text.split("-", 1)
        if not (a.isdigit() and b.isdigit()):
            raise CronError(f"bad range {text!r}")
        start, end = int(a), int(b)
    elif text.isdigit():
        start = end = int(text)
        if step > 1:
            end = high
    else:
        raise CronError(f"bad value {text!r}")
    if not low <= start <= end <= high:
        raise CronError(f"{text!r} is outside {low}-{high}")
    return set(range(start, end + 1, step))


def parse(expression: str) -> list[set[int]]:
    """The allowed values of each field; Sunday is 0 (7 is accepted too)."""
    parts = expression.split()
    if len(parts) != 5:
        raise CronError("cron needs five fields: minute hour day month weekday")
    sets = []
    for text, (_, low, high) in zip(parts, FIELDS, strict=True):
        if text.endswith(",") or text.startswith(","):
            raise CronError(f"bad list {text!r}")
        top = 7 if high == 6 else high
        values: set[int] = set()
        for piece in text.split(","):
            values |= _part(piece, low, top)
        if high == 6 and 7 in values:
            values = (values - {7}) | {0}
        sets.append(values)
    return sets


def next_after(expression: str, after: datetime, tz: str) -> datetime:
    """The first firing strictly after `after`, as an aware UTC datetime."""
    minute, hour, day, month, weekday = parse(expression)
    day_any = expression.split()[2] == "*"
    weekday_any = expression.split()[4] == "*"
    zone = ZoneInfo(tz)
    t = after.astimezone(zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = t + HORIZON
    while t < limit:
        if t.month not in month:
            t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            continue
        cron_weekday = (t.weekday() + 1) % 7
        if day_any or weekday_any:
            day_ok = t.day in day and cron_weekday in weekday
        else:  # classic cron: either field may match when both are restricted
            day_ok = t.day in day or cron_weekday in weekday
        if not day_ok:
            t = t.replace(hour=0, minute=0) + timedelta(days=1)
            continue
        if t.hour not in hour:
            t = t.replace(minute=0) + timedelta(hours=1)
            continue
        if t.minute not in minute:
            t += timedelta(minutes=1)
            continue
        return t.astimezone(ZoneInfo("UTC"))
    raise CronError(f"{expression!r} never fires")
