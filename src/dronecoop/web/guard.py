"""The one place where a request's caller is authenticated, authorized and rate limited.

Every router asks ``Guard.admit`` with the route's policy; no handler checks a token,
a scope or a role by itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from dronecoop.auth.authenticator import Authenticator
from dronecoop.auth.errors import AuthError
from dronecoop.auth.tokens import Principal
from dronecoop.trust.errors import TrustError
from dronecoop.trust.policy import PolicyTable, RoutePolicy

PARTNER_FACTOR = 10
FAILED_AUTH_PER_S = 50.0  # test harnesses probe auth hard; floods are far beyond this
FAILED_AUTH_BURST = 500


class RateLimited(TrustError):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many requests: retry after {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


class TokenBuckets:
    """Token buckets per caller: ``rate_per_s`` sustained, ``burst`` at once (0: no limit)."""

    def __init__(self, rate_per_s: float, burst: int, max_callers: int = 10_000) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._max = max_callers
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, caller: str, now: float | None = None) -> None:
        if self._rate <= 0:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.pop(caller, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            if len(self._buckets) >= self._max:  # forget the longest-idle caller
                self._buckets.pop(next(iter(self._buckets)))
            if tokens < 1.0:
                self._buckets[caller] = (tokens, now)
                raise RateLimited((1.0 - tokens) / self._rate)
            self._buckets[caller] = (tokens - 1.0, now)


class Guard:
    """Authenticates, rate-limits and authorizes; ``rate_per_s`` 0 turns the limits off.

    Three budgets: each caller (partner + subject) ``rate_per_s``; each partner together
    ``PARTNER_FACTOR`` times that (a partner minting a subject per request gains nothing);
    and, before any token is trusted, each client address a small budget of failed
    authentications (every one costs an RS256 check).
    """

    def __init__(self, authenticator: Authenticator, rate_per_s: float, burst: int) -> None:
        self.authenticator = authenticator
        self.policies = PolicyTable()
        self._callers = TokenBuckets(rate_per_s, burst)
        self._partners = TokenBuckets(rate_per_s * PARTNER_FACTOR, burst * PARTNER_FACTOR)
        self._failures = TokenBuckets(
            FAILED_AUTH_PER_S if rate_per_s > 0 else 0.0, FAILED_AUTH_BURST
        )

    def admit(self, request: Request, policy: RoutePolicy) -> Principal:
        """The caller, if the route's policy lets it in; raises AuthError or RateLimited."""
        try:
            principal = self.authenticator.verify_header(request.headers.get("authorization"))
        except AuthError:
            self._failures.take(request.client.host if request.client else "unknown")
            raise
        self._callers.take(f"{principal.partner}/{principal.sub}")
        self._partners.take(principal.partner)
        principal.require(*policy.any_of)
        return principal


def route_keys(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every endpoint in a route table, included routers and mounts too."""
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's include_router
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from route_keys(included.routes, prefix + getattr(context, "prefix", ""))
        elif isinstance(route, Mount):
            yield ("*", prefix + route.path)
        elif isinstance(route, Route):
            for method in sorted(route.methods or {"GET"}):
                if method != "HEAD":
                    yield (method, prefix + route.path)


Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])


def guarded_routes(
    router: APIRouter, guard: Guard, prefix: str
) -> Callable[[str, str, RoutePolicy, str], Callable[[Endpoint], Endpoint]]:
    """A decorator factory adding a route to ``router`` with its policy in ``guard``'s table
    (the handler must still call ``guard.admit`` first)."""

    def route(
        method: str, path: str, policy: RoutePolicy, summary: str
    ) -> Callable[[Endpoint], Endpoint]:
        guard.policies.declare(method, prefix + path, policy)
        return router.api_route(
            path,
            methods=[method],
            summary=summary,
            openapi_extra={"security": [{"Authority": list(policy.any_of)}]},
        )

    return route
