"""A node's periodic jobs stop by finishing the run in progress, not by abandoning its
thread (which would still hold a database connection while the pools close)."""

from __future__ import annotations

import asyncio
import threading

from dronecoop.app import _every


def test_stopping_waits_for_the_run_in_progress() -> None:
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def job() -> int:
        started.set()
        release.wait(30)
        finished.append(True)
        return 1

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(_every(0.01, job, "ran %d", stop))
        while not started.is_set():
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.sleep(0.05)
        assert not task.done()  # still waiting for the job's thread to end
        release.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    assert finished == [True]  # the job ran to its end before the loop returned
