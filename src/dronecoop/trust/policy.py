"""Route policies: what every HTTP route asks of its caller, declared in one table.

Each route names the permissions that let a caller in (any one suffices), or says it is
public, and the record kind it serves. The app refuses to start with a route that has no
policy, and the authorization matrix test walks this table.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    any_of: tuple[str, ...] = ()  # permissions, any one of which admits the caller
    public: bool = False  # no token needed (landing page, liveness, API docs)
    record_kind: str | None = None  # what the route reads or changes (trust.releasability)
    writes: bool = False

    def __post_init__(self) -> None:
        if self.public == bool(self.any_of):
            raise ValueError("a route is either public or names the permissions it needs")


@dataclass(slots=True)
class PolicyTable:
    by_route: dict[tuple[str, str], RoutePolicy] = field(default_factory=dict)

    def declare(self, method: str, path: str, policy: RoutePolicy) -> None:
        key = (method.upper(), path)
        if key in self.by_route and self.by_route[key] != policy:
            raise ValueError(f"{method} {path} declared twice with different policies")
        self.by_route[key] = policy

    def get(self, method: str, path: str) -> RoutePolicy | None:
        return self.by_route.get((method.upper(), path))

    def missing(self, routes: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Those of ``routes`` (method, path) without a policy."""
        return [r for r in routes if (r[0].upper(), r[1]) not in self.by_route]
