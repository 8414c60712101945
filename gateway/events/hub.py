"""Delivery: every subscriber of a tenant follows that tenant's log from its own position.

A subscriber never holds a queue of its own (a slow one costs no memory): it reads what came
after its position, from the feed's recent events in memory when they reach back far enough,
else from the log, and waits for the feed to move. So a subscriber that reconnects with the
last position it saw gets every event after it, nothing twice and nothing lost, whichever
process it reaches.

The feed of a tenant learns of new events from the process's own appends (SQLite: the one
process) or by following the tenant's Redis stream (every process sees every append, its own
included, in the stream's order)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from gateway.domain import SealEvent, SealEventDraft
from gateway.events.log import (
    EVERYTHING,
    READ_BATCH,
    EventLog,
    EventQuery,
    LogUnavailable,
    PositionKey,
    RedisEventLog,
)
from gateway.ops.metrics import SEAL_EVENTS

log = logging.getLogger("gateway.events")

# How many recent events each tenant's feed keeps in memory for its subscribers.
RECENT = 1024
# How long one blocking read of a Redis stream waits before it reads again.
TAIL_BLOCK_S = 5.0
RETRY_S = 1.0


@dataclass(frozen=True, slots=True)
class Tick:
    """What a subscriber receives: an event, or (with `event` None) a moment of quiet, at
    which the transport may send its heartbeat."""

    event: SealEvent | None
    # the position after this tick, for the subscriber to resume from
    position: str | None


class Feed:
    """One tenant's recent events and the moment they move."""

    def __init__(self, tenant: str, log_: EventLog, latest: str | None) -> None:
        self.tenant = tenant
        self.log = log_
        self.latest = latest
        # the position before the first recent event: the recent events cover (floor, latest]
        self.floor = latest
        self.floor_key = self.key(latest)
        # the recent events, and their positions' keys beside them (parsed once)
        self.recent: collections.deque[SealEvent] = collections.deque(maxlen=RECENT)
        self.recent_keys: collections.deque[PositionKey] = collections.deque(maxlen=RECENT)
        self.latest_key = self.floor_key
        self.moved = asyncio.Event()

    def key(self, position: str | None) -> PositionKey:
        return (-1, -1) if position is None else self.log.key(position)

    def publish(self, event: SealEvent) -> None:
        key = self.key(event.position)
        if key <= self.latest_key:
            return  # seen already (a stream read again after a reconnect)
        if self.log.consecutive and self.latest is not None and key[0] != self.latest_key[0] + 1:
            # another writer's events came between (an app being replaced on SIGHUP writes
            # to the same file): memory no longer covers them, the log does
            self.recent.clear()
            self.recent_keys.clear()
            self.floor_key = (key[0] - 1, 0)
            self.floor = str(key[0] - 1)
        if len(self.recent) == self.recent.maxlen:
            self.floor = self.recent[0].position
            self.floor_key = self.recent_keys[0]
        self.recent.append(event)
        self.recent_keys.append(key)
        self.latest = event.position
        self.latest_key = key
        moved, self.moved = self.moved, asyncio.Event()
        moved.set()

    def after_in_memory(self, key: PositionKey) -> list[SealEvent] | None:
        """The recent events after the position `key`, or None when memory does not reach back
        that far (the log must be read). Walked from the newest: a subscriber that keeps up
        looks at the few events it has not seen, not at the whole window."""
        if key < self.floor_key:
            return None
        keys = self.recent_keys
        start = len(keys)
        while start > 0 and keys[start - 1] > key:
            start -= 1
        if start == len(keys):
            return []
        recent = self.recent  # indexed from its nearer end: the newest are cheap to reach
        return [recent[i] for i in range(start, len(keys))]


class EventHub:
    """The process's feeds, one per tenant with subscribers or appends, and the counts
    the limits read."""

    def __init__(self, log_: EventLog) -> None:
        self.log = log_
        # told of every event this process records, once it is in the log (the read cache
        # ends the tenant's entries)
        self.on_recorded: list[Callable[[str], Awaitable[None]]] = []
        self._feeds: dict[str, Feed] = {}
        self._starting: dict[str, asyncio.Task[Feed]] = {}
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._closed = False

    async def feed(self, tenant: str) -> Feed:
        found = self._feeds.get(tenant)
        if found is not None:
            return found
        starting = self._starting.get(tenant)
        if starting is None:
            starting = asyncio.ensure_future(self._start(tenant))
            self._starting[tenant] = starting
        try:
            return await asyncio.shield(starting)
        finally:
            if starting.done():
                self._starting.pop(tenant, None)

    async def _start(self, tenant: str) -> Feed:
        latest = await self.log.last_position(tenant)
        feed = Feed(tenant, self.log, latest)
        self._feeds[tenant] = feed
        if isinstance(self.log, RedisEventLog):
            self._tails[tenant] = asyncio.create_task(self._follow(feed, self.log))
        return feed

    async def record(self, tenant: str, draft: SealEventDraft) -> SealEvent | None:
        """Appends to the log, then tells the tenant's subscribers (the log's own order: with
        Redis, through the stream they all follow)."""
        starting = self._starting.get(tenant)
        if starting is not None:
            # a feed is reading the log's end: this event must come after what it reads
            await asyncio.shield(starting)
        event = await self.log.append(tenant, draft)
        if event is None:
            return None
        if not self.log.shared:
            # at once, before anything that may wait: feeds take events in the log's order
            feed = self._feeds.get(tenant)
            if feed is not None:
                feed.publish(event)
        SEAL_EVENTS.labels(draft.source.value, draft.type.value).inc()
        for hook in self.on_recorded:
            try:
                await hook(tenant)
            except Exception:
                log.exception("a hook on a recorded event failed")
        return event

    async def _follow(self, feed: Feed, redis_log: RedisEventLog) -> None:
        """Reads the tenant's stream as it grows, from the feed's latest position on."""
        client = redis_log.tail_client(TAIL_BLOCK_S)
        stream = redis_log.stream(feed.tenant)
        warned = False
        try:
            while not self._closed:
                try:
                    answer = await client.xread(
                        {stream: feed.latest or "0-0"},
                        count=READ_BATCH,
                        block=int(TAIL_BLOCK_S * 1000),
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    if not warned:
                        log.warning(
                            "following tenant %s's event stream failed (%s); retrying",
                            feed.tenant,
                            type(error).__name__,
                        )
                        warned = True
                    await asyncio.sleep(RETRY_S)
                    continue
                warned = False
                for _stream, rows in answer or ():
                    for row_id, fields in rows:
                        feed.publish(redis_log.decoded(feed.tenant, row_id, fields))
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def follow(
        self,
        tenant: str,
        after: str | None,
        query: EventQuery = EVERYTHING,
        *,
        quiet_s: float,
    ) -> AsyncIterator[Tick]:
        """The tenant's events after `after` (from now when None), as they come; a Tick with
        no event after each `quiet_s` without one."""
        feed = await self.feed(tenant)
        position = feed.latest if after is None else after
        key = feed.key(position)  # ValueError for a position that is not the log's
        while True:
            batch = feed.after_in_memory(key)
            if batch is None:
                batch = (await self.log.read(tenant, position, READ_BATCH)).events
            if batch:
                for event in batch:
                    position = event.position
                    if query.matches(event):
                        yield Tick(event, position)
                key = feed.key(position)
                continue
            moved = feed.moved  # nothing new since `batch` was taken: no await in between
            try:
                await asyncio.wait_for(moved.wait(), quiet_s)
            except TimeoutError:
                yield Tick(None, position)

    async def aclose(self) -> None:
        self._closed = True
        for task in self._tails.values():
            task.cancel()
        for task in self._tails.values():
            with contextlib.suppress(BaseException):
                await task
        self._tails.clear()
        await self.log.aclose()


__all__ = ["EventHub", "Feed", "LogUnavailable", "Tick"]
