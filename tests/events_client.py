"""Clients of the seal events, as their users run them: e签宝 sending a signed notification,
a graphql-transport-ws subscriber, a GraphQL-over-SSE subscriber, and the event log read by
the `sealEvents` query."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from gateway.events.esign_notify import notification_signature
from gateway.sandbox import state as demo
from tests.conftest import AUTH, SUITE_KEY

EVENT_FIELDS = """id cursor type source provider sealId vendorSealId occurredAt recordedAt
  actor outcome requestId vendorAction details { name value }"""
SUBSCRIPTION = f"""subscription Events($after: String, $filter: SealEventFilter) {{
  sealEvents(after: $after, filter: $filter) {{ {EVENT_FIELDS} }} }}"""


def notify(
    gateway_url: str,
    body: dict[str, Any] | bytes,
    *,
    path: str = "/webhooks/esign",
    query: str = "",
    app_id: str = demo.ESIGN_APP_ID,
    secret: str = demo.ESIGN_APP_SECRET,
    timestamp_ms: int | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """A notification as e签宝 sends one: JSON body, app id, millisecond timestamp, and the
    hex HMAC-SHA256 of timestamp + the URL's query values (keys sorted) + body."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    stamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    pairs = httpx.QueryParams(query).multi_items()
    headers = {
        "X-Tsign-Open-App-Id": app_id,
        "X-Tsign-Open-TIMESTAMP": stamp,
        "X-Tsign-Open-SIGNATURE": signature or notification_signature(stamp, pairs, raw, secret),
        "X-Tsign-Open-SIGNATURE-ALGORITHM": "hmac-sha256",
        "Content-Type": "application/json",
    }
    url = f"{gateway_url}{path}" + (f"?{query}" if query else "")
    return httpx.post(url, content=raw, headers=headers, timeout=10)


def events(
    gateway_url: str,
    *,
    headers: dict[str, str] | None = None,
    filter: dict[str, Any] | None = None,
    after: str | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Every event of the caller's tenant after `after` (the whole log without), oldest
    first, and the cursor after the last one (the log's start when it has none)."""
    found: list[dict[str, Any]] = []
    query = f"""query($after: String, $filter: SealEventFilter) {{
      sealEvents(first: 100, after: $after, filter: $filter) {{
        edges {{ cursor node {{ {EVENT_FIELDS} seal {{ name }} }} }}
        pageInfo {{ hasNextPage endCursor }} }} }}"""
    while True:
        response = httpx.post(
            f"{gateway_url}/graphql",
            json={"query": query, "variables": {"after": after, "filter": filter}},
            headers=headers or AUTH,
            timeout=10,
        )
        body = response.json()
        assert "errors" not in body, body
        page = body["data"]["sealEvents"]
        found.extend(edge["node"] for edge in page["edges"])
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            assert after is not None
            return found, after


class Subscriber:
    """One graphql-transport-ws subscription; `next` is its next event (pings answered)."""

    def __init__(self, socket: ClientConnection, operation_id: str = "1") -> None:
        self.socket = socket
        self.operation_id = operation_id

    def message(self, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(self.socket.recv(timeout))
            if message["type"] == "ping":
                self.socket.send(json.dumps({"type": "pong"}))
                continue
            return message

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        message = self.message(timeout)
        assert message["type"] == "next", message
        assert message["id"] == self.operation_id
        payload: dict[str, Any] = message["payload"]
        assert "errors" not in payload, payload
        event: dict[str, Any] = payload["data"]["sealEvents"]
        return event

    def subscribe(
        self, query: str, variables: dict[str, Any] | None = None, operation_id: str = "1"
    ) -> None:
        self.operation_id = operation_id
        payload = {"query": query, "variables": variables or {}}
        self.socket.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": payload}))


def ws_url(gateway_url: str, path: str = "/graphql") -> str:
    return gateway_url.replace("http://", "ws://") + path


@contextmanager
def connected(
    gateway_url: str, init: dict[str, Any] | None = None, path: str = "/graphql"
) -> Iterator[Subscriber]:
    """A graphql-transport-ws connection, initialised with the suite's key (or `init`)."""
    payload = {"Authorization": f"Bearer {SUITE_KEY}"} if init is None else init
    with connect(
        ws_url(gateway_url, path), subprotocols=["graphql-transport-ws"], open_timeout=10
    ) as socket:  # type: ignore[arg-type]
        socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(socket.recv(10))
        assert ack["type"] == "connection_ack", ack
        yield Subscriber(socket)


@contextmanager
def subscribed(
    gateway_url: str,
    after: str | None,
    filter: dict[str, Any] | None = None,
    init: dict[str, Any] | None = None,
) -> Iterator[Subscriber]:
    with connected(gateway_url, init) as subscriber:
        subscriber.subscribe(SUBSCRIPTION, {"after": after, "filter": filter})
        yield subscriber


def sse_events(
    gateway_url: str,
    after: str | None,
    count: int,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """`count` events of an SSE subscription (then it leaves), after `after`."""
    variables = {"after": after}
    request_headers = {**(headers or AUTH), "Accept": "text/event-stream"}
    with httpx.Client(timeout=10) as client:
        if method == "POST":
            stream = client.stream(
                "POST",
                f"{gateway_url}/graphql",
                json={"query": SUBSCRIPTION, "variables": variables},
                headers=request_headers,
            )
        else:
            stream = client.stream(
                "GET",
                f"{gateway_url}/graphql",
                params={"query": SUBSCRIPTION, "variables": json.dumps(variables)},
                headers=request_headers,
            )
        found: list[dict[str, Any]] = []
        with stream as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            kind = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and kind == "next":
                    payload = json.loads(line.removeprefix("data: "))
                    assert "errors" not in payload, payload
                    found.append(payload["data"]["sealEvents"])
                    if len(found) == count:
                        return found
                elif line.startswith("data:") and kind == "complete":
                    return found
    return found


def sse_to_the_end(
    gateway_url: str, headers: dict[str, str], chunks: list[str], opened: threading.Event
) -> None:
    """An SSE subscription to every event, read until the gateway ends it: its text appended
    to `chunks` as it comes, `opened` set at the first (the gateway's `: ok`). The client waits
    30 s for each chunk, longer than a test waits for the gateway to end it."""
    body = {"query": SUBSCRIPTION, "variables": {}}
    with httpx.stream(
        "POST",
        f"{gateway_url}/graphql",
        json=body,
        headers={**headers, "Accept": "text/event-stream"},
        timeout=30,
    ) as response:
        for chunk in response.iter_text():
            chunks.append(chunk)
            opened.set()
