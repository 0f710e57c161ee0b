"""The app factory: builds the store, the token verifier and the routers from Settings.

Nothing is built at import time; ``create_app`` is the one place that wires everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, Response

from dronecoop import __version__
from dronecoop.airspace.dss import DssService
from dronecoop.airspace.errors import (
    AirspaceError,
    AreaTooLarge,
    BadRequest,
    DependencyConflict,
    MissingKey,
    NotFound,
    PermissionDenied,
    VersionMismatch,
)
from dronecoop.airspace.http import build_dss_router
from dronecoop.airspace.openapi import document_dss_bodies
from dronecoop.auth.devkeys import load_or_create_private_key
from dronecoop.auth.errors import AuthError, MissingScope
from dronecoop.auth.tokens import TokenVerifier, load_public_key_pem
from dronecoop.settings import Settings
from dronecoop.store.airspace_sql import SqlAirspaceStore
from dronecoop.store.migrate import upgrade
from dronecoop.web.landing import landing_page
from dronecoop.web.limits import RequestSizeLimit
from dronecoop.web.responses import OrjsonResponse, error_for_path

logger = logging.getLogger(__name__)

# Domain error -> (HTTP status, problem title). The core never knows status codes.
AIRSPACE_STATUS: dict[type[AirspaceError], tuple[int, str]] = {
    AreaTooLarge: (400, "Area too large"),
    BadRequest: (400, "Bad request"),
    DependencyConflict: (400, "Entity has dependents"),
    NotFound: (404, "Not found"),
    PermissionDenied: (403, "Permission denied"),
    VersionMismatch: (409, "Version mismatch"),
    MissingKey: (409, "Airspace conflict"),
}


def _status_of(exc: AirspaceError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in AIRSPACE_STATUS and issubclass(cls, AirspaceError):
            return AIRSPACE_STATUS[cls]
    return 400, "Bad request"


def build_verifier(settings: Settings) -> TokenVerifier:
    """Trust the configured public keys, JWKS URLs, and the dev key's public half if set."""
    keys = [load_public_key_pem(Path(p).read_bytes()) for p in settings.auth_public_key_files]
    if settings.dev_signing_key_file is not None:
        keys.append(load_or_create_private_key(settings.dev_signing_key_file).public_key())
    if not keys and not settings.auth_jwks_urls:
        raise ValueError(
            "no token keys configured: set DRONECOOP_AUTH_PUBLIC_KEY_FILES, "
            "DRONECOOP_AUTH_JWKS_URLS or DRONECOOP_DEV_SIGNING_KEY_FILE"
        )
    return TokenVerifier(
        keys,
        audiences=settings.auth_audiences,
        issuers=settings.auth_issuers,
        jwks_urls=settings.auth_jwks_urls,
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AirspaceError)
    async def airspace_error(request: Request, exc: AirspaceError) -> Response:
        status, title = _status_of(exc)
        return error_for_path(request.url.path, status, title, str(exc))

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> Response:
        status = 403 if isinstance(exc, MissingScope) else 401
        title = "Forbidden" if status == 403 else "Unauthorized"
        response = error_for_path(request.url.path, status, title, str(exc))
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return error_for_path(
            request.url.path, 400, "Bad request", f"invalid request: {exc.errors()}"
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_for_path(request.url.path, exc.status_code, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return OrjsonResponse(
            {"error_message": "internal error; see the server log"}, status_code=500
        )


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    """Build a dronecoop node from ``settings`` (read from the environment if omitted)."""
    settings = settings or Settings()
    if migrate:
        upgrade(settings.db_url)
    store = SqlAirspaceStore.from_url(settings.db_url)
    verifier = build_verifier(settings)
    dss = DssService(store)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_purge_periodically(dss, settings.cleanup_interval_s))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            store.close()

    # FastAPIOffline serves Swagger UI and ReDoc from the package, not from a CDN: the
    # allies' networks may have no Internet at all.
    app = FastAPIOffline(
        title="dronecoop",
        version=__version__,
        description="Drone cooperation between allied organizations. "
        "DSS of ASTM F3548-21 strategic coordination under /dss/v1.",
        redirect_slashes=False,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.dss = dss
    app.state.store = store
    app.include_router(build_dss_router(dss, verifier))
    _install_error_handlers(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            document.setdefault("components", {})["securitySchemes"] = {
                "Authority": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
            app.openapi_schema = document_dss_bodies(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(landing_page(settings))

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.add_middleware(RequestSizeLimit, max_bytes=settings.max_request_bytes)
    return app


async def _purge_periodically(dss: DssService, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            removed = await asyncio.to_thread(dss.purge_expired)
            if removed:
                logger.info("purged %d expired DSS entities", removed)
        except Exception:
            logger.exception("purging expired DSS entities failed")
