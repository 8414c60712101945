"""Seal events over real HTTP and WebSocket on loopback: e签宝's notifications received and
checked, the gateway's writes recorded, the log read by `sealEvents`, followed live over
graphql-transport-ws and SSE, resumed from a cursor, bounded by the subscription limits, and
kept across a restart."""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from gateway.events.esign_notify import notification_signature
from gateway.sandbox import Sandbox
from gateway.sandbox import state as demo
from tests.conftest import AUTH, Gateway, StartGateway, TenantsGateway
from tests.events_client import (
    SUBSCRIPTION,
    Subscriber,
    connected,
    events,
    notify,
    sse_events,
    subscribed,
    ws_url,
)
from tests.test_read_path import global_id

pytestmark = pytest.mark.timeout(120)

RENAME = """mutation($id: ID!, $name: String!) {
  renameSeal(input: {sealId: $id, name: $name}) { seal { name } userErrors { code } } }"""
YUNYIN_SEAL = global_id("Seal", "yunyin:50001")


def audit(
    seal_id: str, passed: bool = True, org: str = demo.ESIGN_ORG_A, name: str = "图片印章"
) -> dict[str, Any]:
    """A SEAL_AUDIT notification in the shape of e签宝's page (a body e签宝 sends once: the
    same body again is a delivery of the same notification)."""
    return {
        "action": "SEAL_AUDIT",
        "auditStatus": 1 if passed else 0,
        "bodyVersion": "V3",
        "orgId": org,
        "rejectReason": "" if passed else "印章内容不符合要求，请重新修改。",
        "sealBizType": "COMMON",
        "sealId": seal_id,
        "sealName": name,
        "statusDescription": "通过" if passed else "驳回",
    }


def rename(gateway_url: str, name: str, seal: str = YUNYIN_SEAL) -> httpx.Response:
    response = httpx.post(
        f"{gateway_url}/graphql",
        json={"query": RENAME, "variables": {"id": seal, "name": name}},
        headers=AUTH,
        timeout=10,
    )
    assert response.json()["data"]["renameSeal"]["userErrors"] == [], response.text
    return response


def esign_seal(sandbox: Sandbox) -> str:
    return next(s.seal_id for s in sandbox.esign_seals if s.org_id == demo.ESIGN_ORG_A)


# --- e签宝's notifications --------------------------------------------------------------------


def test_a_signed_notification_is_recorded_then_answered_and_told_to_subscribers(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway()
    seal = esign_seal(sandbox)
    _, end = events(gateway.url)
    with subscribed(gateway.url, end) as subscriber:
        response = notify(gateway.url, audit(seal, passed=False))
        assert response.status_code == 200
        assert response.content == b'{"code":"200","msg":"success"}'
        event = subscriber.next()
    assert event["type"] == "REVIEW_REJECTED"
    assert event["source"] == "VENDOR_NOTIFICATION"
    assert event["provider"] == "ESIGN"
    assert event["vendorSealId"] == seal
    assert event["sealId"] == global_id("Seal", f"esign:{seal}")
    assert event["vendorAction"] == "SEAL_AUDIT"
    assert {"name": "rejectReason", "value": "印章内容不符合要求，请重新修改。"} in event["details"]
    assert event["actor"] is None
    # the same event in the log, with the seal as it is now
    (recorded,), _ = events(gateway.url, after=end)
    assert recorded["id"] == event["id"]
    assert recorded["cursor"] == event["cursor"]
    assert recorded["seal"]["name"]


def test_the_same_notification_delivered_twice_is_one_event(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway()
    body = json.dumps(audit(esign_seal(sandbox)), ensure_ascii=False).encode()
    first = notify(gateway.url, body)
    # e签宝 retries with the same body and a new timestamp
    again = notify(gateway.url, body, timestamp_ms=int(time.time() * 1000) + 5)
    assert first.status_code == again.status_code == 200
    found, _ = events(gateway.url)
    assert [e["type"] for e in found] == ["REVIEW_PASSED"]


def test_an_action_the_gateway_does_not_know_is_kept_as_other(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway()
    body = {
        "action": "SEAL_SOMETHING_NEW",
        "sealId": esign_seal(sandbox),
        "orgId": demo.ESIGN_ORG_A,
    }
    assert notify(gateway.url, body).status_code == 200
    (event,), _ = events(gateway.url)
    assert (event["type"], event["vendorAction"]) == ("OTHER", "SEAL_SOMETHING_NEW")


def test_the_callback_urls_query_values_are_part_of_the_signature(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway()
    body = audit(esign_seal(sandbox))
    raw = json.dumps(body, ensure_ascii=False).encode()
    stamp = int(time.time() * 1000)
    # registered as …/webhooks/esign?source=esign&channel=seals: signed over "sealsesign"
    signed = notify(gateway.url, raw, query="source=esign&channel=seals", timestamp_ms=stamp)
    assert signed.status_code == 200
    without = notification_signature(str(stamp), [], raw, demo.ESIGN_APP_SECRET)
    refused = notify(gateway.url, raw, query="source=esign", timestamp_ms=stamp, signature=without)
    assert refused.status_code == 401


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"signature": "0" * 64}, 401),
        ({"secret": "not-the-app-secret"}, 401),
        ({"app_id": "another-app"}, 401),
        ({"timestamp_ms": int(time.time() * 1000) - 16 * 60 * 1000}, 401),
        ({"body": b"not json"}, 400),
        ({"body": {"sealId": "x", "orgId": demo.ESIGN_ORG_A}}, 400),
        ({"body": "another organisation"}, 400),
        ({"path": "/webhooks/esign/nobody"}, 404),
        ({"body": b"{" + b" " * 70_000 + b"}"}, 413),
    ],
)
def test_a_notification_that_is_not_e签宝s_or_not_ours_is_refused_and_not_recorded(
    start_gateway: StartGateway,
    sandbox: Sandbox,
    change: dict[str, Any],
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = start_gateway()
    body: Any = change.pop("body", audit(esign_seal(sandbox)))
    if body == "another organisation":
        body = audit(esign_seal(sandbox), org=demo.ESIGN_ORG_B)
    response = notify(gateway.url, body, **change)
    if status == 400 and body != b"not json" and isinstance(body, dict):
        assert response.status_code in (400, 403, 422), response.text
    else:
        assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    found, _ = events(gateway.url)
    assert found == []
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.webhooks"]
    assert any("refused an e签宝 notification" in line for line in lines)
    assert not any(demo.ESIGN_APP_SECRET in line for line in lines)


def test_each_tenant_has_its_own_address_and_sees_only_its_events(
    tenants_gateway: TenantsGateway,
) -> None:
    gateway = tenants_gateway
    seal = esign_seal(gateway.sandboxes["acme"].sandbox)
    acme = {"Authorization": f"Bearer {gateway.keys['acme-admin']}"}
    globex = {"Authorization": f"Bearer {gateway.keys['globex-admin']}"}
    _, acme_end = events(gateway.url, headers=acme)
    _, globex_end = events(gateway.url, headers=globex)
    acme_secret = "acme-esign-secret-7c1d9e"
    # acme's notification at globex's address does not verify (another app)
    refused = notify(
        gateway.url,
        audit(seal),
        path="/webhooks/esign/globex",
        app_id="acme-esign-app",
        secret=acme_secret,
    )
    assert refused.status_code == 401
    accepted = notify(
        gateway.url,
        audit(seal),
        path="/webhooks/esign/acme",
        app_id="acme-esign-app",
        secret=acme_secret,
    )
    assert accepted.status_code == 200
    acme_events, _ = events(gateway.url, headers=acme, after=acme_end)
    globex_events, _ = events(gateway.url, headers=globex, after=globex_end)
    assert [e["type"] for e in acme_events] == ["REVIEW_PASSED"]
    assert globex_events == []
    # a cursor of acme's is, to globex, no cursor at all
    response = httpx.post(
        f"{gateway.url}/graphql",
        json={
            "query": "query($a: String) { sealEvents(after: $a) { edges { cursor } } }",
            "variables": {"a": acme_events[0]["cursor"]},
        },
        headers=globex,
    )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == "`after` is not a cursor of this connection."


# --- the gateway's own writes -------------------------------------------------------------------


def test_a_write_through_the_gateway_is_an_event_with_its_actor_and_request(
    start_gateway: StartGateway,
) -> None:
    gateway = start_gateway()
    _, end = events(gateway.url)
    with subscribed(gateway.url, end) as subscriber:
        response = rename(gateway.url, "事件测试章")
        event = subscriber.next()
    assert event["type"] == "UPDATED"
    assert event["source"] == "GATEWAY_WRITE"
    assert event["actor"] == "key:suite"
    assert event["outcome"] == "ok"
    assert event["requestId"] == response.headers["x-request-id"]
    assert {"name": "operation", "value": "renameSeal"} in event["details"]
    assert event["sealId"] == YUNYIN_SEAL


# --- subscriptions --------------------------------------------------------------------------------


def test_a_subscriber_that_reconnects_with_its_last_cursor_misses_nothing_and_gets_nothing_twice(
    start_gateway: StartGateway,
) -> None:
    gateway = start_gateway()
    _, start = events(gateway.url)
    with subscribed(gateway.url, start) as subscriber:
        rename(gateway.url, "第一次")
        rename(gateway.url, "第二次")
        seen = [subscriber.next(), subscriber.next()]
    # while it is away
    for name in ("第三次", "第四次", "第五次"):
        rename(gateway.url, name)
    with subscribed(gateway.url, seen[-1]["cursor"]) as subscriber:
        seen += [subscriber.next() for _ in range(3)]
        rename(gateway.url, "第六次")
        seen.append(subscriber.next())
        with pytest.raises(TimeoutError):
            subscriber.message(timeout=0.5)
    log, _ = events(gateway.url, after=start)
    assert [e["id"] for e in seen] == [e["id"] for e in log]
    assert len({e["id"] for e in seen}) == 6


def test_sse_streams_the_same_events_by_post_and_by_get(start_gateway: StartGateway) -> None:
    gateway = start_gateway()
    _, start = events(gateway.url)
    rename(gateway.url, "SSE 一")
    rename(gateway.url, "SSE 二")
    by_post = sse_events(gateway.url, start, 2)
    by_get = sse_events(gateway.url, start, 2, method="GET")
    log, _ = events(gateway.url, after=start)
    assert [e["id"] for e in by_post] == [e["id"] for e in by_get] == [e["id"] for e in log]


def test_a_filtered_subscription_sends_only_what_matches(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway()
    _, start = events(gateway.url)
    only_notifications = {"sources": ["VENDOR_NOTIFICATION"]}
    with subscribed(gateway.url, start, only_notifications) as subscriber:
        rename(gateway.url, "不是通知")
        notify(gateway.url, audit(esign_seal(sandbox)))
        event = subscriber.next()
        assert event["source"] == "VENDOR_NOTIFICATION"
    written, _ = events(gateway.url, filter={"sources": ["GATEWAY_WRITE"]}, after=start)
    assert [e["source"] for e in written] == ["GATEWAY_WRITE"]


def test_a_viewer_may_subscribe(tenants_gateway: TenantsGateway) -> None:
    viewer = {"Authorization": f"Bearer {tenants_gateway.keys['acme-viewer']}"}
    _, end = events(tenants_gateway.url, headers=viewer)
    seal = esign_seal(tenants_gateway.sandboxes["acme"].sandbox)
    with subscribed(tenants_gateway.url, end, init=viewer) as subscriber:
        notify(
            tenants_gateway.url,
            audit(seal, name="观察者看到的印章"),
            path="/webhooks/esign/acme",
            app_id="acme-esign-app",
            secret="acme-esign-secret-7c1d9e",
        )
        assert subscriber.next()["type"] == "REVIEW_PASSED"


@pytest.mark.parametrize(
    ("init", "code"),
    [({}, 4401), ({"Authorization": "Bearer not-a-key"}, 4403)],
)
def test_a_subscriber_without_good_credentials_is_refused_at_connection_init(
    start_gateway: StartGateway, init: dict[str, str], code: int
) -> None:
    gateway = start_gateway()
    with connect(ws_url(gateway.url), subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        socket.send(json.dumps({"type": "connection_init", "payload": init}))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code


def test_the_websocket_protocol_is_kept(start_gateway: StartGateway) -> None:
    gateway = start_gateway()
    # a client that does not speak graphql-transport-ws
    with connect(ws_url(gateway.url)) as socket, pytest.raises(ConnectionClosed) as closed:
        socket.recv(5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406
    # a query over the socket answers once and completes, as over HTTP
    with connected(gateway.url) as subscriber:
        subscriber.subscribe("{ providers { provider } }", operation_id="q")
        answer = subscriber.message()
        assert answer["type"] == "next"
        assert answer["payload"]["data"]["providers"]
        assert subscriber.message() == {"id": "q", "type": "complete"}
        # an id in use may not be used again
        subscriber.subscribe(SUBSCRIPTION, operation_id="s")
        subscriber.subscribe(SUBSCRIPTION, operation_id="s")
        with pytest.raises(ConnectionClosed) as closed:
            subscriber.message(5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4409


def test_a_bad_cursor_ends_the_subscription_with_a_coded_error(
    start_gateway: StartGateway,
) -> None:
    gateway = start_gateway()
    with connected(gateway.url) as subscriber:
        subscriber.subscribe(SUBSCRIPTION, {"after": "bm90IGEgY3Vyc29y"})
        message = subscriber.message()
        assert message["type"] == "next"
        (error,) = message["payload"]["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert subscriber.message()["type"] == "complete"


def a_second_is_refused(subscriber: Subscriber, code: str) -> None:
    """Subscribes `a`, then `b`, which is refused with `code` (`a` holds the one place)."""
    subscriber.subscribe(SUBSCRIPTION, operation_id="a")
    subscriber.subscribe(SUBSCRIPTION, operation_id="b")
    refused = subscriber.message()
    assert (refused["type"], refused["id"]) == ("error", "b")
    assert refused["payload"][0]["extensions"]["code"] == code


def test_subscription_limits_heartbeat_and_idle_end(start_gateway: StartGateway) -> None:
    gateway = start_gateway(
        SEALGW_MAX_SUBSCRIPTIONS_PER_CALLER="1",
        SEALGW_SUBSCRIPTION_HEARTBEAT="0.2",
        SEALGW_SUBSCRIPTION_IDLE="1.5",
    )
    with connected(gateway.url) as subscriber:
        a_second_is_refused(subscriber, "RATE_LIMITED")
        # the server's heartbeat
        ping = json.loads(subscriber.socket.recv(5))
        assert ping == {"type": "ping"}
        # quiet for longer than the idle lifetime: completed, and its place is free again
        deadline = time.monotonic() + 5
        while (message := subscriber.message(5))["type"] != "complete":
            assert time.monotonic() < deadline, message
        assert message["id"] == "a"
        subscriber.subscribe(SUBSCRIPTION, operation_id="c")
        rename(gateway.url, "限额之后")
        assert subscriber.next()["source"] == "GATEWAY_WRITE"
    # SSE holds to the same count
    response = httpx.post(
        f"{gateway.url}/graphql",
        json={"query": "subscription { sealEvents { id } }"},
        headers={**AUTH, "Accept": "text/event-stream"},
        timeout=5,
    )
    assert response.status_code == 200  # the socket above is closed: its place is free


def test_a_subscription_over_plain_json_is_refused_with_how_to_subscribe(
    start_gateway: StartGateway,
) -> None:
    gateway = start_gateway()
    response = httpx.post(
        f"{gateway.url}/graphql",
        json={"query": "subscription { sealEvents { id } }"},
        headers=AUTH,
    )
    (error,) = response.json()["errors"]
    assert "text/event-stream" in error["message"]
    assert error["extensions"]["code"] == "BAD_REQUEST"


# --- durability -------------------------------------------------------------------------------


def test_an_event_received_before_a_restart_is_delivered_after_it(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    data_dir = tempfile.mkdtemp(prefix="sealgw-restart-")
    first = start_gateway(SEALGW_DATA_DIR=data_dir)
    _, before = events(first.url)
    with subscribed(first.url, before) as subscriber:
        rename(first.url, "重启前")
        seen = subscriber.next()
    # received and answered, then the gateway stops before any subscriber hears of it
    assert notify(first.url, audit(esign_seal(sandbox))).status_code == 200
    stop_gateway(first)
    second = start_gateway(SEALGW_DATA_DIR=data_dir)
    with subscribed(second.url, seen["cursor"]) as subscriber:
        delivered = subscriber.next()
    assert delivered["type"] == "REVIEW_PASSED"
    assert delivered["source"] == "VENDOR_NOTIFICATION"
    log, _ = events(second.url, after=before)
    assert [e["id"] for e in log] == [seen["id"], delivered["id"]]


def stop_gateway(gateway: Gateway) -> None:
    assert gateway.server is not None
    gateway.server.stop()
    gateway.server.thread.join(timeout=10)


def test_a_query_asked_for_as_a_stream_answers_one_event_then_completes(
    start_gateway: StartGateway,
) -> None:
    """graphql-sse clients ask every operation with `Accept: text/event-stream`."""
    gateway = start_gateway()
    response = httpx.post(
        f"{gateway.url}/graphql",
        json={"query": "{ providers { provider } }"},
        headers={**AUTH, "Accept": "text/event-stream"},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in response.text.split("\n\n") if b]
    assert blocks[0].startswith("event: next\ndata: ")
    assert json.loads(blocks[0].split("data: ", 1)[1])["data"]["providers"]
    assert blocks[1] == "event: complete\ndata: "


def test_the_process_limit_and_the_total_lifetime(start_gateway: StartGateway) -> None:
    gateway = start_gateway(
        SEALGW_MAX_SUBSCRIPTIONS="1",
        SEALGW_SUBSCRIPTION_LIFETIME="1.5",
        SEALGW_SUBSCRIPTION_HEARTBEAT="0.2",
    )
    with connected(gateway.url) as subscriber:
        a_second_is_refused(subscriber, "OVERLOADED")
        # over SSE too: the process's one place is taken
        response = httpx.post(
            f"{gateway.url}/graphql",
            json={"query": "subscription { sealEvents { id } }"},
            headers={**AUTH, "Accept": "text/event-stream"},
        )
        assert response.status_code == 503
        assert response.json()["errors"][0]["extensions"]["code"] == "OVERLOADED"
        # events keep coming, yet it ends at its lifetime: the client resumes from its cursor
        started = time.monotonic()
        deadline = started + 5
        while (message := subscriber.message(5))["type"] != "complete":
            rename(gateway.url, f"寿命 {time.monotonic():.2f}")
            assert time.monotonic() < deadline, message
        assert message["id"] == "a"
        assert time.monotonic() - started < 3


def test_subscribers_of_one_selection_share_each_events_answer(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    """An event is executed once for every subscriber of the same selection: the same bytes
    to each, and the seal it shows read from the vendor once, however many subscribe."""
    gateway = start_gateway()
    selection = "subscription($after: String) { sealEvents(after: $after) { id seal { name } } }"

    def vendor_reads() -> int:
        return sandbox.count("yunyin:getSealInfo")

    def delta(subscribers: int, name: str) -> tuple[int, list[str]]:
        _, end = events(gateway.url)
        with contextlib.ExitStack() as stack:
            opened = [stack.enter_context(connected(gateway.url)) for _ in range(subscribers)]
            for subscriber in opened:
                subscriber.subscribe(selection, {"after": end})
            before = vendor_reads()
            rename(gateway.url, name)
            answers = [json.dumps(s.next(), ensure_ascii=False) for s in opened]
            return vendor_reads() - before, answers

    alone, (answer,) = delta(1, "独自一人")
    together, answers = delta(4, "四个人")
    assert together == alone == 2  # the rename's read-back, and one read for the event
    assert len(set(answers)) == 1
    assert "四个人" in answers[0]
    assert "独自一人" in answer
