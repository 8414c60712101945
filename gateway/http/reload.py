"""Reloading one process on SIGHUP: the settings and the files they name (tenants, trusted
documents) read again, and a fresh app built from them and put in service; the old one
finishes the requests it took, then closes, and its subscriptions are completed (their
clients resume on the new one). A reload that fails (a broken setting or file) logs why and
leaves the old app serving. With `--workers N`, uvicorn's supervisor does the same by
replacing its workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from gateway.config import ConfigError
from gateway.http.subscriptions import SERVED_BY, Service, end_subscriptions

log = logging.getLogger("gateway")

# How long a retired app may take to finish the requests it took before it is closed anyway.
RETIRE_WAIT_S = 60.0


@dataclass
class Generation:
    """One app in service, and the requests it is answering."""

    app: Starlette
    stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    in_flight: int = 0
    # set whenever it answers nothing
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    # what its subscriptions belong to (gateway/http/subscriptions.py)
    service: Service = field(default_factory=Service)


class Reloading:
    """The ASGI app a single process serves: `build` makes the app (and may raise ConfigError);
    SIGHUP makes a new one."""

    def __init__(self, first: Starlette, build: Callable[[], Starlette]) -> None:
        self._first = first
        self._build = build
        self._current: Generation | None = None
        self._reload: asyncio.Task[None] | None = None
        # a SIGHUP while a reload runs: that one may have read the files already
        self._again = False
        self._retiring: set[asyncio.Task[None]] = set()
        self.reloads = 0

    @property
    def app(self) -> Starlette:
        """The app in service."""
        assert self._current is not None
        return self._current.app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        generation = self._current
        assert generation is not None
        generation.in_flight += 1
        generation.idle.clear()
        served_by = SERVED_BY.set(generation.service)
        try:
            await generation.app(scope, receive, send)
        finally:
            SERVED_BY.reset(served_by)
            generation.in_flight -= 1
            if not generation.in_flight:
                generation.idle.set()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        try:
            self._current = await self._start(self._first)
        except Exception as error:
            log.exception("start-up failed")
            await send({"type": "lifespan.startup.failed", "message": str(error)})
            return
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self.reload_soon)
        except (RuntimeError, ValueError):  # not the main thread: no signals here
            log.debug("SIGHUP reload is off (the server does not run in the main thread)")
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        with contextlib.suppress(RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGHUP)
        if self._reload is not None:
            await self._reload
        if self._retiring:
            await asyncio.gather(*self._retiring)
        await self._current.stack.aclose()
        await send({"type": "lifespan.shutdown.complete"})

    @staticmethod
    async def _start(app: Starlette) -> Generation:
        generation = Generation(app)
        await generation.stack.enter_async_context(app.router.lifespan_context(app))
        return generation

    def reload_soon(self) -> None:
        """One reload at a time; a SIGHUP during one makes one more after it (the running one
        may have read the files before they changed), never a lost one."""
        if self._reload is not None and not self._reload.done():
            self._again = True
            return
        self._reload = asyncio.get_running_loop().create_task(self._reload_until_current())

    async def _reload_until_current(self) -> None:
        while True:
            self._again = False
            await self.reload()
            if not self._again:
                return

    async def reload(self) -> None:
        log.info("SIGHUP: reloading the settings and the files they name")
        try:
            fresh = await self._start(self._build())
        except ConfigError as error:
            log.error("configuration error, not reloaded (still serving as before): %s", error)
            return
        except Exception:
            log.exception("reload failed (still serving as before)")
            return
        old, self._current = self._current, fresh
        self.reloads += 1
        log.info("reloaded: new requests are served with the new settings")
        if old is not None:
            # its subscriptions would go on with the old settings (a removed key's included):
            # completed, their clients resume on the new app
            end_subscriptions(asyncio.get_running_loop(), old.service)
            # retired beside the next reload, not before it: its requests may take a while
            task = asyncio.get_running_loop().create_task(self._retire(old))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    @staticmethod
    async def _retire(old: Generation) -> None:
        """The old app finishes the requests it took (at most RETIRE_WAIT_S), then closes."""
        if old.in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(old.idle.wait(), RETIRE_WAIT_S)
        await old.stack.aclose()
