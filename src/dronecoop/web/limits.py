"""A pure-ASGI request size limit: refuses bodies over the limit with 413, before reading them."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dronecoop.web.responses import error_for_path


class BodyTooLarge(Exception):
    pass


class RequestSizeLimit:
    """``max_bytes`` for every body, but ``larger`` (path prefix -> bytes) where it says."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_max = max_bytes
        self.larger = larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = next(
            (n for prefix, n in self.larger.items() if path.startswith(prefix)), self.default_max
        )
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit or declared < 0:
                    await self._refuse(scope, receive, send, limit)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_for_path(
            scope.get("path", ""),
            413,
            "Request body too large",
            f"request body exceeds the limit of {limit} bytes",
        )
        await response(scope, receive, send)
