"""One event and a few figures per GraphQL operation: the `gateway.request` log line (request
id, tenant, operation, duration, vendor calls, outcome, error codes) and the Prometheus
operation metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from strawberry.extensions import SchemaExtension

from gateway.metrics import ERRORS, OPERATION_SECONDS, OPERATIONS, operation_label
from gateway.providers.resilience import REQUEST_BUDGET
from gateway.schema.context import GatewayContext
from gateway.schema.errors import request_error_code

log = logging.getLogger("gateway.request")


class Observe(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        context = self.execution_context
        result = context.result
        errors = list((result.errors if result is not None else None) or [])
        errors += context.pre_execution_errors or []
        codes = sorted(
            {str((e.extensions or {}).get("code") or request_error_code(e).value) for e in errors}
        )
        data = result.data if result is not None else None
        outcome = "ok" if not errors else ("partial" if data else "error")
        kind = "unknown"
        if context.graphql_document is not None:
            try:
                kind = context.operation_type.value
            except RuntimeError:  # the document names no such operation
                kind = "unknown"
        name = context.operation_name
        OPERATIONS.labels(operation_label(name), kind, outcome).inc()
        OPERATION_SECONDS.labels(kind).observe(seconds)
        for code in codes:
            ERRORS.labels(code).inc()
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
        gateway_context = context.context
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
