"""The busy poll (SEALGW_BUSY_POLL_US): an event loop kept from sleeping for a window after a
request begins or ends, then allowed to sleep again; on asyncio's loop and on uvloop's, which
`serve` runs. That answers are the same with it is tests/test_speed_switches.py's."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import Callable

import httpx
import psutil
import pytest
import uvloop

from gateway.cli import server_options
from gateway.config import ConfigError, load_settings
from gateway.http.server import BusyPoll, GatewayConfig
from tests.test_cli import start_serving

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.mark.parametrize("new_loop", LOOPS.values(), ids=LOOPS.keys())
def test_the_loop_polls_through_the_window_then_sleeps(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    async def scenario() -> None:
        busy_poll = BusyPoll.of(asyncio.get_running_loop(), 0.03)
        assert busy_poll is not None
        busy_poll.extend()
        await asyncio.sleep(0.01)
        # a loop asleep in those 10 ms would have turned once or twice
        assert busy_poll.turns >= 50
        assert busy_poll.until > 0
        await asyncio.sleep(0.06)
        assert busy_poll.until == 0.0  # the window closed
        turns = busy_poll.turns
        await asyncio.sleep(0.03)
        assert busy_poll.turns == turns  # and the loop sleeps again
        busy_poll.extend()  # until the next request
        busy_poll.extend()  # (a second call while open only moves the end of the window)
        await asyncio.sleep(0.01)
        assert busy_poll.turns >= turns + 50

    loop = new_loop()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


def test_one_busy_poll_per_loop_and_none_when_off() -> None:
    loop, other = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        assert BusyPoll.of(loop, 0.0) is None
        first = BusyPoll.of(loop, 0.001)
        assert first is not None
        assert BusyPoll.of(loop, 0.001) is first
        assert BusyPoll.of(other, 0.001) is not first
    finally:
        loop.close()
        other.close()


def test_the_setting_reaches_the_server_and_is_off_by_default() -> None:
    assert GatewayConfig(object(), **server_options(load_settings({}))).busy_poll_s == 0.0
    settings = load_settings({"SEALGW_BUSY_POLL_US": "1500"})
    assert GatewayConfig(object(), **server_options(settings)).busy_poll_s == 0.0015


@pytest.mark.parametrize("value", ["-1", "100001", "1ms"])
def test_a_window_out_of_bounds_is_refused_by_name(value: str) -> None:
    with pytest.raises(ConfigError, match="SEALGW_BUSY_POLL_US"):
        load_settings({"SEALGW_BUSY_POLL_US": value})


def test_a_closed_loop_is_not_kept_alive_by_its_busy_poll() -> None:
    loop = asyncio.new_event_loop()
    assert BusyPoll.of(loop, 0.001) is not None
    loop.close()
    seen = weakref.ref(loop)
    del loop
    gc.collect()
    assert seen() is None


def test_serve_keeps_its_loop_busy_through_the_window_after_a_request() -> None:
    """The setting as `seal-gateway serve` reads it: a request opens a window of 0.1 s in
    which the process spends CPU polling; without requests it spends next to none."""
    url, process, _lines = start_serving(SEALGW_BUSY_POLL_US="100000")
    try:
        gateway = psutil.Process(process.pid)

        def cpu_over(seconds: float) -> float:
            before = gateway.cpu_times()
            time.sleep(seconds)
            after = gateway.cpu_times()
            return (after.user - before.user) + (after.system - before.system)

        time.sleep(0.3)  # the start-up health checks' windows close
        quiet = cpu_over(0.3)
        assert httpx.get(f"{url}/healthz").status_code == 200
        busy = cpu_over(0.3)
        assert busy > quiet + 0.05, (quiet, busy)
    finally:
        process.terminate()
        process.wait(timeout=20)
