"""Blocking work runs off the event loop, with its result or its exception handed back."""

from __future__ import annotations

import asyncio
import threading

import pytest

from dronecoop.web.threads import run_in_threadpool


def test_work_runs_on_another_thread_and_returns_its_result() -> None:
    def work(a: int, *, b: int) -> tuple[int, str]:
        return a + b, threading.current_thread().name

    async def main() -> tuple[tuple[int, str], str]:
        return await run_in_threadpool(work, 2, b=3), threading.current_thread().name

    (total, worker), loop_thread = asyncio.run(main())
    assert total == 5
    assert worker != loop_thread
    assert worker.startswith("dronecoop-io")


def test_an_exception_in_the_work_reaches_the_awaiting_request() -> None:
    def fails(message: str) -> None:
        raise LookupError(message)

    with pytest.raises(LookupError, match="no such intent"):
        asyncio.run(run_in_threadpool(fails, "no such intent"))


def test_many_requests_wait_on_the_pool_at_once_without_blocking_the_loop() -> None:
    release = threading.Event()

    async def main() -> list[int]:
        waiting = [asyncio.ensure_future(run_in_threadpool(release.wait)) for _ in range(8)]
        await asyncio.sleep(0.05)  # the loop still runs while every worker blocks
        release.set()
        return [int(ok) for ok in await asyncio.gather(*waiting)]

    assert asyncio.run(main()) == [1] * 8


def test_the_requests_context_variables_reach_the_thread() -> None:
    import contextvars

    span: contextvars.ContextVar[str] = contextvars.ContextVar("span", default="none")

    async def main() -> str:
        span.set("request-42")
        return await run_in_threadpool(span.get)

    assert asyncio.run(main()) == "request-42"
