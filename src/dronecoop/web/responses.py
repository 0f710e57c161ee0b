"""Fast JSON responses and the two error shapes: RFC 9457 problem+json, and F3548's own."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def problem(status: int, title: str, detail: str, *, type_: str = "about:blank") -> Response:
    """An RFC 9457 problem details response."""
    body = {"type": type_, "title": title, "status": status, "detail": detail}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON)


def standard_error(status: int, message: str, **extra: Any) -> OrjsonResponse:
    """An error in the ASTM F3548/F3411 shape: ``{"message": ...}`` plus any extra fields."""
    return OrjsonResponse({"message": message, **extra}, status_code=status)


STANDARD_API_PREFIXES = ("/dss/", "/uss/", "/rid/")


def error_for_path(path: str, status: int, title: str, message: str) -> Response:
    """Standard APIs keep the standard's error shape; everything else speaks RFC 9457."""
    if path.startswith(STANDARD_API_PREFIXES):
        return standard_error(status, message)
    return problem(status, title, message)
