"""File import endpoints: POST /api/v1/imports (multipart), GET /imports/{id}, column mappings."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from siyu.core.audit import record
from siyu.core.auth import Principal, get_scoped
from siyu.core.http import Caller, DbSession, get_principal
from siyu.ingest import service
from siyu.ingest.importers import import_file, read_report
from siyu.ingest.models import ImportJob
from siyu.ingest.readers import ImportFileError
from siyu.ingest.schemas import ColumnMappingIn, ColumnMappingOut, ImportJobOut, ImportRowError
from siyu.workspaces.models import Role

UPLOAD_PATH = "/api/v1/imports"
router = APIRouter(tags=["ingest"])
_UNSAFE = re.compile(r"[^\w.\-]+")


def upload_caller(request: Request) -> Principal:
    """Authenticate in a short transaction of its own.

    The import commits chunk by chunk as its own job boundary; a request transaction held open
    across it would, on SQLite, fail to commit after the import wrote.
    """
    with request.app.state.db.transaction() as session:
        return get_principal(request, session)


UploadCaller = Annotated[Principal, Depends(upload_caller)]


def job_out(job: ImportJob) -> ImportJobOut:
    """An import job with the first 100 rows of its error report."""
    out = ImportJobOut.model_validate(job, from_attributes=True)
    out.errors = [ImportRowError.model_validate(e) for e in read_report(job.report_path)]
    return out


def _store(upload: UploadFile, folder: Path) -> Path:
    """Save the upload under its sha256, so re-sending the same file resumes the same job."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = Path(upload.filename or "").suffix.lower()
    suffix = suffix if suffix in (".csv", ".txt", ".xlsx") else ""
    temp = folder / f".upload-{uuid.uuid4().hex}"
    digest = hashlib.sha256()
    with open(temp, "wb") as out:
        while block := upload.file.read(1 << 20):
            digest.update(block)
            out.write(block)
    target = folder / f"{digest.hexdigest()}{suffix}"
    os.replace(temp, target)
    return target


@router.post(
    "/imports", status_code=201, response_model=ImportJobOut, response_model_exclude_none=False
)
def upload_import(
    request: Request,
    caller: UploadCaller,
    file: Annotated[UploadFile, File(description="CSV or XLSX export")],
    layout: Annotated[str | None, Form()] = None,
    mapping: Annotated[str | None, Form()] = None,
) -> ImportJobOut:
    """Import an export now (synchronously); returns the job's counts and first error rows."""
    caller.require(Role.operator)
    settings = request.app.state.settings
    folder = Path(settings.data_dir) / "imports" / str(caller.workspace_id)
    path = _store(file, folder)
    name = _UNSAFE.sub("_", Path(file.filename or "upload").name)[-200:]
    db = request.app.state.db
    try:
        result = import_file(
            db, caller, path, layout=layout or None, mapping=mapping or None, filename=name
        )
    except ImportFileError:
        path.unlink(missing_ok=True)
        raise
    with db.transaction() as session:
        job = get_scoped(session, ImportJob, result.job_id, caller)
        return job_out(job)


@router.get("/imports/{job_id}", response_model=ImportJobOut)
def get_import(job_id: int, session: DbSession, caller: Caller) -> ImportJobOut:
    """An import job of the caller's workspace."""
    caller.require(Role.operator)
    return job_out(get_scoped(session, ImportJob, job_id, caller))


@router.post("/column-mappings", status_code=201, response_model=ColumnMappingOut)
def save_column_mapping(
    body: ColumnMappingIn, session: DbSession, caller: Caller
) -> ColumnMappingOut:
    """Save a generic layout (headers → fields); saving the same name replaces it."""
    mapping = service.save_column_mapping(session, caller, body)
    record(session, caller, "save", "column_mapping", mapping.id, columns=len(body.columns))
    return service.column_mapping_out(mapping)
