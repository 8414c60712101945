"""Prometheus metrics (prometheus_client), defined once for every layer that counts something.

With several worker processes, `PROMETHEUS_MULTIPROC_DIR` (set by `seal-gateway serve
--workers N`) makes every worker write its figures there and `/metrics` add them up."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

__all__ = ["CONTENT_TYPE_LATEST", "exposition"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

OPERATIONS = Counter(
    "sealgw_operations_total",
    "GraphQL operations by name, type and outcome (ok, partial, error).",
    ["operation", "type", "outcome"],
)
OPERATION_SECONDS = Histogram(
    "sealgw_operation_duration_seconds",
    "Time to answer a GraphQL operation.",
    ["type"],
    buckets=LATENCY_BUCKETS,
)
ERRORS = Counter("sealgw_errors_total", "Errors in answers, by extensions.code.", ["code"])
VENDOR_CALLS = Counter(
    "sealgw_vendor_calls_total",
    "Vendor calls by vendor, endpoint and outcome (ok, or the error code).",
    ["vendor", "endpoint", "outcome"],
)
VENDOR_SECONDS = Histogram(
    "sealgw_vendor_call_duration_seconds",
    "Time of a vendor call (retries included).",
    ["vendor", "endpoint"],
    buckets=LATENCY_BUCKETS,
)
LOADER_BATCH = Histogram(
    "sealgw_loader_batch_size",
    "Keys per dataloader batch.",
    ["loader"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200),
)
PLANNED = Counter(
    "sealgw_planned_operations_total",
    "Queries answered through a compiled plan; the rest ran on the standard executor.",
)
TOKEN_FETCHES = Counter(
    "sealgw_token_fetches_total", "Access tokens fetched from a vendor.", ["vendor"]
)

READ_CACHE = Counter(
    "sealgw_read_cache_total",
    "Vendor reads answered from the read cache (hit) or fetched (miss), by vendor and read.",
    ["vendor", "read", "outcome"],
)
SEAL_EVENTS = Counter(
    "sealgw_seal_events_total",
    "Seal events recorded in the event log, by source and type.",
    ["source", "type"],
)
NOTIFICATIONS = Counter(
    "sealgw_vendor_notifications_total",
    "Vendor notifications received, by vendor and outcome (recorded, repeated, refused_4xx, "
    "not_recorded).",
    ["vendor", "outcome"],
)
SUBSCRIPTIONS = Counter(
    "sealgw_subscriptions_total",
    "Subscriptions started, by transport (ws, sse); their end in sealgw_subscriptions_ended_total.",
    ["transport"],
)
SUBSCRIPTIONS_ENDED = Counter(
    "sealgw_subscriptions_ended_total", "Subscriptions ended, by transport.", ["transport"]
)

# Operation names are the clients' words: a bounded set of them becomes labels.
MAX_OPERATION_NAMES = 200
_seen_names: set[str] = set()


def operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    if name in _seen_names:
        return name
    if len(_seen_names) >= MAX_OPERATION_NAMES or len(name) > 64:
        return "other"
    _seen_names.add(name)
    return name


def exposition() -> bytes:
    """The text /metrics answers: this process's figures, or every worker's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


def serve_metrics(host: str, port: int) -> int:
    """/metrics on a port of its own, from a thread of this process (the supervisor's with
    several workers: it adds up theirs), so that the API's port need not serve scrapers.
    Returns the port (0 picks one)."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    server, _ = start_http_server(port, addr=host, registry=registry)
    return int(server.server_port)
