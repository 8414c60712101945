"""One durable, ordered log of seal events per tenant.

Two homes, one contract (`EventLog`):
- `SqliteEventLog`, the default: a SQLite file (WAL) in the data directory, for the one
  process the gateway runs as without Redis. Each append is committed with a full sync before
  it returns, so an event whose receipt was answered survives a crash or a restart.
- `RedisEventLog`, when `SEALGW_REDIS_URL` is set: a Redis stream per tenant, so every process
  and replica reads the same order. Appends check the fact's key and add to the stream in one
  Lua step (a notification delivered twice, to two processes at once, is one event).

A position is the log's own mark of an event (a number in SQLite, a stream id in Redis): it
orders a tenant's events, and `key` turns it into something comparable. Only this module
and the cursors (gateway/service/events.py, which wraps it for clients) read it.

Events older than the retention are dropped (SQLite: by a sweep every hour; Redis: trimmed at
every append). A fact's key is remembered for DEDUP_HORIZON_S."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from gateway.domain import (
    ProviderName,
    SealEvent,
    SealEventDraft,
    SealEventSource,
    SealEventType,
)
from gateway.shared.address import RedisAddress

log = logging.getLogger("gateway.events")

PositionKey = tuple[int, int]
# How many events one read hands back at most.
READ_BATCH = 500
# How many events a filtered read in Redis looks at before it answers with what it found
# (a filter that matches little must not scan a month of events in one request).
SCAN_LIMIT = 20_000
SWEEP_INTERVAL_S = 3600.0
# Reads of a Redis log at once (subscribers catching up, pages of `sealEvents`); the rest wait.
CONCURRENT_READS = 32
# How long a fact's key is remembered: a notification e签宝 delivers again (the same body) within
# it is one event. Not the whole retention: e签宝 sends SEAL_AUTH_NEARLY_EXPIRED 7 days and
# again 1 day before an authorisation ends, with the same body, and both are events.
DEDUP_HORIZON_S = 2 * 86_400.0


class LogUnavailable(Exception):
    """The log could not take or give events (Redis away, disk full): nothing was recorded."""


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Which of a tenant's events a read wants; every given condition must hold."""

    providers: frozenset[ProviderName] | None = None
    types: frozenset[SealEventType] | None = None
    sources: frozenset[SealEventSource] | None = None
    # (provider, vendor seal id) pairs
    seals: frozenset[tuple[ProviderName, str]] | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, event: SealEvent) -> bool:
        draft = event.draft
        return (
            (self.providers is None or draft.provider in self.providers)
            and (self.types is None or draft.type in self.types)
            and (self.sources is None or draft.source in self.sources)
            and (self.seals is None or (draft.provider, draft.vendor_seal_id) in self.seals)
            and (self.since is None or draft.occurred_at >= self.since)
            and (self.until is None or draft.occurred_at < self.until)
        )

    @property
    def everything(self) -> bool:
        return self == EVERYTHING


EVERYTHING = EventQuery()


@dataclass(frozen=True, slots=True)
class Batch:
    """Events after a position, oldest first, and the position the read got to (the last
    event looked at, matching or not): the next read starts there."""

    events: list[SealEvent]
    reached: str | None
    more: bool


class EventLog(Protocol):
    """Each tenant's events, in order, kept for the retention."""

    shared: bool
    # the position before every event: reading after it reads from the oldest kept
    origin: str
    # whether positions are consecutive numbers (a gap means events another writer appended)
    consecutive: bool

    async def append(self, tenant: str, draft: SealEventDraft) -> SealEvent | None:
        """Records `draft` at the end of the tenant's log and answers it with its position;
        None when its `dedup_key` was recorded before (nothing added). LogUnavailable when
        it could not be recorded."""
        ...

    async def read(
        self, tenant: str, after: str | None, limit: int, query: EventQuery = EVERYTHING
    ) -> Batch:
        """The tenant's events after `after` (from the oldest kept when None)."""
        ...

    async def last_position(self, tenant: str) -> str | None:
        """The position of the tenant's newest event; None when it has none."""
        ...

    def key(self, position: str) -> PositionKey:
        """`position` as something ordered; ValueError when it is not one of this log's."""
        ...

    async def aclose(self) -> None: ...


# --- the stored form --------------------------------------------------------------------------


def encode(draft: SealEventDraft) -> bytes:
    return orjson.dumps(
        {
            "provider": draft.provider.value,
            "sealId": draft.vendor_seal_id,
            "type": draft.type.value,
            "source": draft.source.value,
            "occurredAt": draft.occurred_at.timestamp(),
            "action": draft.vendor_action,
            "actor": draft.actor,
            "outcome": draft.outcome,
            "requestId": draft.request_id,
            "dedup": draft.dedup_key,
            "details": draft.details,
        }
    )


def decode(tenant: str, position: str, recorded_at: float, body: bytes) -> SealEvent:
    raw: dict[str, Any] = orjson.loads(body)
    draft = SealEventDraft(
        provider=ProviderName(raw["provider"]),
        vendor_seal_id=raw["sealId"],
        type=_member(SealEventType, raw["type"], SealEventType.OTHER),
        source=SealEventSource(raw["source"]),
        occurred_at=datetime.fromtimestamp(raw["occurredAt"], UTC),
        vendor_action=raw.get("action"),
        actor=raw.get("actor"),
        outcome=raw.get("outcome"),
        request_id=raw.get("requestId"),
        dedup_key=raw.get("dedup"),
        details=dict(raw.get("details") or {}),
    )
    return SealEvent(tenant, position, datetime.fromtimestamp(recorded_at, UTC), draft)


def _member(enum: Any, value: str, default: Any) -> Any:
    try:
        return enum(value)
    except ValueError:  # a type a later release added, read by an earlier one
        return default


# --- SQLite -----------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS seal_events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    occurred_at REAL NOT NULL,
    provider TEXT NOT NULL,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    vendor_seal_id TEXT NOT NULL,
    dedup_key TEXT,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS seal_events_fact
    ON seal_events (tenant, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS seal_events_tenant ON seal_events (tenant, position);
CREATE INDEX IF NOT EXISTS seal_events_age ON seal_events (recorded_at);
"""


class SqliteEventLog:
    """The log in one SQLite file, written by one thread (the connection's own), so the event
    loop never waits on the disk."""

    shared = False
    origin = "0"
    consecutive = True

    def __init__(self, path: Path, retention_s: float) -> None:
        self.path = path
        self.retention_s = retention_s
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="event-log")
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._swept = 0.0
        self._open_failed: str | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            # every commit synced: an answered notification is on the disk
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
            self._db = db
        return self._db

    async def _run(self, work: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, work, *args)
        except sqlite3.Error as error:
            log.error("the event log (%s) failed: %s", self.path.name, error)
            raise LogUnavailable(str(error)) from None

    def open(self) -> None:
        """Opens the file (made if absent) and drops events past the retention: at start-up,
        so that a data directory that cannot be written stops the gateway with its reason."""
        self._connect()
        self._sweep(time.time())

    async def append(self, tenant: str, draft: SealEventDraft) -> SealEvent | None:
        async with self._lock:  # one writer: positions are handed out in order
            row = await self._run(self._append, tenant, draft, time.time())
        if row is None:
            return None
        position, recorded_at = row
        return SealEvent(tenant, str(position), datetime.fromtimestamp(recorded_at, UTC), draft)

    def _append(self, tenant: str, draft: SealEventDraft, now: float) -> tuple[int, float] | None:
        db = self._connect()
        if now - self._swept > SWEEP_INTERVAL_S:
            self._sweep(now)
        if (
            draft.dedup_key is not None
            and db.execute(
                "SELECT 1 FROM seal_events WHERE tenant = ? AND dedup_key = ? AND recorded_at > ?",
                (tenant, draft.dedup_key, now - DEDUP_HORIZON_S),
            ).fetchone()
        ):
            return None
        cursor = db.execute(
            "INSERT INTO seal_events (tenant, recorded_at, occurred_at, provider, type,"
            " source, vendor_seal_id, dedup_key, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                tenant,
                now,
                draft.occurred_at.timestamp(),
                draft.provider.value,
                draft.type.value,
                draft.source.value,
                draft.vendor_seal_id,
                draft.dedup_key,
                encode(draft),
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid, now

    def _sweep(self, now: float) -> None:
        self._swept = now
        removed = (
            self._connect()
            .execute("DELETE FROM seal_events WHERE recorded_at < ?", (now - self.retention_s,))
            .rowcount
        )
        if removed:
            log.info("event log: %d events past the retention removed", removed)

    async def read(
        self, tenant: str, after: str | None, limit: int, query: EventQuery = EVERYTHING
    ) -> Batch:
        start = 0 if after is None else self.key(after)[0]
        rows: list[tuple[int, float, bytes]] = await self._run(
            self._read, tenant, start, limit + 1, query
        )
        more = len(rows) > limit
        events = [decode(tenant, str(p), at, body) for p, at, body in rows[:limit]]
        reached = events[-1].position if events else after
        return Batch(events, reached, more)

    def _read(
        self, tenant: str, start: int, limit: int, query: EventQuery
    ) -> list[tuple[int, float, bytes]]:
        sql = ["SELECT position, recorded_at, body FROM seal_events WHERE tenant = ?"]
        args: list[Any] = [tenant]
        sql.append("AND position > ?")
        args.append(start)
        if query.providers is not None:
            sql.append(f"AND provider IN ({_marks(query.providers)})")
            args.extend(p.value for p in query.providers)
        if query.types is not None:
            sql.append(f"AND type IN ({_marks(query.types)})")
            args.extend(t.value for t in query.types)
        if query.sources is not None:
            sql.append(f"AND source IN ({_marks(query.sources)})")
            args.extend(s.value for s in query.sources)
        if query.seals is not None:
            pairs = " OR ".join("(provider = ? AND vendor_seal_id = ?)" for _ in query.seals)
            sql.append(f"AND ({pairs or '0'})")
            for provider, seal in query.seals:
                args.extend((provider.value, seal))
        if query.since is not None:
            sql.append("AND occurred_at >= ?")
            args.append(query.since.timestamp())
        if query.until is not None:
            sql.append("AND occurred_at < ?")
            args.append(query.until.timestamp())
        sql.append("ORDER BY position LIMIT ?")
        args.append(limit)
        rows: list[tuple[int, float, bytes]] = (
            self._connect().execute(" ".join(sql), args).fetchall()
        )
        return rows

    async def last_position(self, tenant: str) -> str | None:
        found = await self._run(self._last, tenant)
        return None if found is None else str(found)

    def _last(self, tenant: str) -> int | None:
        row = (
            self._connect()
            .execute("SELECT MAX(position) FROM seal_events WHERE tenant = ?", (tenant,))
            .fetchone()
        )
        return None if row is None or row[0] is None else int(row[0])

    def key(self, position: str) -> PositionKey:
        if not position.isdigit():
            raise ValueError("not a position of this log")
        return (int(position), 0)

    async def aclose(self) -> None:
        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._thread, close)
        self._thread.shutdown(wait=True)


def _marks(values: Sequence[object] | frozenset[Any]) -> str:
    return ", ".join("?" for _ in values)


# --- Redis ------------------------------------------------------------------------------------

# KEYS[1] the tenant's stream, KEYS[2] the fact's key (in the stream's hash slot: the tenant's
# tag, so this runs on a cluster too); ARGV: how long the fact is remembered in ms, the oldest
# id kept, the event's fields, and whether the event has a fact key ("1").
APPEND = """
if ARGV[5] == '1' then
  if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) == false then
    return false
  end
end
local id = redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[2], '*',
  'at', ARGV[3], 'body', ARGV[4])
return id
"""


@dataclass
class RedisEventLog:
    """Each tenant's log as a Redis stream, `{prefix}events:{tenant}`."""

    address: RedisAddress
    retention_s: float
    prefix: str = "sealgw:"
    shared: bool = True
    origin: str = "0-0"
    consecutive: bool = False
    _redis: Any = field(init=False)
    _writer: Any = field(init=False)
    _append: Any = field(init=False)
    _reading: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        # appends on connections of their own: subscribers catching up (reads of many events)
        # never take the connections a notification needs to be recorded
        self._writer = self.address.async_client(socket_timeout=2.0, socket_connect_timeout=1.0)
        self._append = self._writer.register_script(APPEND)
        self._redis = self.address.async_client(socket_timeout=2.0, socket_connect_timeout=1.0)
        # reads wait their turn here rather than exhaust the client's pool (which refuses at
        # once when it is)
        self._reading = asyncio.Semaphore(CONCURRENT_READS)

    def stream(self, tenant: str) -> str:
        # the braces make the tenant's keys one hash slot (Redis Cluster)
        return f"{self.prefix}events:{{{tenant}}}"

    def tail_client(self, block_s: float) -> Any:
        """A client of its own for the blocking reads that follow the streams."""
        return self.address.async_client(socket_timeout=block_s + 2.0, socket_connect_timeout=1.0)

    async def append(self, tenant: str, draft: SealEventDraft) -> SealEvent | None:
        now = time.time()
        stream = self.stream(tenant)
        fact = f"{stream}:fact:{draft.dedup_key or ''}"
        oldest = f"{int((now - self.retention_s) * 1000)}-0"
        try:
            position = await self._append(
                keys=[stream, fact],
                args=[
                    int(DEDUP_HORIZON_S * 1000),
                    oldest,
                    repr(now),
                    encode(draft),
                    "1" if draft.dedup_key else "0",
                ],
            )
        except Exception as error:  # any Redis failure: not recorded, and the caller says so
            log.warning("the event log (Redis) did not record an event: %s", type(error).__name__)
            raise LogUnavailable(type(error).__name__) from None
        if position is None:
            return None
        text = position.decode() if isinstance(position, bytes) else str(position)
        return SealEvent(tenant, text, datetime.fromtimestamp(now, UTC), draft)

    async def read(
        self, tenant: str, after: str | None, limit: int, query: EventQuery = EVERYTHING
    ) -> Batch:
        start = "-" if after is None else f"({after}"
        if after is not None:
            self.key(after)
        found: list[SealEvent] = []
        scanned = 0
        reached = after
        try:
            while True:
                count = limit + 1 if query.everything else READ_BATCH
                async with self._reading:
                    rows = await self._redis.xrange(self.stream(tenant), min=start, count=count)
                if not rows:
                    return Batch(found, reached, False)
                for row_id, fields in rows:
                    event = self.decoded(tenant, row_id, fields)
                    scanned += 1
                    if not query.matches(event):
                        reached = event.position
                        continue
                    if len(found) == limit:
                        return Batch(found, reached, True)
                    found.append(event)
                    reached = event.position
                if len(rows) < count or scanned >= SCAN_LIMIT:
                    return Batch(found, reached, len(rows) == count)
                start = f"({reached}"
        except LogUnavailable:
            raise
        except Exception as error:
            raise LogUnavailable(type(error).__name__) from None

    def decoded(self, tenant: str, row_id: Any, fields: dict[Any, Any]) -> SealEvent:
        position = row_id.decode() if isinstance(row_id, bytes) else str(row_id)
        at = fields.get(b"at") or fields.get("at") or b"0"
        body = fields.get(b"body") or fields.get("body") or b"{}"
        raw = body if isinstance(body, bytes) else body.encode()
        return decode(tenant, position, float(at), raw)

    async def last_position(self, tenant: str) -> str | None:
        try:
            rows = await self._redis.xrevrange(self.stream(tenant), count=1)
        except Exception as error:
            raise LogUnavailable(type(error).__name__) from None
        if not rows:
            return None
        row_id = rows[0][0]
        return row_id.decode() if isinstance(row_id, bytes) else str(row_id)

    def key(self, position: str) -> PositionKey:
        ms, sep, seq = position.partition("-")
        if not sep or not ms.isdigit() or not seq.isdigit():
            raise ValueError("not a position of this log")
        return (int(ms), int(seq))

    async def aclose(self) -> None:
        await self._redis.aclose()
        await self._writer.aclose()


def open_event_log(
    redis_url: str | None, data_dir: str, retention_s: float
) -> SqliteEventLog | RedisEventLog:
    """The log the settings call for: Redis streams with Redis, else SQLite in `data_dir`."""
    if redis_url is not None:
        return RedisEventLog(RedisAddress.parse(redis_url), retention_s)
    return SqliteEventLog(Path(data_dir) / "events.sqlite3", retention_s)
