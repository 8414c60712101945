"""The event log and its delivery in process, on a real SQLite file: two writers on one file
(an app and the one replacing it on SIGHUP) lose nothing for each other's subscribers, and a
subscriber far behind the recent window reads the rest from the log."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from gateway.domain import ProviderName, SealEventDraft, SealEventSource, SealEventType
from gateway.events import hub as hub_module
from gateway.events.hub import EventHub
from gateway.events.log import SqliteEventLog


def draft(seal: str) -> SealEventDraft:
    return SealEventDraft(
        ProviderName.YUNYIN,
        seal,
        SealEventType.UPDATED,
        SealEventSource.GATEWAY_WRITE,
        datetime.now(UTC),
    )


async def taken(hub: EventHub, after: str | None, count: int) -> list[str]:
    found: list[str] = []
    async for tick in hub.follow("default", after, quiet_s=5):
        assert tick.event is not None, "nothing came"
        found.append(tick.event.draft.vendor_seal_id)
        if len(found) == count:
            return found
    return found


def test_two_writers_on_one_file_lose_nothing_for_each_others_subscribers() -> None:
    async def run() -> None:
        path = Path(tempfile.mkdtemp()) / "events.sqlite3"
        first, second = SqliteEventLog(path, 3600), SqliteEventLog(path, 3600)
        first.open()
        second.open()
        old, new = EventHub(first), EventHub(second)
        await old.record("default", draft("1"))
        start = await first.last_position("default")
        following = asyncio.create_task(taken(old, start, 3))
        await asyncio.sleep(0.05)  # the subscriber waits on the old app's feed
        await old.record("default", draft("2"))
        await new.record("default", draft("3"))  # the other app's: not in this feed's memory
        await old.record("default", draft("4"))
        assert await asyncio.wait_for(following, 5) == ["2", "3", "4"]
        await old.aclose()
        await new.aclose()

    asyncio.run(run())


def test_a_subscriber_behind_the_recent_window_reads_the_rest_from_the_log() -> None:
    async def run() -> None:
        log = SqliteEventLog(Path(tempfile.mkdtemp()) / "events.sqlite3", 3600)
        log.open()
        hub = EventHub(log)
        await hub.feed("default")
        for n in range(12):
            await hub.record("default", draft(str(n)))
        # the window holds the last 4 only: the first 8 come from the file
        assert await asyncio.wait_for(taken(hub, log.origin, 12), 5) == [str(n) for n in range(12)]
        await hub.aclose()

    original = hub_module.RECENT
    hub_module.RECENT = 4
    try:
        asyncio.run(run())
    finally:
        hub_module.RECENT = original
