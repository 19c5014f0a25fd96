"""The demo's terminal output: a progress bar per long step and the summary table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from siyu.demo.service import DemoSummary
from siyu.demo.service import Progress as Report


@contextmanager
def progress_bars(console: Console) -> Iterator[Report]:
    """A callback (step, done, total) that keeps one rich progress bar per step."""
    bars = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=not console.is_terminal,
    )
    tasks: dict[str, TaskID] = {}
    last: list[str] = []

    def report(step: str, done: int, total: int | None) -> None:
        if step not in tasks:
            if not console.is_terminal:  # a log, not a live bar: one line as each step starts
                console.print(f"{step} ...", highlight=False)
            # A new step means the previous one is over: show it as complete.
            if last and bars.tasks[tasks[last[-1]]].total is None:
                bars.update(tasks[last[-1]], total=1, completed=1)
            tasks[step] = bars.add_task(step, total=total)
            last.append(step)
        bars.update(tasks[step], completed=done, total=total)

    with bars:
        yield report
        for task in bars.tasks:  # steps without a count end as done, not as a spinner
            if task.total is None:
                bars.update(task.id, total=1, completed=1)


def _pct(value: float | None) -> str:
    return f"{value * 100:.2f}%" if value is not None else "-"


def print_summary(console: Console, s: DemoSummary) -> None:
    """Records in by channel, steps with their timings, customers after OneID and its scores."""
    if s.existing:
        console.print(
            f"[yellow]演示工作区已存在 / the demo workspace already exists "
            f"(workspace={s.workspace_id}); nothing was added.[/yellow]"
        )
    if s.steps:
        steps = Table(title="加载 load", show_lines=False)
        for col in ("step", "records in", "ok", "failed", "duplicate", "seconds"):
            steps.add_column(col, justify="left" if col == "step" else "right")
        for st in s.steps:
            steps.add_row(
                st.name,
                f"{st.records:,}",
                f"{st.ok:,}",
                f"{st.failed:,}",
                f"{st.duplicate:,}",
                f"{st.seconds:.1f}",
            )
        console.print(steps)
    if s.by_channel:
        channels = Table(title="按渠道 records in by channel")
        channels.add_column("channel")
        channels.add_column("records", justify="right")
        for name, n in sorted(s.by_channel.items(), key=lambda kv: -kv[1]):
            channels.add_row(name, f"{n:,}")
        console.print(channels)
    result = Table(title="OneID")
    result.add_column("measure")
    result.add_column("value", justify="right")
    for name, value in (
        ("workspace", str(s.workspace_id)),
        ("true persons 真实人数", f"{s.persons:,}"),
        ("records in 记录数", f"{s.records:,}"),
        ("records not loaded 未入库", f"{s.unmapped:,}"),
        ("customers after OneID 客户数", f"{s.customers:,}"),
        ("merges 自动合并", f"{s.merges:,}"),
        ("pending suggestions 待审合并建议", f"{s.suggestions:,}"),
        ("precision 准确率", _pct(s.precision)),
        ("recall 召回率", _pct(s.recall)),
        ("recall if suggestions accepted", _pct(s.recall_if_suggestions_accepted)),
    ):
        result.add_row(name, value)
    console.print(result)
