"""e签宝 request signing, against the test vectors in UPSTREAMS.md."""

from __future__ import annotations

import json

import httpx
import pytest

from gateway.providers.esign import signing
from gateway.providers.esign.auth import SignatureAuth, relative_path
from gateway.sandbox import esign_signature as sandbox_signature

SECRET = "test-secret"
BODY = json.dumps(
    {
        "orgId": "O1",
        "sealName": "合同专用章",
        "sealTemplateStyle": "CONTRACT_ROUND_STAR",
        "sealSize": "38_38",
    },
    ensure_ascii=False,
    separators=(",", ":"),
).encode("utf-8")


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "expected_tail", "expected_signature"),
    [
        (
            "GET",
            "/v1/organizations/ORG123/seals",
            "size=10&offset=1",
            b"",
            "/v1/organizations/ORG123/seals?offset=1&size=10",
            "V0KQsLnOvUGaObWwNxDnGIDEHCM+Onm1vvpDh59D8gM=",
        ),
        (
            "GET",
            "/v3/seals/org-seal-info",
            "sealId=S1&orgId=O1",
            b"",
            "/v3/seals/org-seal-info?orgId=O1&sealId=S1",
            "J7jK7x9i93Xjqns390SAo1NDtDraxyQYAtNqsCs/noI=",
        ),
        (
            "POST",
            "/v3/seals/org-seals/create-by-template",
            "",
            BODY,
            "/v3/seals/org-seals/create-by-template",
            "qRHFY5jZ1LUH92W6dXEKOjK0zRdjEO5YZmMTDzYpioQ=",
        ),
    ],
)
def test_vectors(
    method: str, path: str, query: str, body: bytes, expected_tail: str, expected_signature: str
) -> None:
    path_query = signing.path_and_query(path, query)
    assert path_query == expected_tail
    message = signing.string_to_sign(method, path_query, md5=signing.content_md5(body))
    assert message.endswith("\n" + expected_tail)
    assert signing.signature(SECRET, message) == expected_signature


def test_body_md5_vector() -> None:
    assert signing.content_md5(BODY) == "Ye6d8EIkSFhTd/QK/zMX5Q=="
    assert signing.content_md5(b"") == ""


def test_string_to_sign_keeps_empty_lines() -> None:
    message = signing.string_to_sign("get", "/p")
    assert message == "GET\n*/*\n\napplication/json; charset=UTF-8\n\n/p"
    with_headers = signing.string_to_sign("GET", "/p", headers="x-a:1")
    assert with_headers == "GET\n*/*\n\napplication/json; charset=UTF-8\n\nx-a:1\n/p"


def test_query_sorting_rules() -> None:
    # ASCII order ignoring case; the lower-case one first of two keys differing only by case.
    assert signing.path_and_query("/p", "b=2&A=1&a=3&_z=0") == "/p?_z=0&a=3&A=1&b=2"
    # values exactly as they appear in the URL, percent-encoding included
    assert signing.path_and_query("/p", "name=%E5%90%88&empty=") == "/p?empty=&name=%E5%90%88"
    assert signing.path_and_query("/p", "") == "/p"
    with pytest.raises(ValueError, match="twice"):
        signing.path_and_query("/p", "a=1&a=2")


def test_signature_auth_signs_what_is_sent() -> None:
    auth = SignatureAuth("APP", SECRET, clock=lambda: 1_700_000_000.123)
    request = httpx.Request(
        "GET", "https://openapi.esign.cn/v1/organizations/ORG123/seals?size=10&offset=1"
    )
    signed = next(auth.auth_flow(request))
    assert (
        signed.headers["X-Tsign-Open-Ca-Signature"]
        == "V0KQsLnOvUGaObWwNxDnGIDEHCM+Onm1vvpDh59D8gM="
    )
    assert signed.headers["X-Tsign-Open-Ca-Timestamp"] == "1700000000123"
    assert signed.headers["X-Tsign-Open-Auth-Mode"] == "Signature"
    assert signed.headers["X-Tsign-Open-App-Id"] == "APP"
    assert signed.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert signed.headers["Content-MD5"] == ""

    post = httpx.Request(
        "POST", "https://openapi.esign.cn/v3/seals/org-seals/create-by-template", content=BODY
    )
    signed = next(auth.auth_flow(post))
    assert signed.headers["Content-MD5"] == "Ye6d8EIkSFhTd/QK/zMX5Q=="
    assert (
        signed.headers["X-Tsign-Open-Ca-Signature"]
        == "qRHFY5jZ1LUH92W6dXEKOjK0zRdjEO5YZmMTDzYpioQ="
    )


def test_base_url_prefix_is_not_signed() -> None:
    assert relative_path(b"/sandbox/esign/v3/seals/org-seal-info", "/sandbox/esign") == (
        "/v3/seals/org-seal-info"
    )
    assert relative_path(b"/v3/x?a=1", "/") == "/v3/x"
    auth = SignatureAuth("APP", SECRET, base_path="/gw/esign")
    request = httpx.Request("GET", "http://h/gw/esign/v3/seals/org-seal-info?sealId=S1&orgId=O1")
    signed = next(auth.auth_flow(request))
    assert (
        signed.headers["X-Tsign-Open-Ca-Signature"]
        == "J7jK7x9i93Xjqns390SAo1NDtDraxyQYAtNqsCs/noI="
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "expected_signature"),
    [
        (
            "GET",
            "/v1/organizations/ORG123/seals",
            "size=10&offset=1",
            b"",
            "V0KQsLnOvUGaObWwNxDnGIDEHCM+Onm1vvpDh59D8gM=",
        ),
        (
            "GET",
            "/v3/seals/org-seal-info",
            "sealId=S1&orgId=O1",
            b"",
            "J7jK7x9i93Xjqns390SAo1NDtDraxyQYAtNqsCs/noI=",
        ),
        (
            "POST",
            "/v3/seals/org-seals/create-by-template",
            "",
            BODY,
            "qRHFY5jZ1LUH92W6dXEKOjK0zRdjEO5YZmMTDzYpioQ=",
        ),
    ],
)
def test_the_sandbox_checks_the_same_vectors_on_its_own(
    method: str, path: str, query: str, body: bytes, expected_signature: str
) -> None:
    """The sandbox's verifier shares no code with the client: both must meet UPSTREAMS.md."""
    parts = {
        "method": method,
        "accept": "*/*",
        "content_md5": sandbox_signature.body_md5(body),
        "content_type": "application/json; charset=UTF-8",
        "date": "",
        "resource": sandbox_signature.canonical_resource(path, query),
    }
    assert sandbox_signature.expected_signature(SECRET, **parts) == expected_signature
    assert sandbox_signature.signature_matches(SECRET, expected_signature, **parts)
    assert not sandbox_signature.signature_matches("other-secret", expected_signature, **parts)


def test_the_sandbox_sorts_queries_by_the_vendors_rules() -> None:
    resource = sandbox_signature.canonical_resource
    assert resource("/p", "b=2&A=1&a=3&_z=0") == "/p?_z=0&a=3&A=1&b=2"
    assert resource("/p", "aB=1&Ab=2") == signing.path_and_query("/p", "aB=1&Ab=2")
    assert resource("/p", "") == "/p"
    with pytest.raises(sandbox_signature.MalformedQuery):
        resource("/p", "a=1&a=2")
    assert sandbox_signature.body_md5(BODY) == "Ye6d8EIkSFhTd/QK/zMX5Q=="
