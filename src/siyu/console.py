"""The console at /: every domain's pages, assembled."""

from __future__ import annotations

from fastapi import APIRouter

from siyu.customers.console import router as customers_console
from siyu.customers.merge_console import router as merge_console
from siyu.workspaces.console import router as workspaces_console


def console_router() -> APIRouter:
    """The server-rendered console (Jinja2 + htmx + ECharts)."""
    router = APIRouter(include_in_schema=False)
    router.include_router(workspaces_console)
    router.include_router(customers_console)
    router.include_router(merge_console)
    return router
