"""Callers over real HTTP: API keys and JWTs checked before any GraphQL work, roles, the
operator from a token, rate limits, request ids, introspection, audit events; and, in-process,
the tenants file's refusals and the JWKS refresh rule."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.access.callers import KeySet, Unauthenticated
from gateway.config import ConfigError, load_settings
from gateway.sandbox import Fault
from gateway.service import ids
from tests.conftest import (
    ACME_ISSUER,
    AUDIENCE,
    GLOBEX_ISSUER,
    TENANT_SECRETS,
    Gateway,
    SandboxServer,
    ServerThread,
    StartGateway,
    TenantsGateway,
    scanned_client,
)

SEALS = "{ seals(first: 3) { edges { node { id name } } } }"
RENAME = """mutation R($id: ID!, $name: String!) {
  renameSeal(input: {sealId: $id, name: $name}) { seal { name } userErrors { code field } } }"""


def yunyin_id(tenant: str, vendor_id: str) -> str:
    return ids.global_id("Seal", ids.bind(tenant, f"yunyin:{vendor_id}"))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """A token signed with HMAC-SHA256 under any key, as an attacker would make one."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def claims(issuer: str = ACME_ISSUER, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer, "sub": "user-9", "aud": AUDIENCE, "exp": now + 600, **extra}


def bad_credentials(tg: TenantsGateway) -> dict[str, str]:
    now = int(time.time())
    public_pem = tg.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "malformed": "Bearer not.a.token",
        "expired": "Bearer " + tg.token("acme", {"exp": now - 3600}),
        "not yet valid": "Bearer " + tg.token("acme", {"nbf": now + 3600}),
        "wrong audience": "Bearer " + tg.token("acme", {"aud": "someone-else"}),
        "wrong issuer": "Bearer "
        + jwt.encode(claims("https://evil.test"), TENANT_SECRETS["ACME_JWT_SECRET"], "HS256"),
        "bad signature": "Bearer " + jwt.encode(claims(), "not-the-acme-secret" * 3, "HS256"),
        "alg none": "Bearer "
        + hand_signed({"alg": "none"}, claims(), b"")[:-1].rsplit(".", 1)[0]
        + ".",
        "HS256 signed with the RS256 public key": "Bearer "
        + hand_signed({"alg": "HS256", "kid": "globex-rsa"}, claims(GLOBEX_ISSUER), public_pem),
        "unknown kid": "Bearer "
        + jwt.encode(claims(GLOBEX_ISSUER), stranger, "RS256", {"kid": "no-such-key"}),
        "revoked API key": f"Bearer {tg.keys['acme-retired']}",
        "unknown API key": "Bearer sgk_" + "x" * 43,
    }


CASES = [
    "malformed",
    "expired",
    "not yet valid",
    "wrong audience",
    "wrong issuer",
    "bad signature",
    "alg none",
    "HS256 signed with the RS256 public key",
    "unknown kid",
    "revoked API key",
    "unknown API key",
]
REASONS = {
    "malformed": "malformed token",
    "expired": "expired",
    "not yet valid": "not yet valid",
    "wrong audience": "wrong audience",
    "wrong issuer": "unknown issuer",
    "bad signature": "bad signature",
    "alg none": "not allowed",
    "HS256 signed with the RS256 public key": "'HS256' not allowed",
    "unknown kid": "unknown key id",
    "revoked API key": "revoked API key",
    "unknown API key": "unknown API key",
}


def assert_unauthenticated(response: Any, phrase: str, *, invalid: bool) -> None:
    assert response.status_code == 401
    challenge = 'Bearer realm="seal-gateway"' + (', error="invalid_token"' if invalid else "")
    assert response.headers["www-authenticate"] == challenge
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "errors": [{"message": phrase, "extensions": {"code": "UNAUTHENTICATED"}}]
    }


def test_no_credentials_no_graphql(tenants_gateway: TenantsGateway) -> None:
    assert_unauthenticated(tenants_gateway.post(SEALS), "Credentials required.", invalid=False)
    for server in tenants_gateway.sandboxes.values():
        assert server.sandbox.count("esign") + server.sandbox.count("yunyin") == 0


@pytest.mark.parametrize("case", CASES)
def test_bad_credentials_are_refused_and_the_reason_logged(
    tenants_gateway: TenantsGateway, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    credential = bad_credentials(tenants_gateway)[case]
    with caplog.at_level(logging.INFO, logger="gateway.callers"):
        response = tenants_gateway.post(SEALS, authorization=credential)
    assert_unauthenticated(response, "Invalid credentials.", invalid=True)
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "gateway.callers")
    assert REASONS[case] in logged
    assert REASONS[case] not in response.text
    for server in tenants_gateway.sandboxes.values():
        assert server.sandbox.count("esign") + server.sandbox.count("yunyin") == 0


def test_another_scheme_is_refused(tenants_gateway: TenantsGateway) -> None:
    response = tenants_gateway.post(SEALS, authorization="Basic YWxhZGRpbjpvcGVuc2VzYW1l")
    assert_unauthenticated(response, "Use an `Authorization: Bearer` token.", invalid=True)


def test_api_keys_and_roles(tenants_gateway: TenantsGateway) -> None:
    tg = tenants_gateway
    acme = tg.sandboxes["acme"].sandbox
    viewer = tg.as_key("acme-viewer", SEALS)
    assert len(viewer["data"]["seals"]["edges"]) == 3
    refused = tg.as_key("acme-viewer", RENAME, {"id": yunyin_id("acme", "50001"), "name": "改"})
    assert refused["data"] == {"renameSeal": None}
    (error,) = refused["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN"}
    assert acme.count("yunyin:modify") == 0
    # X-Api-Key works as well as the bearer form
    by_header = tg.post(
        RENAME,
        {"id": yunyin_id("acme", "50001"), "name": "改"},
        **{"x-api-key": tg.keys["acme-admin"]},
    )
    assert by_header.json()["data"]["renameSeal"] == {"seal": {"name": "改"}, "userErrors": []}
    assert acme.count("yunyin:modify") == 1


def test_tokens_of_both_kinds(tenants_gateway: TenantsGateway) -> None:
    tg = tenants_gateway
    admin = tg.token("acme", {"seal_role": "admin"})
    renamed = tg.post(
        RENAME,
        {"id": yunyin_id("acme", "50003"), "name": "公章(新)"},
        authorization=f"Bearer {admin}",
    ).json()
    assert renamed["data"]["renameSeal"]["seal"] == {"name": "公章(新)"}
    no_role = tg.token("acme", {})
    viewer = tg.post(
        RENAME, {"id": yunyin_id("acme", "50003"), "name": "x"}, authorization=f"Bearer {no_role}"
    ).json()
    assert viewer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    rs256 = tg.token("globex", {})
    assert tg.post(SEALS, authorization=f"Bearer {rs256}").status_code == 200
    es256 = jwt.encode(claims(GLOBEX_ISSUER), tg.ec_key, "ES256", {"kid": "globex-ec"})
    listed = tg.post(SEALS, authorization=f"Bearer {es256}").json()
    assert len(listed["data"]["seals"]["edges"]) == 3
    assert tg.sandboxes["globex"].sandbox.count("esign:v1.list") == 2
    assert tg.sandboxes["acme"].sandbox.count("esign:v1.list") == 0


def test_the_operator_comes_from_the_token(tenants_gateway: TenantsGateway) -> None:
    """20002 may not manage seals at 云银签: the vendor's own check applies to the person."""
    tg = tenants_gateway
    token = tg.token("acme", {"seal_role": "admin", "yunyin_user_id": "20002"})
    body = tg.post(
        RENAME, {"id": yunyin_id("acme", "50001"), "name": "改名"}, authorization=f"Bearer {token}"
    ).json()
    assert body["data"]["renameSeal"]["userErrors"] == [
        {"code": "PERMISSION_DENIED", "field": None}
    ]
    sent = [r for r in tg.sandboxes["acme"].sandbox.requests if r.endpoint == "modify"]
    assert [r.headers["userid"] for r in sent] == ["20002"]
    bad = tg.token("acme", {"seal_role": "admin", "yunyin_user_id": "robert'); DROP"})
    assert tg.post(SEALS, authorization=f"Bearer {bad}").status_code == 401


def test_rate_limit_per_caller(start_gateway: StartGateway) -> None:
    gateway = start_gateway(SEALGW_RATE_LIMIT="3/minute")
    url = f"{gateway.url}/graphql"
    answers = [gateway.client.post(url, json={"query": "{ __typename }"}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["errors"][0]["extensions"] == {"code": "RATE_LIMITED"}


def test_request_ids(gateway: Gateway) -> None:
    given = gateway.client.post(
        f"{gateway.url}/graphql",
        json={"query": "{ __typename }"},
        headers={"x-request-id": "trace-42"},
    )
    assert given.headers["x-request-id"] == "trace-42"
    made = gateway.client.post(
        f"{gateway.url}/graphql",
        json={"query": "{ __typename }"},
        headers={"x-request-id": "bad id\\n"},
    )
    assert len(made.headers["x-request-id"]) == 32


def test_introspection_is_off_unless_asked(gateway: Gateway, start_gateway: StartGateway) -> None:
    probe = "{ __schema { queryType { name } } }"
    body = gateway.query(probe)
    assert "data" not in body  # a request error: nothing ran
    assert "introspection" in body["errors"][0]["message"].lower()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert gateway.data("{ __typename }") == {"__typename": "Query"}
    opened = start_gateway(SEALGW_INTROSPECTION="on")
    assert opened.data(probe) == {"__schema": {"queryType": {"name": "Query"}}}


@pytest.mark.parametrize("payload", ["null", '"x"', "5", "[1]", "true"])
def test_a_json_body_that_is_not_an_object(gateway: Gateway, payload: str) -> None:
    response = gateway.client.post(
        f"{gateway.url}/graphql", content=payload, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_every_write_attempt_is_one_audit_event(
    tenants_gateway: TenantsGateway, caplog: pytest.LogCaptureFixture
) -> None:
    tg = tenants_gateway
    seal = yunyin_id("acme", "50001")
    tg.sandboxes["acme"].sandbox.faults.append(Fault("yunyin", "modify", status=503, skip=2))
    with caplog.at_level(logging.INFO, logger="gateway.audit"):
        tg.as_key("acme-admin", RENAME, {"id": seal, "name": "改一"})  # ok
        tg.as_key("acme-viewer", RENAME, {"id": seal, "name": "改二"})  # forbidden
        tg.as_key("acme-admin", RENAME, {"id": seal, "name": " "})  # refused
        tg.as_key("acme-admin", RENAME, {"id": seal, "name": "改三"})  # the vendor said SEAL...
        tg.as_key("acme-admin", RENAME, {"id": seal, "name": "改四"})  # 503: may be made
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gateway.audit"]
    assert [e["outcome"] for e in events] == ["ok", "forbidden", "refused", "ok", "unknown"]
    assert [e["subject"] for e in events] == [
        "key:acme-admin",
        "key:acme-viewer",
        "key:acme-admin",
        "key:acme-admin",
        "key:acme-admin",
    ]
    for event in events:
        assert event["tenant"] == "acme"
        assert event["operation"] == "renameSeal"
        assert event["sealId"] == seal
        assert len(event["requestId"]) == 32
        assert event["time"].endswith("Z")
    assert events[1]["code"] == "FORBIDDEN"
    assert events[2]["code"] == "INVALID_INPUT"
    assert events[4]["code"] == "UPSTREAM_UNAVAILABLE"
    assert events[4]["vendorCode"] == "HTTP_503"
    text = json.dumps(events)
    for secret in (*tg.keys.values(), *TENANT_SECRETS.values()):
        assert secret not in text


# --- the tenants file -----------------------------------------------------------------------

GOOD = """
[tenants.acme.yunyin]
base_url = "https://openapi.yunyinsign.com"
app_id = "ACME"
app_secret = { env = "ACME_SECRET" }
user_id = 20001

[[tenants.acme.api_keys]]
name = "erp"
role = "admin"
digest = "sha256:%s"
""" % ("0" * 64)


def load(tmp_path: Path, text: str, **environ: str) -> Any:
    path = tmp_path / "tenants.toml"
    path.write_text(text)
    return load_settings({"SEALGW_TENANTS_FILE": str(path), "ACME_SECRET": "s3cr3t", **environ})


def test_a_good_tenants_file(tmp_path: Path) -> None:
    settings = load(tmp_path, GOOD)
    (tenant,) = settings.tenants
    assert tenant.name == "acme"
    assert tenant.vendors.yunyin is not None
    assert tenant.vendors.yunyin.app_secret == "s3cr3t"
    assert settings.has_callers
    assert settings.exposure_problem("0.0.0.0") is None  # noqa: S104
    assert settings.introspection is False


@pytest.mark.parametrize(
    ("change", "line", "says"),
    [
        (('app_secret = { env = "ACME_SECRET" }', 'app_secret = "inline-secret"'), 5, "never"),
        (("user_id = 20001", "user_id = 20001\nuser_name = 1"), 7, "unknown key 'user_name'"),
        (('{ env = "ACME_SECRET" }', '{ env = "NOT_SET_ANYWHERE" }'), 5, "NOT_SET_ANYWHERE"),
        (('role = "admin"', 'role = "root"'), 10, "viewer' or 'admin"),
        (('digest = "sha256:', 'digest = "md5:'), 11, "digest"),
        (("[tenants.acme.yunyin]", "[tenants.acme.yunyinn]"), 2, "unknown key 'yunyinn'"),
    ],
)
def test_a_bad_tenants_file_names_the_line(
    tmp_path: Path, change: tuple[str, str], line: int, says: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, GOOD.replace(*change))
    assert f"line {line}" in str(refused.value)
    assert says in str(refused.value)
    assert "inline-secret" not in str(refused.value)


def test_issuer_rules(tmp_path: Path) -> None:
    mixed = GOOD + (
        '\n[[tenants.acme.jwt]]\nissuer = "i"\naudience = "a"\n'
        'algorithms = ["HS256", "RS256"]\nsecret = { env = "ACME_SECRET" }\n'
    )
    with pytest.raises(ConfigError, match="never both"):
        load(tmp_path, mixed)
    shared = GOOD + (
        '\n[[tenants.acme.jwt]]\nissuer = "i"\naudience = "a"\nalgorithms = ["RS256"]\n'
        'jwks_file = "k.json"\n'
        + GOOD.replace("acme", "beta").replace('"sha256:' + "0" * 64, '"sha256:' + "1" * 64)
        + '\n[[tenants.beta.jwt]]\nissuer = "i"\naudience = "a"\nalgorithms = ["RS256"]\n'
        'jwks_file = "k.json"\ntenant_claim = "org"\n'
    )
    with pytest.raises(ConfigError, match="tenant_claim"):
        load(tmp_path, shared)


def test_vendors_are_configured_in_one_place(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="one place"):
        load(
            tmp_path,
            GOOD,
            SEALGW_YUNYIN_BASE_URL="https://x.example",
            SEALGW_YUNYIN_APP_ID="a",
            SEALGW_YUNYIN_APP_SECRET="b",
            SEALGW_YUNYIN_USER_ID="1",
        )


def test_jwks_is_read_again_for_an_unknown_kid_at_most_once_a_minute(
    tenants_gateway: TenantsGateway, tmp_path: Path
) -> None:
    path = tmp_path / "jwks.json"
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(tenants_gateway.rsa_key.public_key()))
    path.write_text(json.dumps({"keys": [{**rsa_jwk, "kid": "one"}]}))
    now = [1000.0]
    keys = KeySet(str(path), None, clock=lambda: now[0])

    async def scenario() -> None:
        assert (await keys.key("one")).key_id == "one"
        path.write_text(
            json.dumps({"keys": [{**rsa_jwk, "kid": "one"}, {**rsa_jwk, "kid": "two"}]})
        )
        now[0] += 10
        with pytest.raises(Unauthenticated):
            await keys.key("two")  # too soon to read the file again
        now[0] += 55
        assert (await keys.key("two")).key_id == "two"

    asyncio.run(scenario())


def test_cli_key_new_and_the_exposure_refusal(tmp_path: Path) -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "gateway", "key", "new", "--tenant", "acme", "--role", "admin"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    key = printed.split("#   ", 1)[1].split("\n", 1)[0]
    digest = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert f'digest = "{digest}"' in printed
    assert "[[tenants.acme.api_keys]]" in printed
    refused = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--host", "0.0.0.0", "--port", "0"],  # noqa: S104
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={"PATH": "", "SEALGW_LOG_LEVEL": "ERROR"},
    )
    assert refused.returncode == 2
    assert "no callers configured" in refused.stderr
    assert "SEALGW_TENANTS_FILE" in refused.stderr


def test_jwks_from_a_url_is_fetched_once_and_cached(tenants_gateway: TenantsGateway) -> None:
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(tenants_gateway.rsa_key.public_key()))
    served: list[int] = []

    async def jwks(request: Request) -> JSONResponse:
        served.append(1)
        return JSONResponse({"keys": [{**rsa_jwk, "kid": "web"}]})

    with ServerThread(Starlette(routes=[Route("/jwks.json", jwks)])) as server:
        keys = KeySet(None, f"{server.url}/jwks.json")

        async def scenario() -> None:
            for _ in range(3):
                assert (await keys.key("web")).key_id == "web"
            with pytest.raises(Unauthenticated):
                await keys.key("other")  # unknown, but read less than a minute ago: refused

        asyncio.run(scenario())
    assert len(served) == 1


def test_the_sandbox_knobs_are_not_on_a_configured_gateway(gateway: Gateway) -> None:
    for path in ("/sandbox/_sandbox/calls", "/sandbox/", "/_sandbox/calls"):
        assert gateway.client.get(f"{gateway.url}{path}").status_code == 404


def test_real_vendors_never_take_anonymous_requests(gateway: Gateway) -> None:
    """Anonymous callers exist only in the sandbox demo: a gateway with vendors configured by
    environment answers a request without credentials 401, on loopback too."""
    with scanned_client(authorized=False) as client:
        response = client.post(f"{gateway.url}/graphql", json={"query": SEALS})
    assert_unauthenticated(response, "Credentials required.", invalid=False)


def test_api_keys_from_the_environment(sandbox_server: SandboxServer) -> None:
    env = sandbox_server.env()
    settings = load_settings(env)
    (tenant,) = settings.tenants
    assert [(k.name, k.role.value) for k in tenant.api_keys] == [("suite", "admin")]
    assert settings.exposure_problem("0.0.0.0") is None  # noqa: S104
    for bad in ("suite:owner:sha256:" + "0" * 64, "suite:admin:md5:00", "no-colons"):
        with pytest.raises(ConfigError, match="SEALGW_API_KEYS"):
            load_settings({**env, "SEALGW_API_KEYS": bad})
    without = load_settings({**env, "SEALGW_API_KEYS": ""})
    problem = without.exposure_problem("127.0.0.1")
    assert problem is not None
    assert "no callers are" in problem
    demo = load_settings({})
    assert demo.anonymous
    assert demo.exposure_problem("127.0.0.1") is None
    assert demo.exposure_problem("10.0.0.8") is not None


def test_serve_refuses_vendors_without_callers(sandbox_server: SandboxServer) -> None:
    env = {**sandbox_server.env(), "SEALGW_API_KEYS": "", "PATH": ""}
    refused = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env=env,
    )
    assert refused.returncode == 2
    assert "no callers are" in refused.stderr
    assert "SEALGW_API_KEYS" in refused.stderr
