"""The sandbox's e签宝 pushes seal notifications: to the callback URL set in its "console"
(`SandboxConfig.esign_notify_url`, or the `/_sandbox/esign/notify-url` knob), in the shapes of
the vendor's notify3 pages (field tables transcribed below), signed as its receiving page says,
in the background, retried on a non-2xx answer or a failed connection.

A tiny receiver on loopback records what arrives and checks each signature with the gateway's
own `verify`; it can answer 500 to the first deliveries, or be slow."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from gateway.demo import sandbox_routes
from gateway.domain import SealEventType
from gateway.events.esign_notify import (
    ACCEPTED_BODY,
    NotificationRefused,
    notification_signature,
    parse,
    verify,
)
from gateway.sandbox import Sandbox
from gateway.sandbox import notify as sandbox_notify
from gateway.sandbox import state as demo
from gateway.sandbox.esign_signature import body_md5
from tests.conftest import Gateway, SandboxServer, ServerThread
from tests.test_sandbox import signed
from tests.test_write_path import CREATE, payload

ORG = demo.ESIGN_ORG_A
CONTRACT_SEAL = "5f9813c5-c521-4c3c-aa62-40b0344a6d53"  # never used, has authorisations
USED_SEAL = "6e1b7c9d-4a6f-4b8c-8d1e-3f4a5b6c7d8e"
WAITING_AUTH = "b2e1d3f5a7c94e1b8d2f4a6c8e0b1d3f"  # signed, awaiting its start (3)
IN_FORCE_AUTH = "a1f0c2e4b6d84f0a9c1e3b5d7f9a0c2e"
DAY_MS = 24 * 3600 * 1000

# The pages' field tables: (every field documented, the ones marked 必填).
AUTH_FIELDS = frozenset(
    {
        "action",
        "sealAuthType",
        "sealId",
        "sealAuthBizId",
        "authStatus",
        "authorizerOrgId",
        "authorizedPsnId",
        "authorizedOrgId",
        "bodyVersion",
        "effectiveTime",
        "expireTime",
    }
)
AUTH_REQUIRED = AUTH_FIELDS - {"authorizedPsnId", "authorizedOrgId"}
PAGES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # notify3/qgn8c6 创建印章通知
    "SEAL_CREATE": (
        frozenset(
            {
                "action",
                "sealId",
                "customBizNum",
                "sealName",
                "sealCreateMode",
                "psnId",
                "orgId",
                "sealBizType",
                "bodyVersion",
            }
        ),
        frozenset({"action", "sealId", "sealName", "sealCreateMode", "bodyVersion"}),
    ),
    # notify3/fygpxq 图片印章审核结果通知
    "SEAL_AUDIT": (
        frozenset(
            {
                "action",
                "sealId",
                "sealName",
                "auditStatus",
                "statusDescription",
                "customBizNum",
                "rejectReason",
                "psnId",
                "orgId",
                "sealBizType",
                "bodyVersion",
            }
        ),
        frozenset(
            {"action", "sealId", "sealName", "auditStatus", "statusDescription", "bodyVersion"}
        ),
    ),
    # notify3/aupwbb 删除印章通知
    "SEAL_DELETE": (
        frozenset(
            {
                "action",
                "sealId",
                "sealName",
                "sealCreateMode",
                "psnId",
                "orgId",
                "sealBizType",
                "bodyVersion",
                "sealStatus",
            }
        ),
        frozenset({"action", "sealId", "sealName", "sealCreateMode", "bodyVersion", "sealStatus"}),
    ),
    # notify3/cxx87o 印章授权操作完成通知
    "SEAL_AUTH_SIGN": (
        AUTH_FIELDS | {"authConfirmMethod", "signFlowId"},
        AUTH_REQUIRED | {"authConfirmMethod", "signFlowId"},
    ),
    "SEAL_AUTH_EFFICTIVE": (AUTH_FIELDS, AUTH_REQUIRED),  # notify3/cwpqgv
    "SEAL_AUTH_CALCEL": (AUTH_FIELDS, AUTH_REQUIRED),  # notify3/wohggc
    "SEAL_AUTH_NEARLY_EXPIRED": (AUTH_FIELDS, AUTH_REQUIRED),  # notify3/qg1ayb
    # notify3/uwge4w: its page was not read; its siblings' fields (docs/vendors.md)
    "SEAL_AUTH_INEFFICTIVE": (AUTH_FIELDS, AUTH_REQUIRED),
}


@dataclass
class Received:
    headers: dict[str, str]
    query: list[tuple[str, str]]
    body: bytes
    # None when the gateway's verify took it; else its refusal's reason
    refused: str | None


@dataclass
class Receiver:
    url: str
    got: list[Received] = field(default_factory=list)
    # answer 500 to this many deliveries first
    fail_first: int = 0
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.got.clear()
            self.fail_first, self.delay_s = 0, 0.0

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.got)


@pytest.fixture(scope="module")
def shared_receiver() -> Iterator[Receiver]:
    receiver = Receiver("")

    async def hook(request: Request) -> Response:
        body = await request.body()
        query = request.query_params.multi_items()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            verify(
                headers,
                query,
                body,
                app_id=demo.ESIGN_APP_ID,
                app_secret=demo.ESIGN_APP_SECRET,
                now_ms=int(time.time() * 1000),
            )
            refused = None
        except NotificationRefused as refusal:
            refused = refusal.reason
        with receiver.lock:
            receiver.got.append(Received(headers, query, body, refused))
            failing = receiver.fail_first > 0
            receiver.fail_first -= failing
            delay = receiver.delay_s
        if delay:
            await asyncio.sleep(delay)  # a slow receiver
        if failing:
            return Response("busy", status_code=500)
        if refused is not None:
            return Response(refused, status_code=401)
        return Response(ACCEPTED_BODY, media_type="application/json")

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    with ServerThread(app) as server:
        receiver.url = server.url
        yield receiver


@pytest.fixture
def receiver(shared_receiver: Receiver, sandbox: Sandbox) -> Iterator[Receiver]:
    """The receiver, its callback URL (with a query, whose values are signed) set in the
    sandbox, retries quick."""
    shared_receiver.clear()
    sandbox.config.esign_notify_url = f"{shared_receiver.url}/hook?tenant=default&channel=seal"
    sandbox.config.esign_notify_retry_delay_s = 0.02
    yield shared_receiver
    shared_receiver.clear()


@pytest.fixture
def client(sandbox_server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox_server.url, timeout=10) as client:
        yield client


def settled(client: httpx.Client, count: int) -> list[dict[str, Any]]:
    """The recorded attempts once `count` were made and none is still to be tried."""
    deadline = time.monotonic() + 10
    while True:
        listed = client.get("/_sandbox/esign/notifications").json()
        if len(listed["notifications"]) >= count and listed["pending"] == 0:
            attempts: list[dict[str, Any]] = listed["notifications"]
            return attempts
        assert time.monotonic() < deadline, listed
        time.sleep(0.01)


def delivered(client: httpx.Client, count: int) -> list[dict[str, Any]]:
    """The bodies of `count` notifications, each delivered at its first attempt."""
    attempts = settled(client, count)
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, 200)] * count, attempts
    return [a["body"] for a in attempts]


def conforms(body: dict[str, Any]) -> None:
    documented, required = PAGES[body["action"]]
    assert set(body) - documented == set(), f"{body['action']}: undocumented fields"
    assert required - set(body) == set(), f"{body['action']}: required fields missing"
    assert body["bodyVersion"] == "V3"


def create_template_seal(client: httpx.Client, name: str = "采购合同专用章") -> str:
    made = client.post(
        "/esign/v3/seals/org-seals/create-by-template",
        json={
            "orgId": ORG,
            "sealName": name,
            "sealTemplateStyle": "CONTRACT_ROUND_STAR",
            "sealSize": "38_38",
        },
        auth=signed(),
    ).json()
    assert made["code"] == 0, made
    seal_id: str = made["data"]["sealId"]
    return seal_id


def create_image_seal(client: httpx.Client, name: str) -> str:
    data = b"\x89PNG\r\n\x1a\n" + name.encode()
    md5 = body_md5(data)
    key = client.post(
        "/esign/v3/files/file-key",
        json={
            "contentMd5": md5,
            "contentType": "application/octet-stream",
            "fileName": "seal.png",
            "fileSize": len(data),
        },
        auth=signed(),
    ).json()["data"]
    client.put(
        key["fileUploadUrl"],
        content=data,
        headers={"Content-MD5": md5, "Content-Type": "application/octet-stream"},
    ).raise_for_status()
    made = client.post(
        "/esign/v3/seals/org-seals/create-by-image",
        json={
            "orgId": ORG,
            "sealImageFileKey": key["fileKey"],
            "sealName": name,
            "sealWidth": 40,
            "sealHeight": 40,
            "sealBizType": "FINANCE",
        },
        auth=signed(),
    ).json()
    assert made["code"] == 0, made
    seal_id: str = made["data"]["sealId"]
    return seal_id


def v3_seal(client: httpx.Client, seal_id: str) -> dict[str, Any]:
    answer = client.get(
        "/esign/v3/seals/org-seal-info", params={"orgId": ORG, "sealId": seal_id}, auth=signed()
    ).json()
    data: dict[str, Any] = answer["data"]
    return data


# --- the callback URL ------------------------------------------------------------------------


def test_the_notify_url_knob(client: httpx.Client, sandbox: Sandbox) -> None:
    assert client.get("/_sandbox/esign/notify-url").json() == {"url": None}
    put = client.put("/_sandbox/esign/notify-url", json={"url": "http://127.0.0.1:9/hook?a=1"})
    assert put.json() == {"url": "http://127.0.0.1:9/hook?a=1"}
    assert sandbox.config.esign_notify_url == "http://127.0.0.1:9/hook?a=1"
    for bad in ({"url": "ftp://x"}, {"url": 7}, {}, ["http://x"]):
        assert client.put("/_sandbox/esign/notify-url", json=bad).status_code == 400, bad
    assert client.put("/_sandbox/esign/notify-url", json={"url": None}).json() == {"url": None}
    # reset puts back what the sandbox started with
    sandbox.config.esign_notify_url = "http://127.0.0.1:9/hook"
    sandbox.reset()
    assert sandbox.config.esign_notify_url is None


def test_no_callback_url_no_notifications(client: httpx.Client) -> None:
    create_template_seal(client)
    assert client.get("/_sandbox/esign/notifications").json() == {
        "notifications": [],
        "pending": 0,
    }


# --- shapes, headers, signatures ----------------------------------------------------------


def test_a_template_seal_created_is_pushed_signed(client: httpx.Client, receiver: Receiver) -> None:
    seal_id = create_template_seal(client)
    (body,) = delivered(client, 1)
    conforms(body)
    assert body == {
        "action": "SEAL_CREATE",
        "bodyVersion": "V3",
        "customBizNum": "",
        "orgId": ORG,
        "sealBizType": "CONTRACT",
        "sealCreateMode": "template",
        "sealId": seal_id,
        "sealName": "采购合同专用章",
    }
    (got,) = receiver.received()
    assert got.refused is None  # the gateway's verify takes it
    assert got.query == [("tenant", "default"), ("channel", "seal")]
    assert got.headers["x-tsign-open-app-id"] == demo.ESIGN_APP_ID
    assert got.headers["x-tsign-open-signature-algorithm"] == "hmac-sha256"
    assert got.headers["content-type"] == "application/json"
    stamp = got.headers["x-tsign-open-timestamp"]
    assert abs(int(stamp) - time.time() * 1000) < 60_000
    assert got.headers["x-tsign-open-signature"] == notification_signature(
        stamp, [("channel", "seal"), ("tenant", "default")], got.body, demo.ESIGN_APP_SECRET
    )
    # and it reads as the event it is
    draft = parse(got.body, org_ids=frozenset({ORG}), received_at=time_now())
    assert (draft.type, draft.vendor_seal_id, draft.details["sealName"]) == (
        SealEventType.CREATED,
        seal_id,
        "采购合同专用章",
    )


def time_now() -> datetime:
    return datetime.now(UTC)


def test_the_two_signers_agree() -> None:
    """The sandbox signs with its own code (it imports nothing of the gateway)."""
    body = '{"action":"SEAL_DELETE","sealId":"S1","sealName":"合同章"}'.encode()
    url = "http://127.0.0.1:1/hook?b=2&a=1&c="
    assert sandbox_notify.signature("1764201600000", url, body, "s3cret") == (
        notification_signature("1764201600000", [("b", "2"), ("a", "1"), ("c", "")], body, "s3cret")
    )


def test_a_gateway_mutation_is_told_back(
    gateway: Gateway, client: httpx.Client, receiver: Receiver
) -> None:
    """A seal created through the gateway comes back to it as the vendor's notification."""
    result = payload(
        gateway,
        CREATE,
        {"provider": "ESIGN", "name": "网关合同专用章", "bizType": "CONTRACT"},
        "createTemplateSeal",
    )
    assert result["userErrors"] == []
    (body,) = delivered(client, 1)
    assert (body["action"], body["sealId"], body["sealName"]) == (
        "SEAL_CREATE",
        result["seal"]["vendorId"],
        "网关合同专用章",
    )


def test_the_vendor_answer_does_not_wait_for_delivery(
    client: httpx.Client, receiver: Receiver
) -> None:
    receiver.delay_s = 1.0
    started = time.monotonic()
    create_template_seal(client)
    assert time.monotonic() - started < 0.8
    delivered(client, 1)


# --- image seals and their review ---------------------------------------------------------


def test_image_seals_are_reviewed(client: httpx.Client, receiver: Receiver) -> None:
    rejected, passed = create_image_seal(client, "财务章甲"), create_image_seal(client, "财务章乙")
    assert v3_seal(client, rejected)["sealStatus"] == 2  # awaiting review
    reason = "印章图片不清晰"
    answer = client.post(
        f"/_sandbox/esign/seals/{rejected}/review", json={"pass": False, "reason": reason}
    )
    assert answer.json() == {"sealId": rejected, "sealStatus": 3}
    answer = client.post(f"/_sandbox/esign/seals/{passed}/review", json={"pass": True})
    assert answer.json() == {"sealId": passed, "sealStatus": 1}
    bodies = delivered(client, 4)
    for body in bodies:
        conforms(body)
    assert [(b["action"], b.get("sealCreateMode")) for b in bodies[:2]] == [
        ("SEAL_CREATE", "file"),
        ("SEAL_CREATE", "file"),
    ]
    assert bodies[2] == {
        "action": "SEAL_AUDIT",
        "auditStatus": 0,
        "bodyVersion": "V3",
        "orgId": ORG,
        "rejectReason": reason,
        "sealBizType": "FINANCE",
        "sealId": rejected,
        "sealName": "财务章甲",
        "statusDescription": "驳回",
    }
    assert (bodies[3]["auditStatus"], bodies[3]["statusDescription"]) == (1, "通过")
    assert bodies[3]["rejectReason"] == ""
    # the vendor's own API shows the verdicts
    after = v3_seal(client, rejected)
    assert (after["sealStatus"], after["rejectReason"]) == (3, reason)
    assert v3_seal(client, passed)["sealStatus"] == 1
    types = [
        parse(r.body, org_ids=frozenset({ORG}), received_at=time_now()).type
        for r in receiver.received()
    ]
    assert types[2:] == [SealEventType.REVIEW_REJECTED, SealEventType.REVIEW_PASSED]


def test_review_knob_refusals(client: httpx.Client, receiver: Receiver) -> None:
    seal = create_image_seal(client, "财务章丙")
    knob = f"/_sandbox/esign/seals/{seal}/review"
    assert client.post("/_sandbox/esign/seals/nope/review", json={"pass": True}).status_code == 404
    assert client.post(knob, json={"pass": "yes"}).status_code == 400
    assert client.post(knob, content=b"not json").status_code == 400
    # a template seal, and an image seal already reviewed, are not awaiting review
    template = f"/_sandbox/esign/seals/{CONTRACT_SEAL}/review"
    assert client.post(template, json={"pass": True}).status_code == 409
    assert client.post(knob, json={"pass": True}).status_code == 200
    assert client.post(knob, json={"pass": False}).status_code == 409
    assert [b["action"] for b in delivered(client, 2)] == ["SEAL_CREATE", "SEAL_AUDIT"]


# --- deletes --------------------------------------------------------------------------------


def test_deletes_say_deleted_or_revoked(client: httpx.Client, receiver: Receiver) -> None:
    for seal in (CONTRACT_SEAL, USED_SEAL):
        answer = client.delete(
            "/esign/v3/seals/org-seal", params={"orgId": ORG, "sealId": seal}, auth=signed()
        ).json()
        assert answer["code"] == 0
    bodies = delivered(client, 2)
    for body in bodies:
        conforms(body)
    assert bodies[0] == {
        "action": "SEAL_DELETE",
        "bodyVersion": "V3",
        "orgId": ORG,
        "sealBizType": "CONTRACT",
        "sealCreateMode": "template",
        "sealId": CONTRACT_SEAL,
        "sealName": "合同专用章",
        "sealStatus": "delete",
    }
    assert (bodies[1]["sealId"], bodies[1]["sealStatus"]) == (USED_SEAL, "revoke")
    # a refused delete (the default seal) tells nothing
    default = "5d5fb580-cbc0-47dd-ab59-9941a7987955"
    client.delete(
        "/esign/v3/seals/org-seal", params={"orgId": ORG, "sealId": default}, auth=signed()
    )
    assert len(settled(client, 2)) == 2


# --- authorisations -------------------------------------------------------------------------


def test_an_authorisation_from_letter_to_end(client: httpx.Client, receiver: Receiver) -> None:
    now = int(time.time() * 1000)
    made = client.post(
        "/esign/v3/seals/org-seals/internal-auth",
        json={
            "orgId": ORG,
            "sealId": CONTRACT_SEAL,
            "authorizedPsnIds": [demo.ESIGN_MEMBER_3],
            "sealRole": "SEAL_USER",
            "transactorPsnId": demo.ESIGN_TRANSACTOR,
            "sealAuthScope": {"templateIds": ["ALL"]},
            "effectiveTime": now - 60_000,
            "expireTime": now + 30 * DAY_MS,
        },
        auth=signed(),
    ).json()["data"]
    biz_id = made["sealAuthBizIds"][0]
    assert client.get("/_sandbox/esign/notifications").json()["notifications"] == []  # unsigned
    knob = f"/_sandbox/esign/authorizations/{biz_id}"
    assert client.post(f"{knob}/expire").status_code == 409  # not in force yet
    # an administrator signs the letter: signed, and in force (its period has begun)
    client.post(made["authorizationSignUrl"]).raise_for_status()
    answer = client.post(f"{knob}/nearly-expire", json={"days": 7}).json()
    assert answer["authorizeStatus"] == 1
    assert abs(answer["expireTime"] - (now + 7 * DAY_MS)) < 60_000
    answer = client.post(f"{knob}/expire").json()
    assert (answer["authorizeStatus"], answer["expireReason"]) == (0, "EXPIRED")
    client.post(
        "/esign/v3/seals/org-seals/auth-delete",
        json={"orgId": ORG, "deleteType": "sealAuthBizIds", "sealAuthBizIds": [biz_id]},
        auth=signed(),
    ).raise_for_status()
    bodies = delivered(client, 5)
    for body in bodies:
        conforms(body)
    assert [(b["action"], b["authStatus"]) for b in bodies] == [
        ("SEAL_AUTH_SIGN", 1),
        ("SEAL_AUTH_EFFICTIVE", 1),
        ("SEAL_AUTH_NEARLY_EXPIRED", 1),
        ("SEAL_AUTH_INEFFICTIVE", 0),
        ("SEAL_AUTH_CALCEL", 2),
    ]
    signed_letter = bodies[0]
    assert signed_letter["authConfirmMethod"] == 1
    assert signed_letter["signFlowId"]
    for body in bodies:
        assert (body["sealId"], body["sealAuthBizId"], body["sealAuthType"]) == (
            CONTRACT_SEAL,
            biz_id,
            "SINGLE_SEAL",
        )
        assert (body["authorizerOrgId"], body["authorizedPsnId"]) == (ORG, demo.ESIGN_MEMBER_3)
        assert "authorizedOrgId" not in body  # an internal (member) authorisation
    assert bodies[1]["effectiveTime"] == now - 60_000
    assert bodies[1]["expireTime"] == now + 30 * DAY_MS
    types = [
        parse(r.body, org_ids=frozenset({ORG}), received_at=time_now()).type
        for r in receiver.received()
    ]
    assert types == [
        SealEventType.OTHER,
        SealEventType.AUTHORIZATION_GRANTED,
        SealEventType.AUTHORIZATION_EXPIRING,
        SealEventType.AUTHORIZATION_EXPIRED,
        SealEventType.AUTHORIZATION_REVOKED,
    ]


def test_a_waiting_authorisation_takes_effect(client: httpx.Client, receiver: Receiver) -> None:
    knob = f"/_sandbox/esign/authorizations/{WAITING_AUTH}"
    answer = client.post(f"{knob}/take-effect").json()
    assert (answer["authorizeStatus"], answer["expireReason"]) == (1, "NOT_EXPIRE")
    assert client.post(f"{knob}/take-effect").status_code == 409  # in force already
    (body,) = delivered(client, 1)
    conforms(body)
    assert (body["action"], body["authStatus"], body["sealAuthBizId"]) == (
        "SEAL_AUTH_EFFICTIVE",
        1,
        WAITING_AUTH,
    )
    assert (body["authorizedPsnId"], body["authorizerOrgId"]) == (demo.ESIGN_MEMBER_2, ORG)
    listed = client.get(
        "/esign/v3/seals/org-seals/internal-auth",
        params={"orgId": ORG, "sealId": CONTRACT_SEAL, "pageNum": 1, "pageSize": 20},
        auth=signed(),
    ).json()["data"]["sealAuthorizedInfos"]
    assert next(r for r in listed if r["sealAuthBizId"] == WAITING_AUTH)["authorizeStatus"] == 1


def test_authorisation_knob_refusals(client: httpx.Client, receiver: Receiver) -> None:
    base = "/_sandbox/esign/authorizations"
    assert client.post(f"{base}/nope/expire").status_code == 404
    assert client.post(f"{base}/{IN_FORCE_AUTH}/nearly-expire", json={"days": 3}).status_code == 400
    assert client.post(f"{base}/{IN_FORCE_AUTH}/nearly-expire", content=b"[").status_code == 400
    assert client.post(f"{base}/{WAITING_AUTH}/expire").status_code == 409
    assert client.get("/_sandbox/esign/notifications").json()["notifications"] == []


def test_revoking_by_seal_tells_of_each_authorisation(
    client: httpx.Client, receiver: Receiver
) -> None:
    client.post(
        "/esign/v3/seals/org-seals/auth-delete",
        json={"orgId": ORG, "deleteType": "sealIds", "sealIds": [CONTRACT_SEAL]},
        auth=signed(),
    ).raise_for_status()
    bodies = delivered(client, 2)
    assert sorted((b["action"], b["sealAuthBizId"], b["authStatus"]) for b in bodies) == [
        ("SEAL_AUTH_CALCEL", IN_FORCE_AUTH, 2),
        ("SEAL_AUTH_CALCEL", WAITING_AUTH, 2),
    ]


# --- retries ----------------------------------------------------------------------------------


def test_a_failed_delivery_is_retried_with_the_same_body(
    client: httpx.Client, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    create_template_seal(client)
    attempts = settled(client, 3)
    assert [(a["id"], a["attempt"], a["status"]) for a in attempts] == [
        (attempts[0]["id"], 1, 500),
        (attempts[0]["id"], 2, 500),
        (attempts[0]["id"], 3, 200),
    ]
    got = receiver.received()
    assert len(got) == 3
    assert len({r.body for r in got}) == 1  # the same body: one event (its dedup key)
    assert all(r.refused is None for r in got)  # each attempt signed afresh, each valid
    keys = {parse(r.body, org_ids=frozenset({ORG}), received_at=time_now()).dedup_key for r in got}
    assert len(keys) == 1


def test_retries_are_bounded(client: httpx.Client, receiver: Receiver, sandbox: Sandbox) -> None:
    sandbox.config.esign_notify_retries = 2
    receiver.fail_first = 100
    create_template_seal(client)
    attempts = settled(client, 3)
    time.sleep(0.1)  # nothing more comes
    attempts = settled(client, 3)
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, 500), (2, 500), (3, 500)]


def test_an_unreachable_receiver_is_retried(
    client: httpx.Client, receiver: Receiver, sandbox: Sandbox
) -> None:
    closed = next_free_port()
    sandbox.config.esign_notify_url = f"http://127.0.0.1:{closed}/hook"
    sandbox.config.esign_notify_retries = 1
    create_template_seal(client)
    attempts = settled(client, 2)
    assert [(a["attempt"], a["status"], a["error"]) for a in attempts] == [
        (1, None, "ConnectError"),
        (2, None, "ConnectError"),
    ]


def next_free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_reset_forgets_and_drops_what_is_pending(
    client: httpx.Client, receiver: Receiver, sandbox: Sandbox
) -> None:
    receiver.fail_first = 100
    sandbox.config.esign_notify_retry_delay_s = 0.3
    create_template_seal(client)
    wait_until(lambda: len(receiver.received()) == 1)
    assert client.delete("/_sandbox/esign/notifications").json() == {
        "notifications": [],
        "pending": 0,
    }
    time.sleep(0.6)  # past the retry it would have made
    assert len(receiver.received()) == 1
    assert client.get("/_sandbox/esign/notifications").json()["notifications"] == []


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_the_demo_sandbox_notifies_the_gateway_it_runs_beside() -> None:
    """`seal-gateway serve` on the sandbox passes its own webhook (gateway/cli.py)."""
    (mount,) = sandbox_routes("http://127.0.0.1:8000", "http://127.0.0.1:8000/webhooks/esign")
    assert isinstance(mount, Mount)
    sandbox = mount.app.state.sandbox  # type: ignore[attr-defined]
    assert sandbox.config.esign_notify_url == "http://127.0.0.1:8000/webhooks/esign"
    sandbox.reset()  # the URL is the sandbox's own setting: a reset keeps it
    assert sandbox.config.esign_notify_url == "http://127.0.0.1:8000/webhooks/esign"
    (mount,) = sandbox_routes()
    assert mount.app.state.sandbox.config.esign_notify_url is None  # type: ignore[attr-defined]
