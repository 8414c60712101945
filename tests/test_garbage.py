"""A read's objects are freed by reference counting as the request ends, not left in reference
cycles for the garbage collector: with a cycle per request (the plan's run and its helpers,
the loaders and their batch methods, the vendor read's timer), a page of 20 seals left about
a hundred objects a request to the collector, whose pauses were the sequential p99
(bench/RESULTS.md). Over real HTTP to a gateway in this process on each vendor (e签宝's reads,
with query parameters, once took httpx's own `send`, whose answer and its stream wrapper refer
to each other; they take the short way now), with every object the collector finds
unreachable saved."""

from __future__ import annotations

import gc
from collections import Counter
from typing import Any

import pytest

from tests.conftest import Gateway, StartGateway

SEAL_FIELDS = "id vendorId name code bizType status image { url } createdAt authorizationCount"
PAGE = (
    "query($after: String) { seals(first: 20, after: $after) { totalCount edges { cursor node {"
    f" {SEAL_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
)
ONE = f"query($id: ID!) {{ seal(id: $id) {{ {SEAL_FIELDS} }} }}"
AUTHORIZATIONS = (
    "query($id: ID!) { seal(id: $id) { name authorizations(first: 10) {"
    " edges { node { id vendorId } } } } }"
)
# what only the gateway's side of a request makes (the sandbox and the test's own client,
# in this process too, are left out)
GATEWAY_SIDE = (
    "gateway.",
    "aiodataloader",
    "strawberry",
    "graphql.execution",
    "httpx._client.BoundAsync",
)


def ask(gateway: Gateway, document: str, **variables: Any) -> dict[str, Any]:
    response = gateway.client.post(
        f"{gateway.url}/graphql", json={"query": document, "variables": variables}
    )
    body: dict[str, Any] = response.json()
    assert response.status_code == 200, response.text
    assert "errors" not in body, response.text
    return body["data"]


def reads(gateway: Gateway) -> None:
    page = ask(gateway, PAGE)["seals"]
    ask(gateway, PAGE, after=page["pageInfo"]["endCursor"])
    for edge in page["edges"][:3]:
        ask(gateway, ONE, id=edge["node"]["id"])
        ask(gateway, AUTHORIZATIONS, id=edge["node"]["id"])


def unreachable_after(gateway: Gateway) -> Counter[str]:
    """The types of what the collector finds unreachable after the reads, by name."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        reads(gateway)
        gc.collect()
        return Counter(
            f"{type(found).__module__}.{type(found).__qualname__}" for found in gc.garbage
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


@pytest.mark.parametrize("vendor", ["YUNYIN", "ESIGN"])
def test_reads_leave_nothing_to_the_garbage_collector(
    start_gateway: StartGateway, vendor: str
) -> None:
    gateway = start_gateway(only=vendor)
    reads(gateway)  # documents parsed, validated and planned; tokens fetched
    found = unreachable_after(gateway)
    left = {
        name: count
        for name, count in found.items()
        if name.startswith(GATEWAY_SIDE) and not name.startswith("gateway.sandbox")
    }
    assert left == {}
