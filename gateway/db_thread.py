"""One thread that owns one SQLite connection, with the cheapest hand-off from the event loop.

``ThreadPoolExecutor.submit`` builds a ``concurrent.futures.Future`` (a ``Condition`` and its
locks), a work item, and checks its idle-thread semaphore on every call; for the quota store,
called for every exchange, that was a measurable share of the gateway's CPU. Here a job is a
tuple put on a ``queue.SimpleQueue`` (C code), and its result goes back to the loop with one
``call_soon_threadsafe``. Jobs run one at a time, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")
Done = Callable[[Any, BaseException | None], None]
"""Called on the loop with the job's result, or None and its exception."""
_STOP = None


class DbThread:
    """Runs ``fn(connection)`` jobs on its thread; the connection is opened there, lazily."""

    def __init__(self, connect: Callable[[], Any], name: str) -> None:
        self._connect = connect
        self._name = name
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.conn: Any = None

    def submit(self, loop: asyncio.AbstractEventLoop, fn: Callable[[Any], Any], done: Done) -> None:
        """Run ``fn(conn)`` on the thread; ``done(result, error)`` is then called on ``loop``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()
        self._jobs.put((loop, fn, done))

    async def run(self, fn: Callable[[Any], _T]) -> _T:
        """``fn(conn)`` on the thread, awaited."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if future.done():  # the caller was cancelled
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        self.submit(loop, fn, settle)
        return await future

    async def close(self) -> None:
        """Close the connection (if it was ever opened) after the jobs already submitted, and
        let the thread end."""
        if self._thread is None:
            return
        await self.run(_close)
        self._jobs.put(_STOP)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not _STOP:
            loop, fn, done = job
            try:
                if fn is _close:
                    result, error = _close(self.conn), None
                    self.conn = None
                else:
                    if self.conn is None:
                        self.conn = self._connect()
                    result, error = fn(self.conn), None
            except BaseException as exc:  # handed to the caller, on its loop
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(done, result, error)


def _close(conn: Any) -> None:
    if conn is not None:
        conn.close()
