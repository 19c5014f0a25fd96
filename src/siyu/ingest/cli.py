"""`siyu import FILE`: import a Tmall/JD/Youzan/Douyin/WeCom export with a progress bar."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from siyu.core.auth import system_principal
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.core.settings import get_settings
from siyu.workspaces.models import Workspace

console = Console(stderr=True)


def _workspace(db: Database, chosen: int | None) -> int:
    """The workspace to import into: the one named, else the only one."""
    with db.transaction() as session:
        ids = list(session.scalars(select(Workspace.id).order_by(Workspace.id)))
    if chosen is not None:
        if chosen not in ids:
            raise SiyuError(zh=f"工作区 {chosen} 不存在", en=f"Workspace {chosen} does not exist")
        return chosen
    if len(ids) != 1:
        raise SiyuError(
            zh="请用 --workspace 指定工作区" if ids else "还没有工作区，请先 siyu workspace create",
            en="Name the workspace with --workspace"
            if ids
            else "No workspace yet; run siyu workspace create",
        )
    return ids[0]


def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    layout: str | None = typer.Option(
        None, help="tmall, jd, youzan, douyin, wecom_contacts or generic (default: detect)"
    ),
    workspace: int | None = typer.Option(None, "--workspace", help="Workspace id"),
    mapping: str | None = typer.Option(None, help="Saved column mapping (generic layout)"),
    chunk_rows: int = typer.Option(10_000, help="Rows per transaction"),
) -> None:
    """Import an order or contact export (CSV or XLSX); bad rows go to <FILE>.errors.csv."""
    from siyu.cli import fail, open_db
    from siyu.ingest.importers import import_file

    db = open_db()
    try:
        principal = system_principal(_workspace(db, workspace))
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(f"importing {file.name}", total=None)

            def show(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            result = import_file(
                db,
                principal,
                file,
                layout=layout,
                mapping=mapping,
                chunk_rows=chunk_rows,
                progress=show,
            )
    except SiyuError as exc:
        fail(exc)
    if get_settings().locale.startswith("zh") and result.report:
        console.print(f"[yellow]有 {result.failed} 行未导入，原因见 {result.report}[/yellow]")
    elif result.report:
        console.print(f"[yellow]{result.failed} rows were skipped; see {result.report}[/yellow]")
    print(result.summary())
