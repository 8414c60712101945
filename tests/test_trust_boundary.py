"""The trust boundary, tried as an attacker would, over real HTTP against a gateway with two
tenants (API keys and JWT issuers): no spelling of a request without credentials reads
anything; hostile bodies get a coded GraphQL JSON 4xx, never a 5xx, plain text or a traceback;
a slow client holds only its own tenant's share; JWT claims are held to RFC 7519."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from gateway.config import load_settings
from gateway.http.app import create_app
from tests.conftest import ServerThread, TenantsGateway

SEALS = "{ seals(first: 3) { edges { node { id name } } } }"
ENCODED_SEALS = (
    "%7B%20seals(first%3A%203)%20%7B%20edges%20%7B%20node%20%7B%20id%20name%20%7D%20%7D%20%7D%20%7D"
)


def vendor_calls(gateway: TenantsGateway) -> int:
    return sum(
        s.sandbox.count("esign") + s.sandbox.count("yunyin") for s in gateway.sandboxes.values()
    )


def assert_coded(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """A GraphQL JSON error answer with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/"), response.headers
    body: dict[str, Any] = response.json()
    assert body["errors"][0]["extensions"]["code"] == code, body
    assert "Traceback" not in response.text
    return body


# --- no spelling of an anonymous request reads anything ---------------------------------------

SPELLINGS = [
    f"%71uery={ENCODED_SEALS}",
    f"q%75ery={ENCODED_SEALS}",
    f"quer%79={ENCODED_SEALS}",
    f"%71%75%65%72%79={ENCODED_SEALS}",
    f"query={ENCODED_SEALS}",
    f"Query={ENCODED_SEALS}",
    f"QUERY={ENCODED_SEALS}",
    f"query={ENCODED_SEALS}&query={ENCODED_SEALS}",
    f"foo=1&query={ENCODED_SEALS}",
    "query=",
    "query",
    "documentId=abc",
    "DocumentID=abc",
    "operationName=Seals",
    "variables=%7B%7D",
    "extensions=%7B%22persistedQuery%22%3A%7B%22version%22%3A1%2C%22sha256Hash%22%3A%22x%22%7D%7D",
    "%20query=x",
    "%ff=1",
]
ACCEPTS = [
    None,
    "text/html",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "*/*",
    "application/json",
    "application/graphql-response+json",
    "TEXT/HTML",
    # GraphQL over SSE (EventSource sends GET with this alone)
    "text/event-stream",
    "Text/Event-Stream, application/json",
]


@pytest.mark.parametrize("path", ["/graphql", "/subgraph"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_no_spelling_of_an_anonymous_get_reads_anything(
    tenants_gateway: TenantsGateway, path: str, method: str
) -> None:
    client = tenants_gateway.client
    for query_string in SPELLINGS:
        for accept in ACCEPTS:
            headers = {} if accept is None else {"accept": accept}
            response = client.request(
                method, f"{tenants_gateway.url}{path}?{query_string}", headers=headers
            )
            assert response.status_code == 401, (query_string, accept, response.text[:200])
            if method == "GET":
                assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
                assert "data" not in response.json()
    assert vendor_calls(tenants_gateway) == 0


# POST bodies naming an operation in every spelling a client or an attacker might send: JSON
# keys cased or escaped, a batch, stored documents, GraphQL's own media type, a form, a
# multipart upload, text that is JSON, and the query in the URL with an empty body
_OPERATIONS = json.dumps({"query": 'mutation { deleteSeal(id: "x") { id } }', "variables": {}})
POST_SPELLINGS: list[tuple[str, bytes]] = [
    ("application/json", json.dumps({"query": SEALS}).encode()),
    ("application/json; charset=utf-8", json.dumps({"query": SEALS}).encode()),
    ("APPLICATION/JSON", json.dumps({"query": SEALS}).encode()),
    ("application/json", json.dumps({"Query": SEALS}).encode()),
    ("application/json", b'{"\\u0071uery": ' + json.dumps(SEALS).encode() + b"}"),
    ("application/json", json.dumps({"query": SEALS, "query ": "x"}).encode()),
    ("application/json", json.dumps([{"query": SEALS}, {"query": SEALS}]).encode()),
    ("application/json", json.dumps({"documentId": "abc"}).encode()),
    (
        "application/json",
        json.dumps(
            {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}
        ).encode(),
    ),
    ("application/graphql", SEALS.encode()),
    ("application/graphql-response+json", json.dumps({"query": SEALS}).encode()),
    ("application/x-www-form-urlencoded", f"query={ENCODED_SEALS}".encode()),
    ("application/x-www-form-urlencoded", f"%71uery={ENCODED_SEALS}".encode()),
    ("text/plain", json.dumps({"query": SEALS}).encode()),
    ("", json.dumps({"query": SEALS}).encode()),
    (
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
        + _OPERATIONS.encode()
        + b'\r\n--b\r\nContent-Disposition: form-data; name="map"\r\n\r\n{}\r\n--b--\r\n',
    ),
    ("application/json", b""),
]
# what a request may carry in place of credentials: nothing, or a credential header that is
# empty or names no caller
NO_CREDENTIALS: list[dict[str, str]] = [
    {},
    {"authorization": ""},
    {"authorization": "Bearer"},
    {"authorization": "Bearer  sgw_nope"},
    {"authorization": "bearer sgw_nope"},
    {"authorization": "Basic dXNlcjpwYXNz"},
    {"x-api-key": ""},
    {"x-api-key": "sgw_nope"},
]


@pytest.mark.parametrize("path", ["/graphql", "/subgraph"])
def test_no_spelling_of_a_post_without_credentials_runs_anything(
    tenants_gateway: TenantsGateway, path: str
) -> None:
    """Every spelling of an operation's parameters by POST (and with the query in the URL),
    as JSON or as a stream (SSE), without credentials or with empty or unknown ones: a coded
    401 before anything is read, never data, and no vendor called."""
    client = tenants_gateway.client
    for content_type, body in POST_SPELLINGS:
        for credentials in NO_CREDENTIALS:
            for accept in ("application/json", "text/event-stream"):
                headers = {"accept": accept, "apollo-require-preflight": "1", **credentials}
                if content_type:
                    headers["content-type"] = content_type
                for url in (
                    f"{tenants_gateway.url}{path}",
                    f"{tenants_gateway.url}{path}?query={ENCODED_SEALS}",
                ):
                    response = client.post(url, content=body, headers=headers)
                    case = (content_type, body[:40], credentials, accept, url[-20:])
                    assert response.status_code == 401, (case, response.text[:200])
                    assert response.json()["errors"][0]["extensions"]["code"] == (
                        "UNAUTHENTICATED"
                    ), case
                    assert "data" not in response.json(), case
    assert vendor_calls(tenants_gateway) == 0


@pytest.mark.parametrize("path", ["/graphql", "/subgraph"])
@pytest.mark.parametrize(
    ("messages", "code"),
    [
        # an operation before (or instead of) connection_init
        ([{"id": "1", "type": "subscribe", "payload": {"query": SEALS}}], 4401),
        ([{"type": "ping"}], 4401),
        # connection_init without credentials, in any spelling of an empty or absent one
        ([{"type": "connection_init"}], 4401),
        ([{"type": "connection_init", "payload": {}}], 4401),
        ([{"type": "connection_init", "payload": {"Authorization": ""}}], 4401),
        ([{"type": "connection_init", "payload": {"headers": {}}}], 4401),
        ([{"type": "connection_init", "payload": "Bearer x"}], 4401),
        # credentials that are not a caller's, however spelled
        ([{"type": "connection_init", "payload": {"AUTHORIZATION": "Bearer nope"}}], 4403),
        ([{"type": "connection_init", "payload": {"headers": {"x-api-key": "nope"}}}], 4403),
    ],
)
def test_no_websocket_without_credentials_runs_anything(
    tenants_gateway: TenantsGateway, path: str, messages: list[dict[str, object]], code: int
) -> None:
    url = tenants_gateway.url.replace("http://", "ws://") + path
    subscribe = {"id": "2", "type": "subscribe", "payload": {"query": SEALS}}
    with connect(url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        # and whatever follows the refusal is not read
        with contextlib.suppress(ConnectionClosed):
            for message in [*messages, subscribe]:
                socket.send(json.dumps(message))
        with pytest.raises(ConnectionClosed) as closed:
            _nothing_runs(socket)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code
    assert vendor_calls(tenants_gateway) == 0


def _nothing_runs(socket: ClientConnection) -> None:
    """Reads until the socket is closed; no answer may acknowledge or answer anything."""
    while True:
        answer = json.loads(socket.recv(5))
        assert answer["type"] not in ("next", "connection_ack"), answer


def test_the_subgraph_answers_nothing_without_credentials(tenants_gateway: TenantsGateway) -> None:
    entities = (
        'query { _entities(representations: [{__typename: "Seal", id: "x"}]) '
        "{ ... on Seal { name } } }"
    )
    for query in ("{ _service { sdl } }", entities, SEALS):
        for accept in ACCEPTS:
            headers = {} if accept is None else {"accept": accept}
            url = f"{tenants_gateway.url}/subgraph"
            get = tenants_gateway.client.get(url, params={"query": query}, headers=headers)
            post = tenants_gateway.client.post(url, json={"query": query}, headers=headers)
            for response in (get, post):
                assert_coded(response, 401, "UNAUTHENTICATED")
        # and no GraphiQL page there, even for a browser
        page = tenants_gateway.client.get(url, headers={"accept": "text/html"})
        assert_coded(page, 401, "UNAUTHENTICATED")
    assert vendor_calls(tenants_gateway) == 0


@pytest.mark.parametrize("accept", ACCEPTS)
def test_the_graphiql_page_is_all_an_anonymous_get_gets(
    tenants_gateway: TenantsGateway, accept: str | None
) -> None:
    headers = {} if accept is None else {"accept": accept}
    # parameters that are no GraphQL parameter in any spelling run nothing
    for query_string in ("", "?", "?foo=bar", "?utm_source=docs", "?query%00=x", "?queries=1"):
        page = tenants_gateway.client.get(
            f"{tenants_gateway.url}/graphql{query_string}", headers=headers
        )
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "graphiql" in page.text.lower()
    head = tenants_gateway.client.head(f"{tenants_gateway.url}/graphql", headers=headers)
    assert head.status_code == 200
    assert head.content == b""
    assert vendor_calls(tenants_gateway) == 0


def test_an_operation_by_head_is_refused_even_with_credentials(
    tenants_gateway: TenantsGateway,
) -> None:
    key = tenants_gateway.keys["acme-admin"]
    response = tenants_gateway.client.head(
        f"{tenants_gateway.url}/graphql?query={ENCODED_SEALS}",
        headers={"authorization": f"Bearer {key}"},
    )
    assert response.status_code == 405
    assert vendor_calls(tenants_gateway) == 0


def test_every_spelling_with_credentials_is_read_the_one_way(
    tenants_gateway: TenantsGateway,
) -> None:
    """With a key, the same spellings are read as GraphQL over HTTP says: exact names only,
    each once; the others find no query (or are refused), never something else."""
    key = tenants_gateway.keys["acme-viewer"]
    headers = {"authorization": f"Bearer {key}", "accept": "application/json"}
    url = f"{tenants_gateway.url}/graphql"
    ok = tenants_gateway.client.get(f"{url}?query={ENCODED_SEALS}", headers=headers)
    assert len(ok.json()["data"]["seals"]["edges"]) == 3
    encoded = tenants_gateway.client.get(f"{url}?%71uery={ENCODED_SEALS}", headers=headers)
    assert encoded.json() == ok.json()  # percent-decoded names are the same name
    for query_string in (f"Query={ENCODED_SEALS}", "query=", f"query={ENCODED_SEALS}&query=x"):
        assert_coded(
            tenants_gateway.client.get(f"{url}?{query_string}", headers=headers), 400, "BAD_REQUEST"
        )
    assert_coded(
        tenants_gateway.client.get(f"{url}?query=%ff", headers=headers), 400, "BAD_REQUEST"
    )


# --- hostile bodies ------------------------------------------------------------------------


@pytest.fixture
def admin(tenants_gateway: TenantsGateway) -> dict[str, str]:
    return {"authorization": f"Bearer {tenants_gateway.keys['acme-admin']}"}


def raw_post(
    gateway: TenantsGateway, body: bytes, content_type: str, headers: dict[str, str]
) -> httpx.Response:
    return gateway.client.post(
        f"{gateway.url}/graphql", content=body, headers={"content-type": content_type, **headers}
    )


HOSTILE_JSON = {
    # unused variables 5,000 deep: ~10 KB
    "deep variables": b'{"query": "{ __typename }", "variables": {"a": '
    + b"[" * 5000
    + b"]" * 5000
    + b"}}",
    "deep extensions": b'{"query": "{ __typename }", "extensions": '
    + b'{"a":' * 3000
    + b"1"
    + b"}" * 3000
    + b"}",
    "lone surrogate": b'{"query": "{ __typename \\ud800 }"}',
    "lone low surrogate": b'{"query": "{ __typename }", "operationName": "\\udfff"}',
    "not utf-8": b'{"query": "{ __typename \xff\xfe }"}',
    "latin-1": '{"query": "{ seals(filter: {nameContains: \\"é\\"}) { totalCount } }"}'.encode(
        "latin-1"
    ),
    "truncated": b'{"query": "{ __typename ',
    "a list": b'[{"query": "{ __typename }"}]',
    "a string": b'"{ __typename }"',
    "query a number": b'{"query": 12}',
    "variables a list": b'{"query": "{ __typename }", "variables": [1]}',
    "operationName an object": b'{"query": "{ __typename }", "operationName": {}}',
    "empty": b"",
}


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_hostile_json_is_a_coded_400(
    tenants_gateway: TenantsGateway,
    admin: dict[str, str],
    case: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        response = raw_post(tenants_gateway, HOSTILE_JSON[case], "application/json", admin)
    assert_coded(response, 400, "BAD_REQUEST")
    assert response.json()["errors"][0]["message"].endswith(".")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_deep_variables_of_a_declared_variable_are_refused_too(
    tenants_gateway: TenantsGateway, admin: dict[str, str]
) -> None:
    query = "query($f: SealFilter) { seals(filter: $f) { totalCount } }"
    body = json.dumps({"query": query, "variables": {"f": {"nameContains": "x"}}})
    nested = body.replace('"x"', "[" * 40 + "]" * 40)
    assert_coded(
        raw_post(tenants_gateway, nested.encode(), "application/json", admin), 400, "BAD_REQUEST"
    )


BOUNDARY = "sealgw-test-boundary"


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = BOUNDARY) -> bytes:
    chunks = []
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
        )
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()


UPLOAD = (
    b'{"query": "mutation($f: Upload!) { uploadSealImage(input: {file: $f}) '
    b'{ userErrors { code } } }", "variables": {"f": null}}'
)
HOSTILE_MULTIPART = {
    "map a list": (
        multipart(
            [
                ("operations", None, UPLOAD),
                ("map", None, b'[["variables.f"]]'),
                ("0", "a.png", b"x"),
            ]
        ),
        f"multipart/form-data; boundary={BOUNDARY}",
    ),
    "map a string": (
        multipart([("operations", None, UPLOAD), ("map", None, b'"0"'), ("0", "a.png", b"x")]),
        f"multipart/form-data; boundary={BOUNDARY}",
    ),
    "map paths not a list": (
        multipart(
            [
                ("operations", None, UPLOAD),
                ("map", None, b'{"0": "variables.f"}'),
                ("0", "a.png", b"x"),
            ]
        ),
        f"multipart/form-data; boundary={BOUNDARY}",
    ),
    "no boundary": (multipart([("operations", None, UPLOAD)]), "multipart/form-data"),
    "missing file": (
        multipart([("operations", None, UPLOAD), ("map", None, b'{"0": ["variables.f"]}')]),
        f"multipart/form-data; boundary={BOUNDARY}",
    ),
    "path to nowhere": (
        multipart(
            [
                ("operations", None, UPLOAD),
                ("map", None, b'{"0": ["variables.nope.deeper"]}'),
                ("0", "a.png", b"x"),
            ]
        ),
        f"multipart/form-data; boundary={BOUNDARY}",
    ),
    "operations a list": (
        multipart([("operations", None, b"[]"), ("map", None, b"{}")]),
        f"multipart/form-data; boundary={BOUNDARY}",
    ),
    "operations not json": (
        multipart([("operations", None, b"{nope"), ("map", None, b"{}")]),
        f"multipart/form-data; boundary={BOUNDARY}",
    ),
    "no operations": (
        multipart([("map", None, b"{}")]),
        f"multipart/form-data; boundary={BOUNDARY}",
    ),
    "two files": (
        multipart(
            [
                ("operations", None, UPLOAD),
                ("map", None, b'{"0": ["variables.f"]}'),
                ("0", "a.png", b"x"),
                ("1", "b.png", b"y"),
            ]
        ),
        f"multipart/form-data; boundary={BOUNDARY}",
    ),
    "garbage": (b"\x00\xff" * 64, f"multipart/form-data; boundary={BOUNDARY}"),
    "unknown content type": (b"{ __typename }", "application/graphql"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_MULTIPART))
def test_malformed_multipart_is_a_coded_400(
    tenants_gateway: TenantsGateway,
    admin: dict[str, str],
    case: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body, content_type = HOSTILE_MULTIPART[case]
    with caplog.at_level(logging.INFO):
        response = raw_post(
            tenants_gateway, body, content_type, {**admin, "apollo-require-preflight": "1"}
        )
    assert_coded(response, 400, "BAD_REQUEST")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert vendor_calls(tenants_gateway) == 0


def test_an_upload_given_text_is_bad_user_input(
    tenants_gateway: TenantsGateway, admin: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    query = "mutation($f: Upload!) { uploadSealImage(input: {file: $f}) { userErrors { code } } }"
    for value in ("not a file", 12, {"filename": "a.png"}):
        with caplog.at_level(logging.INFO):
            response = tenants_gateway.client.post(
                f"{tenants_gateway.url}/graphql",
                json={"query": query, "variables": {"f": value}},
                headers=admin,
            )
        body = assert_coded(response, 200, "BAD_USER_INPUT")
        assert "data" not in body
        assert "multipart" in body["errors"][0]["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert vendor_calls(tenants_gateway) == 0


def test_oversize_bodies_are_a_coded_413(
    tenants_gateway: TenantsGateway, admin: dict[str, str]
) -> None:
    big = b'{"query": "{ __typename }", "variables": {"a": "' + b"x" * (1024 * 1024 + 1) + b'"}}'
    assert_coded(raw_post(tenants_gateway, big, "application/json", admin), 413, "BAD_REQUEST")

    def chunks() -> Iterator[bytes]:  # no Content-Length: read up to the limit only
        yield b'{"query": "{ __typename }", "variables": {"a": "'
        for _ in range(1100):
            yield b"x" * 1024
        yield b'"}}'

    chunked = tenants_gateway.client.post(
        f"{tenants_gateway.url}/graphql",
        content=chunks(),
        headers={"content-type": "application/json", **admin},
    )
    assert_coded(chunked, 413, "BAD_REQUEST")


def test_a_document_too_large_to_validate_is_refused_before_validation(
    tenants_gateway: TenantsGateway, admin: dict[str, str]
) -> None:
    """`{ providers { provider } … ×1,240 }` (25 KB, under the token limit) held the event loop
    for 1.7 s in validation; the bounds refuse it, and its variants, before validation runs."""
    for document in (
        "{" + " providers { provider }" * 1240 + "}",
        "{" + " providers { provider }" * 40 + "}",
        "{" + " __typename" * 4990 + "}",
        "{ seals { edges { node { " + "name " * 17 + "} } } }",
        "{ "
        + " ".join(f"...F{i}" for i in range(80))
        + " } "
        + " ".join(f"fragment F{i} on Query {{ a{i % 40}: __typename }}" for i in range(80)),
    ):
        response = tenants_gateway.client.post(
            f"{tenants_gateway.url}/graphql", json={"query": document}, headers=admin
        )
        body = assert_coded(response, 200, "GRAPHQL_VALIDATION_FAILED")
        assert "data" not in body
    # what real clients send passes: fragments repeating `id` and `__typename` (Relay, Apollo)
    fragments = " ".join(f"fragment S{i} on Seal {{ id __typename name }}" for i in range(12))
    spreads = " ".join(f"...S{i}" for i in range(12))
    relay = tenants_gateway.as_key(
        "acme-admin", f"{{ seals(first: 2) {{ edges {{ node {{ id {spreads} }} }} }} }} {fragments}"
    )
    assert len(relay["data"]["seals"]["edges"]) == 2


# --- JWT claims ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": ""},
        {"sub": "   "},
        {"sub": 12},
        {"sub": ["a"]},
        {"sub": "x" * 300},
        {"exp": "9999999999"},
        {"exp": True},
        {"nbf": "0"},
        {"iat": "0"},
        {"iat": float("nan")},
        {"big": "x" * 9000},
    ],
    ids=lambda c: next(iter(c)) + "=" + repr(next(iter(c.values())))[:12],
)
def test_jwt_claims_are_held_to_rfc_7519(
    tenants_gateway: TenantsGateway, claims: dict[str, Any]
) -> None:
    for tenant in ("acme", "globex"):
        token = tenants_gateway.token(tenant, claims)
        response = tenants_gateway.post(SEALS, authorization=f"Bearer {token}")
        assert_coded(response, 401, "UNAUTHENTICATED")
        assert response.json()["errors"][0]["message"] == "Invalid credentials."
    # the same token with good claims works
    good = tenants_gateway.token("acme", {})
    assert tenants_gateway.post(SEALS, authorization=f"Bearer {good}").status_code == 200
    assert vendor_calls(tenants_gateway) > 0


def test_no_sub_is_refused(tenants_gateway: TenantsGateway) -> None:
    import jwt as pyjwt

    from tests.conftest import ACME_ISSUER, AUDIENCE, TENANT_SECRETS

    now = int(time.time())
    token = pyjwt.encode(
        {"iss": ACME_ISSUER, "aud": AUDIENCE, "exp": now + 600},
        TENANT_SECRETS["ACME_JWT_SECRET"],
        "HS256",
    )
    assert_coded(
        tenants_gateway.post(SEALS, authorization=f"Bearer {token}"), 401, "UNAUTHENTICATED"
    )


# --- fairness under slow clients ---------------------------------------------------------------


def drip(url: str, headers: dict[str, str], *, body_bytes: int = 1000) -> socket.socket:
    """A connection that sends its head and the start of its body, then nothing more."""
    host, port = url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    connection.sendall(
        f"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{head}"
        f"Content-Length: {body_bytes}\r\n\r\n".encode()
        + b'{"query": "{ __ty'
    )
    return connection


def read_answer(connection: socket.socket, timeout: float = 10.0) -> bytes:
    connection.settimeout(timeout)
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except TimeoutError:
        pass
    return received


def test_a_slow_tenant_starves_nobody_else(tenants_gateway: TenantsGateway) -> None:
    """Twenty connections of one tenant's viewer, each sending its body a little and then
    nothing: that tenant's share fills (its next request is refused at once), and the other
    tenant's admin is answered as usual; after the body deadline the slow ones get a 408."""
    env = {
        **tenants_gateway.env,
        "SEALGW_MAX_CONCURRENT_REQUESTS": "16",
        "SEALGW_MAX_CONCURRENT_PER_TENANT": "8",
        "SEALGW_MAX_CONCURRENT_PER_CALLER": "16",
        "SEALGW_BODY_TIMEOUT": "3",
    }
    settings = load_settings(env)
    with ServerThread(create_app(settings), settings) as server:
        viewer = {"Authorization": f"Bearer {tenants_gateway.keys['acme-viewer']}"}
        slow = [drip(server.url, viewer) for _ in range(20)]
        time.sleep(0.5)
        with httpx.Client(timeout=10) as client:
            other = client.post(
                f"{server.url}/graphql",
                json={"query": SEALS},
                headers={"Authorization": f"Bearer {tenants_gateway.keys['globex-admin']}"},
            )
            assert other.status_code == 200, other.text
            assert len(other.json()["data"]["seals"]["edges"]) == 3
            same_tenant = client.post(
                f"{server.url}/graphql",
                json={"query": SEALS},
                headers={"Authorization": f"Bearer {tenants_gateway.keys['acme-admin']}"},
            )
            assert_coded(same_tenant, 503, "OVERLOADED")
            assert same_tenant.headers["retry-after"] == "1"
        answers = [read_answer(c) for c in slow]
        for connection in slow:
            connection.close()
    refused = [a for a in answers if b" 503 " in a.split(b"\r\n", 1)[0]]
    timed_out = [a for a in answers if b" 408 " in a.split(b"\r\n", 1)[0]]
    assert len(refused) == 12, answers[:3]
    assert len(timed_out) == 8, answers[:3]
    assert all(b'"code":"BAD_REQUEST"' in a for a in timed_out)


def test_a_head_sent_too_slowly_is_closed_with_408(tenants_gateway: TenantsGateway) -> None:
    settings = load_settings({**tenants_gateway.env, "SEALGW_HEADER_TIMEOUT": "1"})
    with ServerThread(create_app(settings), settings) as server:
        host, port = server.url.removeprefix("http://").split(":")
        connection = socket.create_connection((host, int(port)))
        stop = threading.Event()

        def dribble() -> None:
            for byte in b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                if stop.is_set():
                    return
                try:
                    connection.send(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.1)

        sender = threading.Thread(target=dribble, daemon=True)
        sender.start()
        answer = read_answer(connection, timeout=6)
        stop.set()
        connection.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"code":"BAD_REQUEST"' in answer


def test_admission_counts_each_share_and_forgets_callers_with_nothing_in_progress() -> None:
    from gateway.access.admission import Admission, AdmissionLimits, Full
    from gateway.domain import Caller, Role

    admission = Admission(AdmissionLimits(process=5, tenant=3, caller=2))
    alice, bob, carol = (Caller("acme", Role.VIEWER, f"key:{n}") for n in ("a", "b", "c"))
    held = [admission.enter(alice), admission.enter(alice)]
    with pytest.raises(Full) as caller_full:
        admission.enter(alice)
    assert caller_full.value.whose == "caller"
    held.append(admission.enter(bob))
    with pytest.raises(Full) as tenant_full:
        admission.enter(carol)
    assert tenant_full.value.whose == "tenant"
    other = [admission.enter(Caller("globex", Role.ADMIN, f"key:{n}")) for n in ("x", "y")]
    with pytest.raises(Full) as process_full:
        admission.enter(Caller("initech", Role.ADMIN, "key:z"))
    assert process_full.value.whose == "process"
    for ticket in [*held, *other]:
        ticket.release()
        ticket.release()  # a second release changes nothing
    assert admission.in_flight == 0
    assert admission._tenants == {}
    assert admission._callers == {}


# Paths as sent on the wire: the two GraphQL paths, their percent-encoded and cased spellings,
# and near-misses (a trailing slash, doubled or dotted segments, parameters after a semicolon),
# with what each is answered without credentials: 401, or no GraphQL path at all.
RAW_PATHS = {
    "/graphql": 401,
    "/subgraph": 401,
    "/%67raphql": 401,
    "/graph%71l": 401,
    "/sub%67raph": 401,
    "/GRAPHQL": 404,
    "/graphql/": 307,
    "//graphql": 404,
    "/./graphql": 404,
    "/x/../graphql": 404,
    "/graphql;x": 404,
    "/graphql%2F": 307,
    "/graphql%00": 404,
}


@pytest.mark.parametrize("dispatch", ["on", "off"])
def test_no_path_spelling_runs_an_operation_without_credentials(
    tenants_gateway: TenantsGateway, dispatch: str
) -> None:
    """Every spelling of GraphQL's paths on the wire, by POST (JSON and form-encoded) and GET,
    without credentials, with GraphQL's paths reached directly (SEALGW_DIRECT_GRAPHQL_DISPATCH)
    and through the router: a 401, or a path that is not GraphQL's (404, a redirect); never an
    answer with data, and no vendor called; the same both ways."""
    settings = load_settings({**tenants_gateway.env, "SEALGW_DIRECT_GRAPHQL_DISPATCH": dispatch})
    body = json.dumps({"query": SEALS}).encode()
    with ServerThread(create_app(settings), settings) as server:
        host, port = server.url.removeprefix("http://").split(":")
        for path in RAW_PATHS:
            for request in (
                b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                % (path.encode(), len(body), body),
                b"GET %s?query=%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                % (path.encode(), ENCODED_SEALS.encode()),
                b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
                b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\nquery=%s"
                % (path.encode(), len(ENCODED_SEALS) + 6, ENCODED_SEALS.encode()),
            ):
                with socket.create_connection((host, int(port))) as connection:
                    connection.sendall(request)
                    answer = read_answer(connection)
                status = int(answer.split(b" ", 2)[1])
                expected = RAW_PATHS[path]
                assert status == expected, (path, request[:40], answer[:300])
                assert b'"data"' not in answer, (path, answer[:300])
                assert b"Traceback" not in answer
    assert vendor_calls(tenants_gateway) == 0
