"""The FastAPI application: /api/v1 from every domain, the console at /, errors in one place."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from siyu import __version__
from siyu.catalog.api import router as catalog_router
from siyu.channels.api import router as channels_router
from siyu.core.collector import tune_collector
from siyu.core.db import Database
from siyu.core.http import AccessLog, BodyLimit, install_error_handlers
from siyu.core.settings import Settings, get_settings
from siyu.customers.api import merges as merges_router
from siyu.customers.api import router as customers_router
from siyu.distribution.api import router as distribution_router
from siyu.ingest.api import router as ingest_router
from siyu.ingest.upload import UPLOAD_PATH
from siyu.ingest.upload import router as upload_router
from siyu.journeys.api import router as journeys_router
from siyu.lifecycle.api import router as lifecycle_router
from siyu.loyalty.api import router as loyalty_router
from siyu.promotions.api import router as promotions_router
from siyu.promotions.groupbuy.api import router as groupbuy_router
from siyu.promotions.invites.api import router as invites_router
from siyu.segments.api import router as segments_router
from siyu.tags.api import router as tags_router
from siyu.workspaces.api import router as workspaces_router


def api_router() -> APIRouter:
    """Every domain's routes under /api/v1."""
    router = APIRouter(prefix="/api/v1")

    @router.get("/health", tags=["system"])
    def health() -> dict[str, str]:
        """Liveness: answers 200 when the server runs."""
        return {"status": "ok", "version": __version__}

    router.include_router(workspaces_router)
    router.include_router(customers_router)
    router.include_router(merges_router)
    router.include_router(ingest_router)
    router.include_router(upload_router)
    router.include_router(lifecycle_router)
    router.include_router(loyalty_router)
    router.include_router(promotions_router)
    router.include_router(journeys_router)
    router.include_router(tags_router)
    router.include_router(segments_router)
    router.include_router(channels_router)
    router.include_router(catalog_router)
    router.include_router(distribution_router)
    router.include_router(groupbuy_router)
    router.include_router(invites_router)
    return router


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """Build the app over a store (the settings' database unless one is given)."""
    from siyu.console import console_router

    settings = settings or get_settings()
    app = FastAPI(title="siyu", version=__version__, docs_url="/docs", openapi_url="/openapi.json")
    app.state.settings = settings
    app.state.db = db or Database.from_url(settings.resolved_database_url())
    install_error_handlers(app)
    app.include_router(api_router())
    app.include_router(console_router())
    app.mount("/static", StaticFiles(directory=str(files("siyu") / "static")), name="static")
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        larger={UPLOAD_PATH: settings.max_upload_bytes},
    )
    app.add_middleware(AccessLog)
    return app


def served_app() -> FastAPI:
    """The app for a server process (uvicorn's factory): collector tuned, settings' store."""
    tune_collector()
    return create_app()
