"""Observability: Prometheus /metrics, one JSON log event per request, OpenTelemetry spans
(one per operation, one per vendor call beneath it), `X-Request-Id` throughout."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.sandbox import Sandbox
from gateway.sandbox.state import Fault
from tests.conftest import AUTH, Gateway, SandboxServer, StartGateway
from tests.test_cli import start_serving

SEALS = "query Seals { seals(first: 3) { edges { node { id name bizType } } } }"


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        labels_text, value = line[len(name) :].rsplit(" ", 1)
        found = dict(re.findall(r'(\w+)="([^"]*)"', labels_text))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


def test_metrics_count_operations_vendor_calls_batches_tokens_and_errors(
    gateway: Gateway, sandbox: Sandbox
) -> None:
    before = gateway.client.get(f"{gateway.url}/metrics").text
    assert gateway.data(SEALS)["seals"]["edges"]
    sandbox.faults.append(Fault("esign", "v1.list", status=200, code="1435002", times=1))
    gateway.query("query Failing { seals(first: 3) { edges { node { id } } } }")
    response = gateway.client.get(f"{gateway.url}/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text

    def grew(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert grew("sealgw_operations_total", operation="Seals", type="query", outcome="ok") == 1
    # e签宝 failed, 云银签's seals came: data and an error
    assert grew("sealgw_operations_total", operation="Failing", outcome="partial") == 1
    listing = "GET /v1/organizations/{orgId}/seals"
    assert grew("sealgw_vendor_calls_total", vendor="esign", endpoint=listing, outcome="ok") == 1
    assert (
        grew(
            "sealgw_vendor_calls_total", vendor="esign", endpoint=listing, outcome="UPSTREAM_ERROR"
        )
        == 1
    )
    assert grew("sealgw_vendor_call_duration_seconds_count", vendor="esign", endpoint=listing) == 2
    assert grew("sealgw_loader_batch_size_count", loader="seal_page") >= 1
    assert grew("sealgw_errors_total", code="UPSTREAM_ERROR") == 1
    assert grew("sealgw_operation_duration_seconds_count", type="query") == 2
    assert "sealgw_token_fetches_total" in after


def test_one_json_log_event_per_request(sandbox_server: SandboxServer, sandbox: Sandbox) -> None:
    url, process, _ = start_serving(**sandbox_server.env(SEALGW_LOG_FORMAT="json"))
    try:
        response = httpx.post(
            f"{url}/graphql",
            json={"query": SEALS},
            headers={**AUTH, "X-Request-Id": "req-0042"},
        )
        assert response.headers["x-request-id"] == "req-0042"
        assert response.json()["data"]["seals"]["edges"]
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert events, output
    assert all({"time", "level", "logger", "message"} <= set(e) for e in events)
    (event,) = [e for e in events if e.get("event") == "request"]
    assert event["requestId"] == "req-0042"
    assert event["operation"] == "Seals"
    assert event["type"] == "query"
    assert event["outcome"] == "ok"
    assert event["tenant"] == "default"
    assert event["vendorCalls"] == sandbox.count("esign") + sandbox.count("yunyin")
    assert event["durationMs"] > 0


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """The SDK with an in-memory exporter, as the process's tracer provider (set once)."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    assert isinstance(provider, TracerProvider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # later tests' spans are no longer kept


def test_a_span_per_operation_and_per_vendor_call(
    start_gateway: StartGateway, sandbox: Sandbox, spans: InMemorySpanExporter
) -> None:
    gateway = start_gateway(SEALGW_OTLP_ENDPOINT="http://127.0.0.1:4318")
    assert gateway.data(SEALS)["seals"]["edges"]
    finished = spans.get_finished_spans()
    vendor = [s for s in finished if s.name.startswith(("esign ", "yunyin "))]
    # the v1 list, and the v3 list for the business types: one span each, as many as calls
    assert sorted(s.name for s in vendor) == [
        "esign GET /v1/organizations/{orgId}/seals",
        "esign GET /v3/seals/org-own-seal-list",
    ]
    assert len(vendor) == sandbox.count("esign") + sandbox.count("yunyin")
    assert all(s.attributes and s.attributes["sealgw.vendor"] == "esign" for s in vendor)
    (operation,) = [s for s in finished if s.name == "GraphQL Query: Seals"]
    # the vendor calls are part of the operation's trace, beneath it
    assert {s.context.trace_id for s in vendor} == {operation.context.trace_id}


@pytest.mark.parametrize("plans", ["on", "off"])
def test_an_error_is_counted_once_by_its_own_code(
    start_gateway: StartGateway, sandbox: Sandbox, plans: str
) -> None:
    """A resolver's error counts under the code clients see, once, whichever path ran the
    query (a compiled plan or the standard executor); not also as a request error."""
    gateway = start_gateway(SEALGW_QUERY_PLANS=plans)
    before = gateway.client.get(f"{gateway.url}/metrics").text
    body = gateway.query('query Wrong { seal(id: "not-an-id") { name } }')
    (error,) = body["errors"]
    code = error["extensions"]["code"]
    after = gateway.client.get(f"{gateway.url}/metrics").text

    def grew(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert grew("sealgw_errors_total", code=code) == 1
    others = {
        found
        for found in re.findall(r'sealgw_errors_total\{code="(\w+)"\}', after)
        if found != code
    }
    assert all(grew("sealgw_errors_total", code=other) == 0 for other in others)
    assert (
        grew("sealgw_operations_total", operation="Wrong", outcome="partial")
        + grew("sealgw_operations_total", operation="Wrong", outcome="error")
        == 1
    )


class Collector:
    """An OTLP/HTTP collector on loopback: the spans of every export the gateway sends."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        self.spans: list[Any] = []
        spans = self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                export = ExportTraceServiceRequest()
                export.ParseFromString(self.rfile.read(length))
                for resource in export.resource_spans:
                    for scope in resource.scope_spans:
                        spans.extend(scope.spans)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def collector() -> Iterator[Collector]:
    collector = Collector()
    yield collector
    collector.server.shutdown()
    collector.server.server_close()


CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


def test_the_callers_trace_continues_through_the_gateway_to_the_vendors(
    sandbox_server: SandboxServer, sandbox: Sandbox, collector: Collector
) -> None:
    url, process, _ = start_serving(**sandbox_server.env(SEALGW_OTLP_ENDPOINT=collector.url))
    try:
        response = httpx.post(
            f"{url}/graphql",
            json={"query": SEALS},
            headers={**AUTH, "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
        )
        assert response.json()["data"]["seals"]["edges"]
    finally:
        process.terminate()  # a clean stop exports what is left
        process.communicate(timeout=20)
    spans = {span.span_id.hex(): span for span in collector.spans}
    (operation,) = [s for s in spans.values() if s.name == "GraphQL Query: Seals"]
    # the gateway's span is the caller's span's child, in the caller's trace
    assert operation.trace_id.hex() == CALLER_TRACE
    assert operation.parent_span_id.hex() == CALLER_SPAN
    vendor = [s for s in spans.values() if s.name.startswith("esign ")]
    assert vendor
    assert all(s.trace_id.hex() == CALLER_TRACE for s in vendor)
    # each vendor call carried its own span as the parent of what the vendor does
    sent = [r.headers.get("traceparent", "") for r in sandbox.requests]
    assert sent
    assert all(value.startswith(f"00-{CALLER_TRACE}-") for value in sent), sent
    assert {value.split("-")[2] for value in sent} <= set(spans)


def test_without_tracing_the_callers_trace_context_is_passed_on(
    gateway: Gateway, sandbox: Sandbox
) -> None:
    traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    response = gateway.client.post(
        f"{gateway.url}/graphql", json={"query": SEALS}, headers={"traceparent": traceparent}
    )
    assert response.json()["data"]["seals"]["edges"]
    sent = [r.headers.get("traceparent", "") for r in sandbox.requests]
    # the caller's own, or (where this process traces for another test) a child of it
    assert sent
    assert all(value.startswith(f"00-{CALLER_TRACE}-") for value in sent), sent
    # without one, nothing is made up (where this test process traces for another test, the
    # vendor calls' own spans are sent on, as a tracing gateway's are)
    sandbox.requests.clear()
    gateway.data(SEALS)
    sent = [r.headers.get("traceparent") for r in sandbox.requests]
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        assert all(value is None or not value.startswith(f"00-{CALLER_TRACE}-") for value in sent)
    else:
        assert sent == [None] * len(sent)


def test_metrics_on_a_port_of_their_own(sandbox_server: SandboxServer) -> None:
    url, process, _ = start_serving(**sandbox_server.env(SEALGW_METRICS_PORT="0"))
    try:
        assert process.stdout is not None
        found = None
        while found is None:
            line = process.stdout.readline()
            assert line, "no metrics line"
            found = re.search(r"metrics at (http://[\d.:]+)/metrics", line)
        metrics_url = found.group(1)
        assert metrics_url != url
        assert httpx.post(f"{url}/graphql", json={"query": SEALS}, headers=AUTH).status_code == 200
        scraped = httpx.get(f"{metrics_url}/metrics")
        assert scraped.status_code == 200
        assert metric(scraped.text, "sealgw_operations_total", operation="Seals") == 1
        # the API's port no longer serves them
        assert httpx.get(f"{url}/metrics", headers=AUTH).status_code == 404
    finally:
        process.terminate()
        process.communicate(timeout=20)


def test_a_taken_metrics_port_is_one_clear_line(sandbox_server: SandboxServer) -> None:
    import socket

    from tests.test_cli import run_cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(
            "serve", "--port", "0", **sandbox_server.env(SEALGW_METRICS_PORT=str(port))
        )
    assert result.returncode == 2
    assert (
        f"cannot serve metrics on 127.0.0.1:{port}: the port is in use (another process "
        "listens there; pick another with SEALGW_METRICS_PORT)." in result.stderr
    )
    assert "Traceback" not in result.stderr
