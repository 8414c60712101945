"""The app's stop, step by step (`stop_step`): each step waited for a bounded time, one that
does not end (not even when cancelled) named in the log and left behind, an error raised."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import pytest

from gateway.config import load_settings
from gateway.http import subscriptions
from gateway.http.app import create_app, stop_step
from gateway.http.subscriptions import end_subscriptions
from tests.conftest import SandboxServer


def deaf(released: asyncio.Event) -> Callable[[], Awaitable[None]]:
    """A step that swallows its cancellation and ends only once `released` (the test lets it
    go once the stop went on without it, else the test's own loop could not close)."""

    async def step() -> None:
        while not released.is_set():
            try:
                await released.wait()
            except asyncio.CancelledError:
                continue

    return step


async def quick() -> None:
    await asyncio.sleep(0)


async def failing() -> None:
    raise RuntimeError("the step failed")


def test_a_step_that_does_not_end_is_named_and_left_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> float:
        released = asyncio.Event()
        started = time.monotonic()
        await stop_step("the deaf step", deaf(released), within_s=0.2)
        took = time.monotonic() - started
        released.set()
        return took

    with caplog.at_level(logging.WARNING, logger="gateway"):
        took = asyncio.run(asyncio.wait_for(scenario(), timeout=5))
    assert 0.2 <= took < 2
    assert [record.getMessage() for record in caplog.records] == [
        "stopping: the deaf step did not finish within 0.2 s; not waited for"
    ]


def test_a_step_that_ends_is_waited_for_and_its_error_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway"):
        asyncio.run(stop_step("the quick step", quick, within_s=0.2))
        with pytest.raises(RuntimeError, match="the step failed"):
            asyncio.run(stop_step("the failing step", failing, within_s=0.2))
    assert caplog.records == []


def test_an_app_started_again_on_a_loop_streams_subscriptions_again(
    sandbox_server: SandboxServer,
) -> None:
    """A server's stop ends every subscription of its loop and any that starts there after;
    an app that starts on that loop again (an embedder running the server twice) lifts it."""
    app = create_app(load_settings(sandbox_server.env()))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        end_subscriptions(loop)  # a server on this loop stopped
        assert subscriptions._ended(loop, None)
        async with app.router.lifespan_context(app):
            assert not subscriptions._ended(loop, None)

    asyncio.run(main())
