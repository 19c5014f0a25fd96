"""File imports: every row of an export goes through the same services as the API.

The importer is the job boundary: it commits every `chunk_rows` rows, in the same transaction
as the ImportJob's progress, so an interrupted import resumes where it stopped.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.audit import record
from siyu.core.auth import Principal
from siyu.core.clock import now
from siyu.core.db import Database
from siyu.core.errors import SiyuError, ValidationFailed
from siyu.core.statistics import refresh_statistics
from siyu.customers.oneid import Resolver
from siyu.ingest import service
from siyu.ingest.layouts import GENERIC, Layout, detect, from_mapping, get_layout
from siyu.ingest.models import ImportJob
from siyu.ingest.readers import Cell, FileInfo, ImportFileError, RowReader, inspect
from siyu.ingest.rows import Row, RowError, RowParser, contact_event, order_of
from siyu.ingest.schemas import OrderIn
from siyu.workspaces.models import Role

CHUNK_ROWS = 10_000
REPORT_HEADER = ("行号 row", "列 column", "值 value", "原因", "reason")
Progress = Callable[[int, int | None], None]


class ImportInterrupted(RuntimeError):
    """Raised by the `stop_after` hook: simulates a crash after some committed chunks."""


@dataclass(frozen=True)
class ImportResult:
    """How an import ended: its job, counts and the error report (None when no row failed)."""

    job_id: int
    layout: str
    status: str
    rows: int
    ok: int
    failed: int
    duplicate: int
    report: Path | None
    resumed: bool

    def summary(self) -> str:
        """The CLI's last line."""
        return (
            f"import rows={self.rows} ok={self.ok} failed={self.failed} "
            f"duplicate={self.duplicate} report={self.report or '-'}"
        )


def report_path_for(path: Path) -> Path:
    """The error report sits next to its input: <input>.errors.csv."""
    return path.with_name(path.name + ".errors.csv")


def import_file(
    db: Database,
    principal: Principal,
    path: Path | str,
    *,
    layout: str | None = None,
    mapping: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress | None = None,
    stop_after: int | None = None,
    filename: str | None = None,
) -> ImportResult:
    """Import a CSV/XLSX export; bad rows go to <file>.errors.csv, a re-run resumes or dedups."""
    principal.require(Role.operator)
    path = Path(path)
    info = inspect(path)
    with RowReader(path, info) as reader:
        with db.transaction() as session:
            chosen = _layout(session, principal, reader.headers, layout, mapping)
        binding = chosen.bind(reader.headers)
        job_id, skip = _start_job(db, principal, chosen, info, filename or path.name)
        report = Report(report_path_for(path), keep_through=skip + 1 if skip else None)
        importer = _Chunks(db, principal, chosen, RowParser(chosen, binding), job_id, report)
        try:
            done = importer.run(reader.rows(), skip, chunk_rows, stop_after, progress, reader)
        except ImportFileError as exc:
            report.close()
            _fail_job(db, job_id, exc.en_message)
            raise
        except BaseException:
            # The job stays "running" at its last committed chunk: a re-run resumes there.
            report.close()
            raise
    kept = report.close()
    with db.transaction() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        job.status, job.finished_at = "completed", now()
        job.report_path = str(kept) if kept else None
        refresh_statistics(session)
        record(
            session,
            principal,
            "import",
            "import_job",
            job.id,
            layout=chosen.name,
            rows=job.rows_done,
            ok=job.rows_ok,
            failed=job.rows_failed,
            duplicate=job.rows_duplicate,
            resumed=bool(skip),
        )
        result = ImportResult(
            job.id,
            chosen.name,
            job.status,
            job.rows_done,
            job.rows_ok,
            job.rows_failed,
            job.rows_duplicate,
            kept,
            bool(skip),
        )
    if progress:
        progress(done, done)
    return result


def _layout(
    session: Session,
    principal: Principal,
    headers: list[str],
    name: str | None,
    mapping: str | None,
) -> Layout:
    if mapping:
        saved = service.get_column_mapping(session, principal, mapping)
        return from_mapping(saved.name, saved.kind, saved.columns)  # type: ignore[arg-type]
    if name == GENERIC:
        raise ValidationFailed(
            zh="generic 格式需要指定已保存的列映射（--mapping）",
            en="The generic layout needs a saved column mapping (--mapping)",
        )
    return get_layout(name) if name else detect(headers)


def _start_job(
    db: Database, principal: Principal, layout: Layout, info: FileInfo, filename: str
) -> tuple[int, int]:
    """The running job of this very file (to resume), else a new one; (job id, rows done)."""
    with db.transaction() as session:
        job = session.scalars(
            select(ImportJob)
            .where(
                ImportJob.workspace_id == principal.workspace_id,
                ImportJob.file_hash == info.sha256,
                ImportJob.layout == layout.name,
                ImportJob.status == "running",
            )
            .order_by(ImportJob.id.desc())
        ).first()
        if job is None:
            job = ImportJob(
                workspace_id=principal.workspace_id,
                layout=layout.name,
                filename=filename[-512:],
                file_hash=info.sha256,
                status="running",
                started_at=now(),
            )
            session.add(job)
            session.flush()
        return job.id, job.rows_done


def _fail_job(db: Database, job_id: int, message: str) -> None:
    with db.transaction() as session:
        job = session.get(ImportJob, job_id)
        if job is not None:
            job.status, job.error, job.finished_at = "failed", message[:2000], now()


class Report:
    """The error report CSV (UTF-8 with BOM for Excel); a resume keeps the committed part."""

    def __init__(self, path: Path, keep_through: int | None) -> None:
        self.path = path
        self.count = 0
        kept: list[list[str]] = []
        if keep_through and path.exists():
            # Rows past the last commit were rolled back and will be read again.
            with open(path, encoding="utf-8-sig", newline="") as old:
                rows = csv.reader(old)
                next(rows, None)
                kept = [r for r in rows if r and r[0].isdigit() and int(r[0]) <= keep_through]
        self.fh = open(path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
        self.writer = csv.writer(self.fh)
        self.writer.writerow(REPORT_HEADER)
        self.writer.writerows(kept)
        self.count = len(kept)

    def write(self, errors: list[RowError]) -> None:
        """Append errors and flush, before the chunk that produced them commits."""
        self.writer.writerows((e.row, e.column, e.value, e.zh, e.en) for e in errors)
        self.fh.flush()
        self.count += len(errors)

    def close(self) -> Path | None:
        """Close; an empty report is removed. Returns its path if it holds errors."""
        if self.fh.closed:
            return self.path if self.count else None
        self.fh.close()
        if self.count == 0:
            self.path.unlink(missing_ok=True)
            return None
        return self.path


def read_report(path: str | os.PathLike[str] | None, limit: int = 100) -> list[dict[str, str]]:
    """The first rows of an error report, as the API returns them."""
    if not path or not Path(path).exists():
        return []
    out: list[dict[str, str]] = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = csv.reader(fh)
        next(rows, None)
        for r in rows:
            if len(out) >= limit:
                break
            keys = ("row", "column", "value", "reason_zh", "reason_en")
            out.append(dict(zip(keys, r, strict=False)))
    return out


@dataclass
class _Counts:
    ok: int = 0
    failed: int = 0
    duplicate: int = 0


class _Chunks:
    """Reads rows in chunks that never split an order, each committed with the job's progress."""

    def __init__(
        self,
        db: Database,
        principal: Principal,
        layout: Layout,
        parser: RowParser,
        job_id: int,
        report: Report,
    ) -> None:
        self.db, self.principal, self.layout = db, principal, layout
        self.parser, self.job_id, self.report = parser, job_id, report
        self.key_index = parser.binding.get("external_id", (None,))[0]

    def run(
        self,
        rows: Iterator[tuple[int, list[Cell]]],
        skip: int,
        chunk_rows: int,
        stop_after: int | None,
        progress: Progress | None,
        reader: RowReader,
    ) -> int:
        done = skip
        total = reader.rows_estimate
        if progress:
            progress(done, total)
        for chunks, chunk in enumerate(self._chunks(rows, skip, chunk_rows), start=1):
            with self.db.transaction() as session:
                counts, errors = self._process(session, chunk)
                job = session.get(ImportJob, self.job_id)
                assert job is not None
                job.rows_done += len(chunk)
                job.rows_ok += counts.ok
                job.rows_failed += counts.failed
                job.rows_duplicate += counts.duplicate
                self.report.write(errors)
            done += len(chunk)
            if progress:
                progress(done, total if total and total >= done else None)
            if stop_after is not None and chunks >= stop_after:
                raise ImportInterrupted(f"stopped after {chunks} chunks")
        return done

    def _key(self, raw: list[Cell]) -> Cell:
        if self.key_index is None or self.key_index >= len(raw):
            return None
        return raw[self.key_index]

    def _chunks(
        self, rows: Iterator[tuple[int, list[Cell]]], skip: int, size: int
    ) -> Iterator[list[tuple[int, list[Cell]]]]:
        chunk: list[tuple[int, list[Cell]]] = []
        for index, item in enumerate(rows):
            if index < skip:
                continue
            # Close a chunk only between orders, so an order's rows commit together.
            if len(chunk) >= size and (self._key(item[1]) != self._key(chunk[-1][1])):
                yield chunk
                chunk = []
            chunk.append(item)
        if chunk:
            yield chunk

    def _process(
        self, session: Session, chunk: list[tuple[int, list[Cell]]]
    ) -> tuple[_Counts, list[RowError]]:
        # Blank lines (trailing rows of a spreadsheet) count as read, nothing else.
        parsed = [self.parser.parse(n, raw) for n, raw in chunk if any(c for c in raw)]
        if self.layout.kind == "contacts":
            return self._contacts(session, parsed)
        return self._orders(session, parsed)

    def _orders(self, session: Session, parsed: list[Row]) -> tuple[_Counts, list[RowError]]:
        counts, errors = _Counts(), []
        groups: dict[tuple[object, object], list[Row]] = {}
        for row in parsed:
            key = (row.values.get("channel"), row.values.get("external_id"))
            groups.setdefault(key if key[1] else ("#row", row.number), []).append(row)
        ready: list[tuple[list[Row], OrderIn]] = []
        for rows in groups.values():
            bad = [r for r in rows if r.errors]
            if bad:
                errors += [e for r in bad for e in r.errors]
                errors += [self._sibling(r, bad[0].number) for r in rows if not r.errors]
                counts.failed += len(rows)
                continue
            try:
                order = order_of(self.layout, rows)
                service.check_order(order)
                ready.append((rows, order))
            except (ValidationError, SiyuError) as exc:
                errors += self.parser.group_errors(rows, exc)
                counts.failed += len(rows)
        # One call per chunk: one lookup of stored orders, one OneID batch, bulk inserts.
        stored = service.upsert_orders(
            session, self.principal, [o for _, o in ready], Resolver(session, self.principal)
        )
        for (rows, _), (_, created) in zip(ready, stored, strict=True):
            if created:
                counts.ok += len(rows)
            else:
                counts.duplicate += len(rows)
        errors.sort(key=lambda e: e.row)
        return counts, errors

    def _sibling(self, row: Row, bad: int) -> RowError:
        header = self.parser.header("external_id")
        value = str(row.values.get("external_id", ""))
        return RowError(
            row.number,
            header,
            value,
            f"同一订单的第 {bad} 行有误，整单未导入",
            f"row {bad} of the same order is invalid; the whole order was skipped",
        )

    def _contacts(self, session: Session, parsed: list[Row]) -> tuple[_Counts, list[RowError]]:
        counts, errors = _Counts(), []
        good = [r for r in parsed if not r.errors]
        for row in parsed:
            if row.errors:
                errors += row.errors
                counts.failed += 1
        events = [contact_event(self.layout, r) for r in good]
        result = service.ingest_events(session, self.principal, events) if events else None
        for item in result.results if result else []:
            row = good[item.index]
            if item.status == "accepted":
                counts.ok += 1
            elif item.status == "duplicate":
                counts.duplicate += 1
            else:
                counts.failed += 1
                for e in item.errors or [{"field": "-", "reason": "rejected"}]:
                    fld = e["field"].split(".")[-1]
                    errors.append(
                        RowError(
                            row.number,
                            self.parser.header(fld),
                            "",
                            f"无效：{e['reason']}",
                            e["reason"],
                        )
                    )
        errors.sort(key=lambda e: e.row)
        return counts, errors
