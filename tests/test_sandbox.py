"""The sandbox checks what the vendors check, in the vendors' own shapes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from gateway.providers.esign.auth import SignatureAuth
from gateway.sandbox import state as demo
from tests.conftest import SandboxServer

LIST = f"/v1/organizations/{demo.ESIGN_ORG_A}/seals"


@pytest.fixture
def esign(sandbox_server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{sandbox_server.url}/esign") as client:
        yield client


def signed(secret: str = demo.ESIGN_APP_SECRET, clock: float | None = None) -> SignatureAuth:
    return SignatureAuth(
        demo.ESIGN_APP_ID,
        secret,
        base_path="/esign",
        clock=(lambda: clock) if clock is not None else time.time,
    )


def test_signed_request_is_accepted(esign: httpx.Client) -> None:
    body = esign.get(LIST, params={"offset": 1, "size": 2}, auth=signed()).json()
    assert body["code"] == 0
    assert body["data"]["total"] == 7
    assert len(body["data"]["seals"]) == 2


def test_signature_checks(esign: httpx.Client) -> None:
    def refusal(response: httpx.Response) -> str:
        assert response.status_code == 401
        body = response.json()
        assert body["success"] is False
        assert body["code"] == 401
        return str(body["message"])

    assert refusal(esign.get(LIST, auth=signed("wrong"))) == "INVALID_SIGNATURE"
    assert refusal(esign.get(LIST, auth=signed(clock=time.time() - 16 * 60))) == "INVALID_TIMESTAMP"
    assert refusal(esign.get(LIST, auth=signed(clock=time.time() + 16 * 60))) == "INVALID_TIMESTAMP"

    # a query changed after signing
    request = esign.build_request("GET", LIST, params={"size": 2})
    good = next(signed().auth_flow(request))
    tampered = esign.build_request("GET", LIST, params={"size": 3}, headers=dict(good.headers))
    assert refusal(esign.send(tampered)) == "INVALID_SIGNATURE"

    # a body changed after signing
    request = esign.build_request("GET", LIST, content=b'{"a":1}')
    good = next(signed().auth_flow(request))
    tampered = esign.build_request("GET", LIST, content=b'{"a":2}', headers=dict(good.headers))
    assert refusal(esign.send(tampered)) == "INVALID_SIGNATURE"

    assert refusal(esign.get(LIST)) == "缺少参数"
    assert refusal(esign.get(LIST, headers={"X-Tsign-Open-App-Id": "other"})) == "无效的应用"


def test_token_checks(esign: httpx.Client, sandbox_server: SandboxServer) -> None:
    app = {"X-Tsign-Open-App-Id": demo.ESIGN_APP_ID}

    def token() -> str:
        answer = esign.get(
            "/v1/oauth2/access_token",
            params={
                "appId": demo.ESIGN_APP_ID,
                "secret": demo.ESIGN_APP_SECRET,
                "grantType": "client_credentials",
            },
        ).json()
        assert answer["code"] == 0
        assert int(answer["data"]["expiresIn"]) > time.time() * 1000
        return str(answer["data"]["token"])

    first = token()
    assert esign.get(LIST, headers={**app, "X-Tsign-Open-Token": first}).json()["code"] == 0
    assert esign.get(LIST, headers=app).json()["message"] == "TOKEN_CANT_BE_NULL"
    assert (
        esign.get(LIST, headers={**app, "X-Tsign-Open-Token": "x"}).json()["message"] == "TOKEN错误"
    )
    # a new token leaves the old one valid only for the overlap
    sandbox_server.sandbox.config.esign_token_overlap_s = 0
    second = token()
    assert esign.get(LIST, headers={**app, "X-Tsign-Open-Token": first}).status_code == 401
    assert esign.get(LIST, headers={**app, "X-Tsign-Open-Token": second}).status_code == 200
    sandbox_server.sandbox.expire_tokens("esign")
    assert esign.get(LIST, headers={**app, "X-Tsign-Open-Token": second}).status_code == 401

    wrong = esign.get(
        "/v1/oauth2/access_token",
        params={"appId": demo.ESIGN_APP_ID, "secret": "no", "grantType": "client_credentials"},
    ).json()
    assert wrong["code"] == 10000007


def test_esign_business_codes(esign: httpx.Client) -> None:
    def detail(org: str, seal: str) -> int:
        answer = esign.get(
            "/v3/seals/org-seal-info", params={"orgId": org, "sealId": seal}, auth=signed()
        ).json()
        return int(answer["code"])

    seal_a = demo.Sandbox().esign_org_seals(demo.ESIGN_ORG_A)[0].seal_id
    assert detail(demo.ESIGN_ORG_A, seal_a) == 0
    assert detail(demo.ESIGN_ORG_A, "nope") == 31400100
    assert detail(demo.ESIGN_ORG_B, seal_a) == 31400109
    ungranted = demo.Sandbox().esign_org_seals(demo.ESIGN_ORG_UNGRANTED)[0].seal_id
    assert detail(demo.ESIGN_ORG_UNGRANTED, ungranted) == 1499000
    assert detail("unknown-org", seal_a) == 10000007
    too_big = esign.get(LIST, params={"size": 101}, auth=signed()).json()
    assert too_big["code"] == 10000007


def test_yunyin_header_checks(sandbox_server: SandboxServer) -> None:
    with httpx.Client(base_url=f"{sandbox_server.url}/yunyin") as client:
        token = client.post(
            "/service/getAccessToken",
            json={"appId": demo.YUNYIN_APP_ID, "appSecret": demo.YUNYIN_APP_SECRET},
        ).json()["data"]["accessToken"]
        good = {
            "appId": demo.YUNYIN_APP_ID,
            "accessToken": token,
            "userId": "20001",
            "source": "API",
        }

        def code(headers: dict[str, str], body: dict[str, object] | None = None) -> str:
            answer = client.post("/seal/getSealListByPage", headers=headers, json=body or {})
            return str(answer.json()["code"])

        assert code(good) == "200"
        assert code({**good, "accessToken": "stale"}) == "TOKEN_INVALID"
        assert code({**good, "appId": "other"}) == "APP_AUTH_FAILED"
        assert code({**good, "userId": "99"}) == "PERMISSION_DENIED"
        assert code({**good, "source": ""}) == "PARAM_ERROR"
        assert code(good, {"listPageSize": 101}) == "PARAM_ERROR"
        info = client.post("/seal/getSealInfo", headers=good, json={"sealId": 1}).json()
        assert info == {"code": "SEAL_NOT_FOUND", "msg": "印章不存在", "data": None}
        page = client.post(
            "/seal/getSealListByPage", headers=good, json={"listPageNo": 2, "listPageSize": 4}
        ).json()
        assert (page["listPageNo"], page["countInPage"], page["listPageCount"]) == (2, 2, 2)
        assert page["totalCount"] == 6
        assert [s["sealId"] for s in page["data"]] == [50005, 50006]


def test_knobs_over_http(sandbox_server: SandboxServer) -> None:
    with httpx.Client(base_url=sandbox_server.url) as client:
        client.post(
            "/_sandbox/faults",
            json={"vendor": "yunyin", "endpoint": "token", "status": 503, "times": 1},
        )
        first = client.post("/yunyin/service/getAccessToken", json={})
        second = client.post("/yunyin/service/getAccessToken", json={})
        assert (first.status_code, second.status_code) == (503, 200)
        assert client.get("/_sandbox/faults").json() == {"faults": []}
        assert client.get("/_sandbox/calls").json()["calls"] == {"yunyin:token": 2}
        assert client.put("/_sandbox/latency", json={"seconds": 0.05}).json() == {"seconds": 0.05}
        assert sandbox_server.sandbox.config.latency_s == 0.05
        assert client.post("/yunyin/service/getAccessToken", json={}).status_code == 200
        client.put("/_sandbox/latency", json={"seconds": 0})
        assert client.delete("/_sandbox/calls").json()["calls"] == {}
