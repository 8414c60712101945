"""Idempotency-Key over real HTTP: a repeated write answers the first attempt's result and
reaches the vendor once; after an unknown outcome, a repeated create finds the seal the first
attempt made. Counts from the sandbox."""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

import httpx

from gateway.sandbox import Sandbox
from gateway.sandbox.state import Fault
from tests.conftest import AUTH, Gateway, StartGateway
from tests.test_write_path import AUTHORIZE, CREATE, png, raw_upload, seal_id


def post(gateway: Gateway, body: dict[str, Any], key: str) -> httpx.Response:
    return gateway.client.post(
        f"{gateway.url}/graphql", json=body, headers={"Idempotency-Key": key}
    )


def create_body(name: str) -> dict[str, Any]:
    return {
        "query": CREATE,
        "variables": {"input": {"provider": "YUNYIN", "name": name, "bizType": "CONTRACT"}},
    }


def test_a_repeated_create_is_answered_from_the_first(gateway: Gateway, sandbox: Sandbox) -> None:
    first = post(gateway, create_body("幂等合同章"), "create-1")
    again = post(gateway, create_body("幂等合同章"), "create-1")
    assert first.status_code == again.status_code == 200
    assert first.json()["data"]["createTemplateSeal"]["userErrors"] == []
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert sandbox.count("yunyin:createSealByTemplate") == 1
    # a new key is a new write (refused by the vendor: the name is taken)
    other = post(gateway, create_body("幂等合同章"), "create-2").json()
    (error,) = other["data"]["createTemplateSeal"]["userErrors"]
    assert error["code"] == "NAME_TAKEN"
    assert sandbox.count("yunyin:createSealByTemplate") == 2


def test_a_key_is_the_callers_own_and_bound_to_its_request(
    gateway: Gateway, sandbox: Sandbox
) -> None:
    post(gateway, create_body("章甲"), "shared-key")
    reused = post(gateway, create_body("章乙"), "shared-key")
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert sandbox.count("yunyin:createSealByTemplate") == 1
    for bad in ("", "x" * 256, "ключ"):
        response = gateway.client.post(
            f"{gateway.url}/graphql",
            json=create_body("章丙"),
            headers={"Idempotency-Key": bad.encode("utf-8")},
        )
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert sandbox.count("yunyin:createSealByTemplate") == 1


def test_a_repeated_upload_stores_one_file(gateway: Gateway, sandbox: Sandbox) -> None:
    """Each send of a multipart body draws a new boundary: the key still matches."""
    data = png()
    headers = {"Apollo-Require-Preflight": "true", "Idempotency-Key": "upload-1"}
    first = raw_upload(gateway, data, **headers)
    again = raw_upload(gateway, data, **headers)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert sandbox.count("yunyin:uploadSealFile") == 1
    assert len(sandbox.uploads) == 1


def test_a_repeated_authorization_is_granted_once(gateway: Gateway, sandbox: Sandbox) -> None:
    body = {
        "query": AUTHORIZE,
        "variables": {
            "input": {
                "sealId": seal_id("50003"),
                "userIds": ["20004"],
                "role": "USER",
                "scope": "ALL_CONTRACTS",
            }
        },
    }
    first = post(gateway, body, "grant-1")
    again = post(gateway, body, "grant-1")
    assert again.content == first.content
    assert first.json()["data"]["authorizeSeal"]["seal"]["authorizationCount"] == 2
    assert sandbox.count("yunyin:addSealAuthor") == 1


def test_a_repeat_while_the_first_runs_waits_for_its_answer(
    gateway: Gateway, sandbox: Sandbox
) -> None:
    sandbox.faults.append(Fault("yunyin", "createSealByTemplate", status=200, delay_s=1.0))

    def send(_: int) -> httpx.Response:
        with httpx.Client(headers=AUTH, timeout=30) as client:
            return client.post(
                f"{gateway.url}/graphql",
                json=create_body("并发合同章"),
                headers={"Idempotency-Key": "concurrent-1"},
            )

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(send, range(3)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert sandbox.count("yunyin:createSealByTemplate") == 1


def test_a_repeated_create_after_a_timeout_finds_the_seal_it_made(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    """The vendor makes the seal, but only after the request's deadline: the client learns
    nothing but `writeMayHaveHappened`. Sent again with its key, the create answers the seal
    the first attempt made, and the vendor is not asked to create it twice."""
    gateway = start_gateway(SEALGW_REQUEST_DEADLINE="1")
    sandbox.faults.append(Fault("yunyin", "createSealByTemplate", status=200, delay_s=1.5, times=1))
    first = post(gateway, create_body("超时合同章"), "slow-1").json()
    (error,) = first["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_TIMEOUT"
    assert error["extensions"]["writeMayHaveHappened"] is True
    for _ in range(40):  # the vendor finishes the create in its own time
        if any(s.name == "超时合同章" for s in sandbox.yunyin_seals.values()):
            break
        time.sleep(0.1)
    made = next(s for s in sandbox.yunyin_seals.values() if s.name == "超时合同章")

    again = post(gateway, create_body("超时合同章"), "slow-1").json()
    result = again["data"]["createTemplateSeal"]
    assert result["userErrors"] == []
    assert result["seal"]["vendorId"] == str(made.seal_id)
    assert sandbox.count("yunyin:createSealByTemplate") == 1
    # now settled: a third send replays the second's answer
    third = post(gateway, create_body("超时合同章"), "slow-1")
    assert third.headers["idempotent-replayed"] == "true"
    assert third.json() == again
