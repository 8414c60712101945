"""Each speed step of the request path answers byte for byte what the gateway answers with that
step switched off: every query document the tests use, the benchmark's, and one reading every
field of every sandbox seal, with two sets of variables (and with vendors failing, for the
steps on the vendor side), sent over real HTTP to a gateway with every step on and to one with
the step off, over the same sandbox. Each comparison also checks that the step was taken (a
step that never ran would pass the comparison and prove nothing)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.providers.connections import ConnectionPool
from gateway.providers.http import VendorClient
from gateway.sandbox import Sandbox
from tests.conftest import Gateway, StartGateway
from tests.test_lean import VARIABLES, VOLATILE, query_documents
from tests.test_plan import FAULTS

# headers that differ from one answer to the next whatever the gateway does (the length of a
# compressed answer too: the sandbox signs its image links afresh each time)
PER_ANSWER = {"date", "x-request-id", "content-length"}


def compare(gateways: tuple[Gateway, Gateway], document: str, variables: dict[str, Any]) -> None:
    body = {"query": document, "variables": variables}
    on, off = (
        g.client.post(f"{g.url}/graphql", json=body, headers={"X-Query-Cost": "1"})
        for g in gateways
    )
    assert on.status_code == off.status_code, document
    assert [(k, v) for k, v in on.headers.items() if k not in PER_ANSWER] == [
        (k, v) for k, v in off.headers.items() if k not in PER_ANSWER
    ], document
    assert VOLATILE.sub(rb"\1~", on.content) == VOLATILE.sub(rb"\1~", off.content), (
        document,
        variables,
        on.text[:600],
        off.text[:600],
    )


class Counted:
    """Counts calls of one method while a test runs (the gateway runs in this process)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> None:
        self.calls = 0
        original = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


def run_all(gateways: tuple[Gateway, Gateway]) -> int:
    documents = query_documents()
    assert len(documents) >= 15
    for document in documents:
        for variables in VARIABLES:
            compare(gateways, document, variables)
    return len(documents)


def test_direct_vendor_http_answers_the_same_bytes(
    start_gateway: StartGateway, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    exchanges = Counted(monkeypatch, ConnectionPool, "exchange")
    gateways = (start_gateway(), start_gateway(SEALGW_DIRECT_VENDOR_HTTP="off"))
    documents = run_all(gateways)
    assert exchanges.calls >= documents
    for fault in FAULTS:
        sandbox.faults[:] = [fault]
        for document in query_documents():
            compare(gateways, document, VARIABLES[1])
    sandbox.faults[:] = []


def test_lean_vendor_send_answers_the_same_bytes(
    start_gateway: StartGateway, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The short way through httpx's client: the same answers, healthy and with vendors
    failing, e签宝's signatures and both vendors' tokens included (the sandbox checks them)."""
    sends = Counted(monkeypatch, VendorClient, "_lean_send")
    gateways = (start_gateway(), start_gateway(SEALGW_LEAN_VENDOR_SEND="off"))
    documents = run_all(gateways)
    assert sends.calls >= documents
    for fault in FAULTS:
        sandbox.faults[:] = [fault]
        for document in query_documents():
            compare(gateways, document, VARIABLES[1])
    sandbox.faults[:] = []
