"""The app factory: builds the store, the token verifier and the routers from Settings.

Nothing is built at import time; ``create_app`` is the one place that wires everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

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
from dronecoop.auth.authenticator import Authenticator
from dronecoop.auth.client_tokens import ClientCredentials, SelfSignedTokens, TokenSource
from dronecoop.auth.devkeys import load_or_create_private_key, load_private_key
from dronecoop.auth.errors import AuthError, MissingScope
from dronecoop.auth.tokens import TokenVerifier, load_public_key_pem
from dronecoop.fleet.http import build_fleet_router
from dronecoop.fleet.service import AircraftNotFound, FleetService
from dronecoop.flights.dss_client import DssClient, DssUnavailable, LocalDss, RemoteDss
from dronecoop.flights.flight_planning_http import build_flight_planning_router
from dronecoop.flights.http import build_flights_router, build_peer_intents_router
from dronecoop.flights.peers import Notifier, PeerClient
from dronecoop.flights.service import (
    FlightEnded,
    FlightNotFound,
    FlightRefused,
    FlightService,
    NotThisNodesPartner,
    NotYourFlight,
    local_uss,
)
from dronecoop.flights.uss_http import build_uss_router
from dronecoop.logs.readers import LogFormatError
from dronecoop.mro.http import build_mro_router, build_work_orders_router
from dronecoop.mro.service import MroService, WorkOrderNotFound, WorkOrderService
from dronecoop.mro.workorders import WorkOrderError
from dronecoop.planning.errors import PlanningError
from dronecoop.settings import Settings
from dronecoop.store.airspace_sql import SqlAirspaceStore
from dronecoop.store.audit_sql import SqlAuditLog
from dronecoop.store.components_sql import ComponentError, SqlComponents
from dronecoop.store.engine import build_engine
from dronecoop.store.fleet_sql import DuplicateAircraft, SqlFleetStore
from dronecoop.store.flights_sql import SqlFlightStore, StaleFlight
from dronecoop.store.migrate import upgrade
from dronecoop.store.mro_sql import DuplicateTask, SqlBaselines, SqlMroStore
from dronecoop.store.partner_keys_sql import SqlPartnerKeys
from dronecoop.store.peer_intents_sql import SqlPeerIntents
from dronecoop.store.workorders_sql import SqlWorkOrders
from dronecoop.store.zones_sql import SqlZoneStore
from dronecoop.trust.http import build_trust_router
from dronecoop.trust.partners import LOCAL_PARTNER, Partners
from dronecoop.trust.partners_file import (
    LOCAL_ONLY,
    load_partners,
    load_policy,
    load_priorities,
)
from dronecoop.trust.policy import RoutePolicy
from dronecoop.trust.releasability import RecordKind
from dronecoop.web.guard import Guard, RateLimited, route_keys
from dronecoop.web.headers import SecurityHeaders
from dronecoop.web.landing import landing_page
from dronecoop.web.limits import RequestSizeLimit
from dronecoop.web.mro_pages import due_page, fleet_page, log_page
from dronecoop.web.responses import PROBLEM_JSON, OrjsonResponse, error_for_path
from dronecoop.zones.http import build_uss_constraints_router, build_zones_router
from dronecoop.zones.service import NotYourZone, ZoneNotFound, ZoneService

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
    DssUnavailable: (502, "DSS unavailable"),
}


# Planning and flight errors -> HTTP status (anything else in the tree is a bad request).
PLANNING_STATUS: dict[type[PlanningError], int] = {
    FlightNotFound: 404,
    NotYourFlight: 403,
    NotThisNodesPartner: 403,
    ZoneNotFound: 404,
    AircraftNotFound: 404,
    DuplicateAircraft: 409,
    DuplicateTask: 409,
    WorkOrderNotFound: 404,
    WorkOrderError: 409,
    ComponentError: 409,
    NotYourZone: 403,
    FlightEnded: 409,
    StaleFlight: 409,
}

# Served without a token: what a person or a load balancer opens first, and the API docs
# (served from the package: no CDN).
PERIODIC_JOB_STOP_TIMEOUT_S = 30.0  # a periodic job's run in progress may finish this long

PUBLIC_ROUTES = [
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/openapi.json"),
    ("*", "/static-offline-docs"),
    ("GET", "/fleet"),
    ("GET", "/due"),
    ("GET", "/logs/{sha256}"),
]


def _status_of(exc: AirspaceError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in AIRSPACE_STATUS and issubclass(cls, AirspaceError):
            return AIRSPACE_STATUS[cls]
    return 400, "Bad request"


def build_authenticator(
    settings: Settings,
    registered: SqlPartnerKeys | None = None,
    partners: Partners | None = None,
) -> Authenticator:
    """Each partner's token verifier, from the partners file (``partners``, if already
    read) or the ``auth_*`` settings, plus the keys its admins registered at run time."""

    def registry(partner: str) -> Callable[[], dict[str, RSAPublicKey]] | None:
        return None if registered is None else functools.partial(registered.active, partner)

    if settings.partners_file is not None:
        partners = partners or load_partners(settings.partners_file)
        return Authenticator(
            (
                partner.issuers,
                TokenVerifier(
                    [load_public_key_pem(path.read_bytes()) for path in partner.public_key_files],
                    audiences=settings.auth_audiences,
                    issuers=partner.issuers,
                    jwks_urls=partner.jwks_urls,
                    partner=partner.id,
                    registered_keys=registry(partner.id),
                ),
            )
            for partner in partners
        )
    keys = [load_public_key_pem(Path(p).read_bytes()) for p in settings.auth_public_key_files]
    if settings.dev_signing_key_file is not None:
        keys.append(load_or_create_private_key(settings.dev_signing_key_file).public_key())
    if not keys and not settings.auth_jwks_urls:
        raise ValueError(
            "no token keys configured: set DRONECOOP_PARTNERS_FILE, "
            "DRONECOOP_AUTH_PUBLIC_KEY_FILES, DRONECOOP_AUTH_JWKS_URLS or "
            "DRONECOOP_DEV_SIGNING_KEY_FILE"
        )
    local = TokenVerifier(
        keys,
        audiences=settings.auth_audiences,
        issuers=settings.auth_issuers,
        jwks_urls=settings.auth_jwks_urls,
        partner=LOCAL_PARTNER,
        registered_keys=registry(LOCAL_PARTNER),
    )
    return Authenticator([(settings.auth_issuers, local)])


def build_token_source(settings: Settings) -> TokenSource | None:
    """How this node proves who it is to a remote DSS and to peer USSs, if it can."""
    if settings.uss_oauth_token_url:
        return ClientCredentials(
            settings.uss_oauth_token_url,
            settings.uss_oauth_client_id,
            settings.uss_oauth_client_secret.get_secret_value(),
            timeout_s=settings.peer_timeout_s,
        )
    if settings.uss_signing_key_file is not None:
        key = load_private_key(settings.uss_signing_key_file)
    elif settings.dev_signing_key_file is not None:
        key = load_or_create_private_key(settings.dev_signing_key_file)
    else:
        return None
    return SelfSignedTokens(
        key,
        issuer=settings.uss_token_issuer or "dronecoop-dev",
        subject=f"{settings.uss_partner or LOCAL_PARTNER}-uss",
        kid=settings.uss_token_kid,
    )


def build_flight_service(
    settings: Settings,
    dss: DssService,
    store: SqlFlightStore,
    zones: SqlZoneStore,
    engine: Engine,
) -> tuple[FlightService, ZoneService]:
    """The partners' USS (flights and zones): on this node's DSS, or as ``uss_partner`` on
    a remote one."""
    tokens = build_token_source(settings)
    http = httpx.Client(timeout=settings.peer_timeout_s)
    peers = (
        None if tokens is None else PeerClient(tokens, http=http, timeout_s=settings.peer_timeout_s)
    )
    dss_for: Callable[[str], DssClient]
    if settings.dss_url:
        own = settings.uss_partner
        if not own or tokens is None:
            raise ValueError(
                "a remote DSS (DRONECOOP_DSS_URL) needs DRONECOOP_USS_PARTNER and a way to sign "
                "in: DRONECOOP_USS_SIGNING_KEY_FILE (+ _USS_TOKEN_ISSUER) or _USS_OAUTH_TOKEN_URL"
            )
        remote = RemoteDss(
            settings.dss_url, f"{own}-uss", tokens, http=http, timeout_s=settings.peer_timeout_s
        )

        def dss_for(partner: str) -> DssClient:
            if partner != own:
                raise NotThisNodesPartner(
                    f"this node is {own}'s USS; plan {partner}'s flights on {partner}'s own USS"
                )
            return remote
    else:
        local = {}

        def dss_for(partner: str) -> DssClient:
            if partner not in local:
                local[partner] = LocalDss(dss, local_uss(partner))
            return local[partner]

    notifier = None if peers is None else Notifier(peers, settings.base_url)
    flights = FlightService(
        dss_for,
        store,
        settings.base_url,
        peers=peers,
        peer_intents=SqlPeerIntents(settings.db_url, engine),
        notifier=notifier,
        zones=zones,
        priorities=load_priorities(settings.partners_file),
        on_close=http.close,
    )
    return flights, ZoneService(dss_for, zones, settings.base_url, notifier)


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

    @app.exception_handler(PlanningError)
    async def planning_error(request: Request, exc: PlanningError) -> Response:
        if isinstance(exc, FlightRefused):
            body = {
                "type": "about:blank",
                "title": "Flight conflicts with other operations",
                "status": 409,
                "detail": str(exc),
                "conflicts": [c.describe() for c in exc.conflicts],
            }
            return Response(orjson.dumps(body), 409, media_type=PROBLEM_JSON)
        status = next((s for cls, s in PLANNING_STATUS.items() if isinstance(exc, cls)), 400)
        return error_for_path(request.url.path, status, "Request refused", str(exc))

    @app.exception_handler(LogFormatError)
    async def log_format_error(request: Request, exc: LogFormatError) -> Response:
        return error_for_path(request.url.path, 400, "Not a flight log this node reads", str(exc))

    @app.exception_handler(RateLimited)
    async def rate_limited(request: Request, exc: RateLimited) -> Response:
        response = error_for_path(request.url.path, 429, "Too many requests", str(exc))
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
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


_NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


GC_THRESHOLDS = (20_000, 20, 20)  # Python's defaults: (700, 10, 10)


def create_served_app(settings: Settings | None = None) -> FastAPI:
    """``create_app`` for a server process (``dronecoop serve``, each of its workers).

    The app's long-lived objects (modules, routes, schemas) are moved out of the garbage
    collector's reach once built: a full collection then walks only what requests left
    behind, which took ~7 ms instead of ~100 ms with every request on that worker waiting.
    A request allocates thousands of objects, nearly all freed by reference counting; a
    larger youngest generation (GC_THRESHOLDS) collects less often and promotes fewer of
    the ones in flight (bench/dss.py, flat-out creates: 1,202-1,208 -> 1,331-1,375 req/s).
    """
    app = create_app(settings)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return app


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    """Build a dronecoop node from ``settings`` (read from the environment if omitted)."""
    settings = settings or Settings()
    if migrate:
        upgrade(settings.db_url)
    store = SqlAirspaceStore.from_url(settings.db_url)
    partners = load_partners(settings.partners_file) if settings.partners_file else LOCAL_ONLY
    policy = load_policy(settings.partners_file)
    shared_engine = build_engine(settings.db_url)  # audit, partner keys, flights
    partner_keys = SqlPartnerKeys(settings.db_url, shared_engine)
    guard = Guard(
        build_authenticator(settings, partner_keys, partners),
        settings.rate_limit_per_s,
        settings.rate_limit_burst,
    )
    dss = DssService(store)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(
                _every(
                    settings.audit_seal_interval_s,
                    audit_log.seal,
                    "sealed %d audit events",
                    stop,
                )
            ),
        ]
        if not settings.dss_url:
            tasks.append(
                asyncio.create_task(
                    _every(
                        settings.cleanup_interval_s,
                        dss.purge_expired,
                        "purged %d expired DSS entities",
                        stop,
                    )
                )
            )
        try:
            yield
        finally:
            stop.set()
            _, stuck = await asyncio.wait(tasks, timeout=PERIODIC_JOB_STOP_TIMEOUT_S)
            for task in stuck:  # a job that does not end: stop waiting for it
                task.cancel()
            flights.close()
            store.close()
            shared_engine.dispose()

    # FastAPIOffline serves Swagger UI and ReDoc from the package, not from a CDN: the
    # allies' networks may have no Internet at all.
    app = FastAPIOffline(
        title="dronecoop",
        version=__version__,
        description="Drone cooperation between allied organizations. "
        "DSS of ASTM F3548-21 strategic coordination under /dss/v1; the trust layer "
        "(each partner's audit entries, the partners and what each may see) under /api/v1. "
        "Every route needs a bearer token (RS256) except this documentation and /healthz.",
        redirect_slashes=False,
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry hooks look up the global providers on every request;
        # they are switched on only where an operator asks for them.
        telemetry=None if settings.opentelemetry else _NO_TELEMETRY,
    )
    app.state.settings = settings
    app.state.dss = dss
    app.state.store = store
    app.state.guard = guard
    if not settings.dss_url:  # else this node is a USS of a DSS elsewhere
        dss_router = build_dss_router(dss, guard)
        # Served through plain Starlette routes, matched before any included router: the
        # DSS's hot path skips FastAPI's router walk and dependency solving (60 -> 26 us of
        # CPU from request to a 401 answer). FastAPI's own copies still document them.
        for route in dss_router.routes:
            if isinstance(route, APIRoute):
                app.router.add_route(
                    route.path, route.endpoint, methods=route.methods, include_in_schema=False
                )
                served = app.router.routes[-1]
                assert isinstance(served, Route)
                # Starlette answers HEAD wherever there is a GET; the DSS API (and FastAPI's
                # routes before) does not: 405, as the InterUSS DSS.
                served.methods = (served.methods or set()) - ({"HEAD"} - (route.methods or set()))
        app.include_router(dss_router)
    flight_store = SqlFlightStore(settings.db_url, shared_engine)
    zone_store = SqlZoneStore(settings.db_url, shared_engine)
    flights, zone_service = build_flight_service(
        settings, dss, flight_store, zone_store, shared_engine
    )
    app.state.flights = flights
    audit_log = SqlAuditLog(settings.db_url, shared_engine)
    app.state.partners = partners
    app.include_router(
        build_trust_router(
            guard,
            audit_log,
            partners,
            policy,
            partner_keys,
            owners={
                RecordKind.FLIGHT: lambda flight_id: (
                    f.partner if (f := flight_store.get(flight_id)) else None
                ),
                RecordKind.OPERATIONAL_INTENT_REFERENCE: functools.partial(
                    dss.partner_of, "operational_intent"
                ),
                RecordKind.CONSTRAINT_REFERENCE: functools.partial(dss.partner_of, "constraint"),
                RecordKind.SUBSCRIPTION: functools.partial(dss.partner_of, "subscription"),
            },
        )
    )
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

    @app.get("/fleet", include_in_schema=False)
    async def fleet_html() -> HTMLResponse:
        return HTMLResponse(fleet_page())

    @app.get("/due", include_in_schema=False)
    async def due_html() -> HTMLResponse:
        return HTMLResponse(due_page())

    @app.get("/logs/{sha256}", include_in_schema=False)
    async def log_html(sha256: str) -> HTMLResponse:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            raise StarletteHTTPException(404, "no such log")
        return HTMLResponse(log_page(sha256.lower()))

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.include_router(build_flights_router(guard, flights, policy))
    app.include_router(build_peer_intents_router(guard, flights))
    app.include_router(build_flight_planning_router(guard, flights))
    app.include_router(build_zones_router(guard, zone_service))
    fleet = FleetService(
        SqlFleetStore(settings.db_url, shared_engine, blobs=settings.data_dir / "logs")
    )
    app.state.fleet = fleet
    work_orders = SqlWorkOrders(settings.db_url, shared_engine)
    app.include_router(build_fleet_router(guard, fleet, policy, work_orders.open_depots))
    mro = MroService(
        fleet,
        SqlMroStore(settings.db_url, shared_engine),
        SqlComponents(settings.db_url, shared_engine),
        SqlBaselines(settings.db_url, shared_engine),
    )
    app.state.mro = mro
    app.include_router(build_mro_router(guard, mro, policy, work_orders.open_depots))
    orders = WorkOrderService(
        mro, work_orders, lambda: frozenset(p.id for p in partners if p.depot)
    )
    app.include_router(build_work_orders_router(guard, orders))
    app.include_router(build_uss_constraints_router(guard, zone_service))
    app.include_router(build_uss_router(guard, flights, policy, dss.record_report))
    for method, path in PUBLIC_ROUTES:
        guard.policies.declare(method, path, RoutePolicy(public=True))
    unguarded = guard.policies.missing(list(route_keys(app.routes)))
    if unguarded:  # a route without a policy must never be served
        raise RuntimeError(f"routes without an access policy: {unguarded}")

    app.add_middleware(
        RequestSizeLimit,
        max_bytes=settings.max_request_bytes,
        larger={"/api/v1/logs": settings.max_log_bytes},
    )
    app.add_middleware(SecurityHeaders)
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
        )
    return app


async def _every(interval_s: float, job: Callable[[], int], done: str, stop: asyncio.Event) -> None:
    """Run the blocking ``job`` every ``interval_s`` seconds on a worker thread until
    ``stop`` is set. Stopping waits for a run in progress: cancelling it would leave the
    thread holding a database connection while the node closes its pools."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
        if stop.is_set():
            return
        try:
            count = await asyncio.to_thread(job)
            if count:
                logger.debug(done, count)
        except Exception:
            logger.exception("periodic job %s failed", getattr(job, "__qualname__", job))
