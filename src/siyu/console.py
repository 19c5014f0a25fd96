"""The console at /: every domain's pages, assembled."""

from __future__ import annotations

from fastapi import APIRouter

from siyu.catalog.console import router as catalog_console
from siyu.channels.console import router as channels_console
from siyu.customers.console import router as customers_console
from siyu.customers.merge_console import router as merge_console
from siyu.distribution.console import router as distribution_console
from siyu.journeys.console import router as journeys_console
from siyu.lifecycle.console import router as lifecycle_console
from siyu.loyalty.console import router as loyalty_console
from siyu.promotions.console import router as coupons_console
from siyu.promotions.groupbuy.console import router as groupbuy_console
from siyu.promotions.invites.console import router as invites_console
from siyu.segments.console import router as segments_console
from siyu.tags.console import router as tags_console
from siyu.workspaces.console import router as workspaces_console


def console_router() -> APIRouter:
    """The server-rendered console (Jinja2 + htmx + ECharts)."""
    router = APIRouter(include_in_schema=False)
    router.include_router(workspaces_console)
    router.include_router(customers_console)
    router.include_router(merge_console)
    router.include_router(lifecycle_console)
    router.include_router(tags_console)
    router.include_router(segments_console)
    router.include_router(channels_console)
    router.include_router(distribution_console)
    router.include_router(catalog_console)
    router.include_router(groupbuy_console)
    router.include_router(invites_console)
    router.include_router(loyalty_console)
    router.include_router(coupons_console)
    router.include_router(journeys_console)
    return router
