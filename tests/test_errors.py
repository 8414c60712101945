"""Vendor failures become GraphQL errors with a code from a fixed set; one vendor failing leaves
the other's seals in the answer; no stack trace or secret ever leaves."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest

from gateway.execution.pipeline import Pipeline
from gateway.providers.esign.provider import EsignProvider
from gateway.sandbox import Fault, Sandbox
from gateway.sandbox import state as demo
from gateway.service import SealReads
from tests.conftest import PAGE_FAILURES, Gateway, StartGateway, failures
from tests.test_read_path import ESIGN_A, global_id

PAGE = (
    "{ seals(first: 20) { totalCount unavailableProviders "
    + PAGE_FAILURES
    + " edges { node { provider vendorId } } } }"
)
CODES = {
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "NOT_SUPPORTED",
    "UPSTREAM_ERROR",
    "UPSTREAM_UNAVAILABLE",
    "UPSTREAM_AUTH_FAILED",
    "INTERNAL_SERVER_ERROR",
}


def assert_clean(body: dict[str, Any], *secrets: str) -> None:
    """No stack trace and no secret anywhere in what the client got."""
    text = str(body)
    for forbidden in ("Traceback", 'File "', *secrets):
        assert forbidden not in text
    for error in body.get("errors", []):
        assert error["extensions"]["code"] in CODES


def providers_of(body: dict[str, Any]) -> list[str]:
    return [e["node"]["provider"] for e in body["data"]["seals"]["edges"]]


def test_one_vendor_down_leaves_the_others_seals(gateway: Gateway, sandbox: Sandbox) -> None:
    sandbox.faults.append(Fault("yunyin", "getSealListByPage", status=503))
    body = gateway.query(PAGE)
    assert providers_of(body) == ["ESIGN"] * 7
    seals = body["data"]["seals"]
    assert seals["unavailableProviders"] == ["YUNYIN"]
    assert seals["totalCount"] == 7
    (error,) = failures(body)
    assert error["path"] == ["seals"]
    assert error["extensions"] == {
        "code": "UPSTREAM_UNAVAILABLE",
        "provider": "YUNYIN",
        "upstreamCode": "HTTP_503",
        "retryable": True,
    }
    assert_clean(body)


def test_esign_failing_leaves_yunyin_seals(gateway: Gateway, sandbox: Sandbox) -> None:
    sandbox.faults.append(
        Fault("esign", "v1.list", status=200, code="10000001", message="系统错误")
    )
    body = gateway.query(PAGE)
    assert providers_of(body) == ["YUNYIN"] * 6
    (error,) = failures(body)
    assert error["message"] == "系统错误"
    assert error["extensions"] == {
        "code": "UPSTREAM_ERROR",
        "provider": "ESIGN",
        "upstreamCode": "10000001",
        "retryable": True,
    }


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_vendor(start_gateway: StartGateway) -> None:
    gateway = start_gateway(SEALGW_YUNYIN_BASE_URL=f"http://127.0.0.1:{_closed_port()}")
    body = gateway.query(PAGE)
    assert providers_of(body) == ["ESIGN"] * 7
    (error,) = failures(body)
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert error["extensions"]["provider"] == "YUNYIN"
    assert "could not be reached" in error["message"]
    assert_clean(body)


def test_slow_vendor_times_out(start_gateway: StartGateway, sandbox: Sandbox) -> None:
    gateway = start_gateway(SEALGW_UPSTREAM_TIMEOUT="0.3")
    sandbox.faults.append(Fault("esign", "v1.list", status=200, delay_s=2))
    body = gateway.query(PAGE)
    assert providers_of(body) == ["YUNYIN"] * 6
    (error,) = failures(body)
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert "timed out" in error["message"]


def test_vendor_business_errors(gateway: Gateway, sandbox: Sandbox) -> None:
    sandbox.faults.append(
        Fault(
            "yunyin",
            "getSealListByPage",
            status=200,
            code="QUERY_ERROR",
            message="查询印章列表失败",
        )
    )
    body = gateway.query(PAGE)
    (error,) = failures(body)
    assert error["message"] == "查询印章列表失败"
    assert error["extensions"]["code"] == "UPSTREAM_ERROR"
    assert error["extensions"]["upstreamCode"] == "QUERY_ERROR"


def test_garbage_answer_is_an_upstream_error(gateway: Gateway, sandbox: Sandbox) -> None:
    sandbox.faults.append(Fault("esign", "v1.list", status=502, message="<html>bad gateway"))
    body = gateway.query(PAGE)
    (error,) = failures(body)
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert "<html>" not in str(body)


def test_wrong_signature_secret(start_gateway: StartGateway, sandbox: Sandbox) -> None:
    gateway = start_gateway(SEALGW_ESIGN_APP_SECRET="not-the-secret")
    body = gateway.query(PAGE)
    assert providers_of(body) == ["YUNYIN"] * 6
    (error,) = failures(body)
    assert error["extensions"]["code"] == "UPSTREAM_AUTH_FAILED"
    assert error["extensions"]["upstreamCode"] == "401"
    assert "INVALID_SIGNATURE" in error["message"]
    assert_clean(body, "not-the-secret")


def test_wrong_token_secret(start_gateway: StartGateway) -> None:
    gateway = start_gateway(SEALGW_YUNYIN_APP_SECRET="wrong-secret-value")
    body = gateway.query(PAGE)
    (error,) = failures(body)
    assert error["extensions"]["code"] == "UPSTREAM_AUTH_FAILED"
    assert error["extensions"]["upstreamCode"] == "APP_AUTH_FAILED"
    assert_clean(body, "wrong-secret-value")


def test_unknown_operator_is_refused(start_gateway: StartGateway) -> None:
    gateway = start_gateway(SEALGW_YUNYIN_USER_ID="77777")
    (error,) = failures(gateway.query(PAGE))
    assert error["extensions"]["code"] == "UPSTREAM_AUTH_FAILED"
    assert error["extensions"]["upstreamCode"] == "PERMISSION_DENIED"


def test_ungranted_org_fails_only_the_v3_fields(start_gateway: StartGateway) -> None:
    gateway = start_gateway("ESIGN", SEALGW_ESIGN_ORG_ID=demo.ESIGN_ORG_UNGRANTED)
    body = gateway.query("{ seals { edges { node { name isDefault rejectReason } } } }")
    (edge,) = body["data"]["seals"]["edges"]
    assert edge["node"] == {"name": "公章", "isDefault": True, "rejectReason": None}
    (error,) = failures(body)
    assert error["path"] == ["seals", "edges", 0, "node", "rejectReason"]
    assert error["extensions"]["code"] == "UPSTREAM_AUTH_FAILED"
    assert error["extensions"]["upstreamCode"] == "1499000"


def test_unknown_org_is_a_vendor_error(start_gateway: StartGateway) -> None:
    gateway = start_gateway("ESIGN", SEALGW_ESIGN_ORG_ID="no-such-org")
    (error,) = failures(gateway.query(PAGE))
    assert error["extensions"]["code"] == "UPSTREAM_ERROR"
    assert error["extensions"]["upstreamCode"] == "10000007"


def test_a_provider_failing_unexpectedly_is_its_upstream_error(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("db password is hunter2")

    monkeypatch.setattr(EsignProvider, "list_range", broken)
    with caplog.at_level(logging.ERROR, logger="gateway"):
        body = gateway.query(PAGE)
    assert providers_of(body) == ["YUNYIN"] * 6
    assert body["data"]["seals"]["unavailableProviders"] == ["ESIGN"]
    (error,) = failures(body)
    assert error["extensions"]["code"] == "UPSTREAM_ERROR"
    assert error["extensions"]["provider"] == "ESIGN"
    assert error["extensions"]["upstreamCode"] == "UNHANDLED_ANSWER"
    assert_clean(body, "hunter2", "RuntimeError")
    assert any("unexpected failure handling esign" in r.getMessage() for r in caplog.records)


def test_a_bug_above_the_providers_is_masked_and_logged(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("db password is hunter2")

    monkeypatch.setattr(SealReads, "seal_page", broken)
    with caplog.at_level(logging.ERROR, logger="gateway"):
        body = gateway.query(PAGE)
    assert body["data"] is None
    (error,) = failures(body)
    assert error["message"] == "Internal server error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert_clean(body, "hunter2", "RuntimeError")
    assert any("unexpected error" in r.getMessage() for r in caplog.records)


def test_a_bug_in_the_request_path_is_a_coded_500_without_its_traceback(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("db password is hunter2")

    monkeypatch.setattr(Pipeline, "start", broken)
    with caplog.at_level(logging.ERROR, logger="gateway"):
        response = gateway.client.post(f"{gateway.url}/graphql", json={"query": PAGE})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body == {
        "errors": [
            {"message": "Internal server error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
        ]
    }
    assert_clean(body, "hunter2", "RuntimeError")
    (logged,) = [r for r in caplog.records if r.name == "gateway.http"]
    assert logged.exc_info is not None  # the traceback is the log's, once


def test_no_secret_in_any_log_line(
    start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = start_gateway(SEALGW_ESIGN_AUTH_MODE="token")
    with caplog.at_level(logging.DEBUG):
        gateway.data(PAGE)
        gateway.query('{{ seal(id: "{}") {{ name }} }}'.format(global_id("Seal", "esign:missing")))
    lines = [record.getMessage() for record in caplog.records]
    assert any("oauth2/access_token" in line for line in lines)  # the token URL was logged...
    for line in lines:  # ...without the credentials in it
        assert demo.ESIGN_APP_SECRET not in line
        assert demo.YUNYIN_APP_SECRET not in line


def test_incremental_delivery_is_refused_plainly(gateway: Gateway, sandbox: Sandbox) -> None:
    """`@defer` and `@stream` are not offered (README says why): a document using them is a
    validation error naming the directive, before any vendor call."""
    for document in (
        "{ seals(first: 2) { edges { node { id ... @defer { name } } } } }",
        "{ providers @stream { provider } }",
    ):
        body = gateway.query(document)
        assert "data" not in body
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "Unknown directive" in error["message"]
    assert sandbox.count("esign") == sandbox.count("yunyin") == 0


def test_query_limits(gateway: Gateway) -> None:
    nested = "id"
    for _ in range(3):
        nested = f"seal {{ authorizations {{ edges {{ node {{ {nested} }} }} }} }}"
    nested = f"authorizations {{ edges {{ node {{ {nested} }} }} }}"
    deep = f"{{ seals {{ edges {{ node {{ {nested} }} }} }} }}"
    body = gateway.query(deep)
    assert "data" not in body
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    aliases = "{ " + " ".join(f"a{i}: providers {{ provider }}" for i in range(60)) + " }"
    (error,) = gateway.query(aliases)["errors"]
    assert "aliases" in error["message"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    tokens = "{ " + "__typename " * 3000 + "}"
    (error,) = gateway.query(tokens)["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"  # a limit, like depth


def test_esign_seal_ids_of_both_views_agree(gateway: Gateway) -> None:
    listed = gateway.data("{ seals(first: 1) { edges { node { id } } } }")["seals"]["edges"][0]
    assert listed["node"]["id"] == global_id("Seal", f"esign:{ESIGN_A[0].seal_id}")


@pytest.mark.parametrize(
    ("status", "vendor_code", "message", "code", "upstream", "retryable"),
    [
        (200, "10000001", "系统错误", "UPSTREAM_ERROR", "10000001", True),
        (200, "10000007", "参数错误", "UPSTREAM_ERROR", "10000007", False),
        (200, "31400100", "印章不存在", "NOT_FOUND", "31400100", False),
        (200, "31400109", "印章不属于该账号", "NOT_FOUND", "31400109", False),
        (200, "31400133", "印章名称重复", "UPSTREAM_ERROR", "31400133", False),
        (200, "1499000", "未授权", "UPSTREAM_AUTH_FAILED", "1499000", False),
        (200, "60000", "参数错误", "UPSTREAM_ERROR", "60000", False),
        (401, "401", "INVALID_TIMESTAMP", "UPSTREAM_AUTH_FAILED", "401", False),
        (401, "401", "无效的应用", "UPSTREAM_AUTH_FAILED", "401", False),
        (403, "403", "IP不在白名单内", "UPSTREAM_AUTH_FAILED", "403", False),
        (429, None, "too many requests", "UPSTREAM_UNAVAILABLE", "HTTP_429", True),
    ],
)
def test_every_esign_answer_has_a_mapping(
    gateway: Gateway,
    sandbox: Sandbox,
    status: int,
    vendor_code: str | None,
    message: str,
    code: str,
    upstream: str,
    retryable: bool,
) -> None:
    sandbox.faults.append(
        Fault("esign", "v3.detail", status=status, code=vendor_code, message=message)
    )
    body = gateway.query(
        "query S($id: ID!) { seal(id: $id) { name } }",
        {"id": global_id("Seal", f"esign:{ESIGN_A[0].seal_id}")},
    )
    (error,) = failures(body)
    if code == "NOT_FOUND":
        # an id the vendor does not know gets the gateway's one answer for unknown seals, the
        # same as another tenant's id would (nothing to learn from the vendor's wording)
        assert error["message"] == "No seal has this id."
        assert error["extensions"] == {"code": "NOT_FOUND", "provider": "ESIGN"}
        return
    assert error["extensions"]["code"] == code
    assert error["extensions"]["upstreamCode"] == upstream
    assert error["extensions"]["retryable"] is retryable
    assert error["extensions"]["provider"] == "ESIGN"
