"""One event and a few figures per GraphQL operation: the `gateway.request` log line (request
id, tenant, operation, duration, vendor calls, outcome, error codes) and the Prometheus
operation metrics."""

from __future__ import annotations

import functools
import logging
from typing import Any

from graphql import GraphQLError
from prometheus_client import Counter, Histogram

from gateway.domain import GatewayError
from gateway.execution.errors import request_error_code
from gateway.ops.metrics import ERRORS, OPERATION_SECONDS, OPERATIONS, operation_label
from gateway.providers.resilience import REQUEST_BUDGET
from gateway.schema.context import GatewayContext

log = logging.getLogger("gateway.request")


@functools.lru_cache(maxsize=1024)
def _operations(name: str | None, kind: str, outcome: str) -> Counter:
    """The labelled counter, looked up once (prometheus_client's `labels` takes a lock and
    checks the labels on every call)."""
    return OPERATIONS.labels(operation_label(name), kind, outcome)


@functools.lru_cache(maxsize=16)
def _operation_seconds(kind: str) -> Histogram:
    return OPERATION_SECONDS.labels(kind)


def record_operation(
    name: str | None,
    kind: str,
    errors: list[GraphQLError],
    answered_data: bool,
    seconds: float,
    gateway_context: object,
) -> None:
    """The request event and the operation metrics, for any path that ran an operation. A
    provider's failure that a page told in its data (not in `errors`) counts here all the
    same: the answer was partial."""
    found = {str((e.extensions or {}).get("code") or request_error_code(e).value) for e in errors}
    told = []
    if isinstance(gateway_context, GatewayContext):
        told = [e for _, e in gateway_context.told_on_the_page if isinstance(e, GatewayError)]
    codes = sorted(found | {e.code.value for e in told})
    failed = bool(errors or told)
    outcome = ("partial" if answered_data else "error") if failed else "ok"
    _operations(name, kind, outcome).inc()
    _operation_seconds(kind).observe(seconds)
    for code in codes:
        ERRORS.labels(code).inc()
    if not log.isEnabledFor(logging.INFO):
        return  # the request log line is off (SEALGW_LOG_LEVEL above INFO): nothing to build
    budget = REQUEST_BUDGET.get()
    event: dict[str, Any] = {
        "event": "request",
        "operation": name,
        "type": kind,
        "outcome": outcome,
        "durationMs": round(seconds * 1000, 1),
        "vendorCalls": budget.spent if budget is not None else 0,
        "errorCodes": codes,
    }
    if isinstance(gateway_context, GatewayContext):
        caller = gateway_context.service.caller
        event.update(requestId=caller.request_id, tenant=caller.tenant, caller=caller.subject)
    log.info(
        "%s %s %s in %.1f ms, %d vendor calls",
        kind,
        name or "(anonymous)",
        outcome,
        event["durationMs"],
        event["vendorCalls"],
        extra=event,
    )
