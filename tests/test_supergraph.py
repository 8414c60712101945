"""Federation proved with real routers: Apollo Gateway, and Hive Gateway over The Guild's
composition (both from npm), compose the gateway's subgraph with a second small subgraph that
extends `Seal` through `@key(fields: "id")`, and queries through the supergraph fetch fields
from both, in both directions. Hive Gateway also carries the `sealEvents` subscription from
our subgraph (over SSE, or over graphql-transport-ws) to its own client."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL

from gateway.config import load_settings
from gateway.http.app import create_app
from gateway.sandbox import Sandbox
from gateway.schema import FEDERATION_VERSION
from tests import node
from tests.conftest import (
    AUTH,
    SUITE_KEY,
    Gateway,
    SandboxServer,
    ServerThread,
    scanned_client,
)
from tests.test_read_path import global_id
from tests.test_write_path import png

ROUTER_PACKAGES = ["@apollo/gateway@2", "@apollo/server@4", "graphql@16"]

ROUTER = """
import { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';

const [sealsUrl, contractsUrl, key] = process.argv.slice(2);
const gateway = new ApolloGateway({
  supergraphSdl: new IntrospectAndCompose({
    subgraphs: [{ name: 'seals', url: sealsUrl }, { name: 'contracts', url: contractsUrl }],
  }),
  buildService: ({ url }) => new RemoteGraphQLDataSource({
    url,
    willSendRequest({ request }) { request.http.headers.set('authorization', `Bearer ${key}`); },
  }),
});
const server = new ApolloServer({ gateway });
await server.start();
const queries = JSON.parse(await new Promise((done) => {
  let text = '';
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => done(text));
}));
const answers = [];
for (const query of queries) {
  const response = await server.executeOperation({ query });
  answers.push(response.body.singleResult);
}
console.log(JSON.stringify(answers));
await server.stop();
"""

HIVE_PACKAGES = [
    "@graphql-hive/gateway-runtime@2",
    # the HTTP transport to subgraphs, which the runtime loads by name
    "@graphql-mesh/transport-http@1",
    "@theguild/federation-composition@0",
    "graphql@16",
]

# The Guild's composition from each subgraph's own SDL (`_service { sdl }`), then Hive
# Gateway's runtime over the supergraph, asked through its fetch handler. The caller's
# Authorization goes on to our subgraph, as a deployment would configure it.
HIVE = """
import { composeServices } from '@theguild/federation-composition';
import { createGatewayRuntime } from '@graphql-hive/gateway-runtime';
import { parse } from 'graphql';

const [sealsUrl, contractsUrl, key] = process.argv.slice(2);
const authorization = `Bearer ${key}`;
async function sdlOf(url, headers) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: '{ _service { sdl } }' }),
  });
  return (await response.json()).data._service.sdl;
}
const composed = composeServices([
  { name: 'seals', url: sealsUrl, typeDefs: parse(await sdlOf(sealsUrl, { authorization })) },
  { name: 'contracts', url: contractsUrl, typeDefs: parse(await sdlOf(contractsUrl, {})) },
]);
if (composed.errors && composed.errors.length) {
  console.log(JSON.stringify({ compositionErrors: composed.errors.map((e) => e.message) }));
  process.exit(0);
}
const gateway = createGatewayRuntime({
  supergraph: composed.supergraphSdl,
  logging: false,
  maskedErrors: false,
  multipart: true, // file uploads (off by default in Hive Gateway)
  propagateHeaders: {
    fromClientToSubgraphs: ({ request, subgraphName }) => subgraphName === 'seals' ? {
      authorization: request.headers.get('authorization'),
      // an upload's CSRF guard: the client's preflight header, on to the subgraph
      'apollo-require-preflight': request.headers.get('apollo-require-preflight') ?? undefined,
    } : {},
  },
});
const queries = JSON.parse(await new Promise((done) => {
  let text = '';
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => done(text));
}));
const answers = [];
for (const item of queries) {
  const init = { method: 'POST', headers: { accept: 'application/json', authorization } };
  if (typeof item === 'string') {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify({ query: item });
  } else {
    // a file upload (the GraphQL multipart request), as Apollo Client's upload link sends it
    const form = new FormData();
    form.append('operations', JSON.stringify({ query: item.query, variables: { file: null } }));
    form.append('map', JSON.stringify({ 0: ['variables.file'] }));
    const bytes = Buffer.from(item.png, 'base64');
    form.append('0', new Blob([bytes], { type: 'image/png' }), 'seal.png');
    init.headers['apollo-require-preflight'] = 'true';
    init.body = form;
  }
  const response = await gateway.fetch('http://router.local/graphql', init);
  const text = await response.text();
  try {
    answers.push(JSON.parse(text));
  } catch {
    answers.push({ status: response.status, body: text });
  }
}
console.log(JSON.stringify(answers));
await gateway.dispose();
"""

HIVE_SUBSCRIPTION_PACKAGES = [
    *HIVE_PACKAGES,
    # the WebSocket transport to subgraphs (graphql-transport-ws), loaded by name too
    "@graphql-mesh/transport-ws@2",
]

# Hive Gateway over the same composition, served on loopback, with subscriptions to our
# subgraph over SSE (the HTTP transport's own way: a POST asking for `text/event-stream`, the
# caller's Authorization propagated like any request's) or over graphql-transport-ws (the
# WebSocket transport at /subgraph, the caller's Authorization in `connection_init`'s
# payload). A client subscribes through it over SSE, says so, prints the first event, and
# leaves when the test says `leave`.
HIVE_SUBSCRIPTION = """
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { composeServices } from '@theguild/federation-composition';
import { createGatewayRuntime } from '@graphql-hive/gateway-runtime';
import { parse } from 'graphql';

const [sealsUrl, contractsUrl, key, upstream, query, variables] = process.argv.slice(2);
const authorization = `Bearer ${key}`;
async function sdlOf(url, headers) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: '{ _service { sdl } }' }),
  });
  return (await response.json()).data._service.sdl;
}
const composed = composeServices([
  { name: 'seals', url: sealsUrl, typeDefs: parse(await sdlOf(sealsUrl, { authorization })) },
  { name: 'contracts', url: contractsUrl, typeDefs: parse(await sdlOf(contractsUrl, {})) },
]);
if (composed.errors && composed.errors.length) {
  console.log(JSON.stringify({ compositionErrors: composed.errors.map((e) => e.message) }));
  process.exit(0);
}
const overWebSocket = {
  seals: {
    options: {
      subscriptions: {
        kind: 'ws',
        location: '/subgraph',
        options: { connectionParams: { Authorization: '{context.headers.authorization}' } },
      },
    },
  },
};
const gateway = createGatewayRuntime({
  supergraph: composed.supergraphSdl,
  logging: false,
  maskedErrors: false,
  propagateHeaders: {
    fromClientToSubgraphs: ({ request, subgraphName }) =>
      subgraphName === 'seals' ? { authorization: request.headers.get('authorization') } : {},
  },
  transportEntries: upstream === 'ws' ? overWebSocket : undefined,
});
const server = createServer(gateway);
await new Promise((listening) => server.listen(0, '127.0.0.1', listening));
const routerUrl = `http://127.0.0.1:${server.address().port}/graphql`;

const leave = new AbortController();
const response = await fetch(routerUrl, {
  method: 'POST',
  headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization },
  body: JSON.stringify({ query, variables: JSON.parse(variables) }),
  signal: leave.signal,
});
console.log(JSON.stringify({
  subscribed: response.status,
  contentType: response.headers.get('content-type'),
}));
const reader = response.body.getReader();
const decoder = new TextDecoder();
let text = '';
let first = null;
for (;;) {
  const { done, value } = await reader.read();
  if (done) break;
  text += decoder.decode(value, { stream: true });
  let end;
  while (first === null && (end = text.indexOf('\\n\\n')) !== -1) {
    const block = text.slice(0, end);
    text = text.slice(end + 2);
    const fields = {};
    for (const line of block.split('\\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
    }
    if (fields.event === 'next') first = JSON.parse(fields.data);
    else if (fields.event === 'complete') first = { completed: true };
  }
  if (first !== null) break;
}
console.log(JSON.stringify({ event: first }));
// still subscribed until the test says `leave`; then the client leaves, and the router stays
// up until the test closes our input: its subscription to our subgraph is its own to end
const said = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
for (let line = await said.next(); !line.done && line.value !== 'leave'; ) {
  line = await said.next();
}
leave.abort();
console.log(JSON.stringify({ left: true }));
while (!(await said.next()).done);
await gateway.dispose();
server.close();
process.exit(0);
"""

# --- the second subgraph: contracts, which knows seals only by id --------------------------

CONTRACTS = {"50001": 3, "50003": 7}


@strawberry.federation.type(keys=["id"])
class Seal:
    id: strawberry.ID

    @strawberry.field(description="Contracts stamped with this seal (the other subgraph).")
    def contract_count(self) -> int:
        return next((n for vendor, n in CONTRACTS.items() if self.id == seal_id(vendor)), 0)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Seal:
        return Seal(id=id)


@strawberry.type
class ContractsQuery:
    @strawberry.field(description="Seals this subgraph features: references resolved by ours.")
    def featured_seals(self) -> list[Seal]:
        return [Seal(id=strawberry.ID(seal_id(vendor))) for vendor in CONTRACTS]


def seal_id(vendor: str) -> str:
    return global_id("Seal", f"yunyin:{vendor}")


@pytest.fixture(scope="module")
def contracts_subgraph() -> Iterator[str]:
    # the version ours advertises: The Guild's composition takes none newer than 2.9
    schema = strawberry.federation.Schema(
        query=ContractsQuery, types=[Seal], federation_version=FEDERATION_VERSION
    )
    app = Starlette(routes=[Route("/", GraphQL(schema), methods=["GET", "POST"])])
    with ServerThread(app) as server:
        yield f"{server.url}/"


ROUTERS = {
    "apollo": (ROUTER_PACKAGES, ROUTER),
    "hive": (HIVE_PACKAGES, HIVE),
    "hive-subscriptions": (HIVE_SUBSCRIPTION_PACKAGES, HIVE_SUBSCRIPTION),
}
INSTALLED: dict[str, Path] = {}


def installed(name: str, factory: pytest.TempPathFactory) -> Path:
    """A router's packages and script, installed once for the run."""
    if name not in INSTALLED:
        packages, script = ROUTERS[name]
        INSTALLED[name] = node.install(factory, f"router-{name}", packages, script)
    return INSTALLED[name]


@pytest.fixture(params=["apollo", "hive"])
def router(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return installed(request.param, tmp_path_factory)


def through_the_supergraph(
    router: Path, gateway: Gateway, contracts: str, queries: list[str | dict[str, str]]
) -> list[dict[str, Any]]:
    answers = node.run(
        router, f"{gateway.url}/subgraph", contracts, SUITE_KEY, stdin=json.dumps(queries)
    )
    assert isinstance(answers, list), answers  # not composition errors
    return answers


@pytest.mark.timeout(200)
def test_a_supergraph_of_the_gateway_and_another_subgraph(
    router: Path, gateway: Gateway, contracts_subgraph: str
) -> None:
    our_list, their_list = through_the_supergraph(
        router,
        gateway,
        contracts_subgraph,
        [
            # the list from us, a field from them
            "{ seals(first: 20, filter: {providers: [YUNYIN]}) "
            "{ edges { node { id name contractCount } } } }",
            # the list from them, fields from us (through our _entities)
            "{ featuredSeals { id name bizType contractCount } }",
        ],
    )
    assert "errors" not in our_list, our_list
    counts = {
        e["node"]["name"]: e["node"]["contractCount"] for e in our_list["data"]["seals"]["edges"]
    }
    assert counts["市场部合同专用章"] == 3
    assert counts["示例有限公司公章"] == 7
    assert sum(counts.values()) == 10
    assert "errors" not in their_list, their_list
    assert their_list["data"]["featuredSeals"] == [
        {
            "id": seal_id("50001"),
            "name": "市场部合同专用章",
            "bizType": "CONTRACT",
            "contractCount": 3,
        },
        {
            "id": seal_id("50003"),
            "name": "示例有限公司公章",
            "bizType": "PUBLIC",
            "contractCount": 7,
        },
    ]


@pytest.mark.timeout(200)
def test_an_upload_through_hive_gateway(
    tmp_path_factory: pytest.TempPathFactory,
    gateway: Gateway,
    contracts_subgraph: str,
    sandbox: Sandbox,
) -> None:
    """Hive Gateway takes the client's multipart upload and sends it on to our subgraph as a
    multipart request (the preflight header propagated, as README's set-up says)."""
    hive = installed("hive", tmp_path_factory)
    upload = {
        "query": "mutation($file: Upload!) { uploadSealImage(input: {file: $file}) "
        "{ image { storagePath } userErrors { code } } }",
        "png": base64.b64encode(png(200, 200)).decode(),
    }
    (answer,) = through_the_supergraph(hive, gateway, contracts_subgraph, [upload])
    assert "errors" not in answer, answer
    assert "data" in answer, answer
    result = answer["data"]["uploadSealImage"]
    assert result["userErrors"] == []
    assert result["image"]["storagePath"]
    assert len(sandbox.uploads) == 1


SEAL_EVENTS = """subscription Events($after: String, $seals: [ID!]) {
  sealEvents(after: $after, filter: {sealIds: $seals}) {
    id cursor type source provider sealId vendorSealId seal { name contractCount }
    occurredAt actor outcome requestId vendorAction details { name value } } }"""
RENAME = """mutation Rename($id: ID!, $name: String!) {
  renameSeal(input: {sealId: $id, name: $name}) { seal { name } userErrors { code } } }"""


def rename(gateway: Gateway, seal: str, name: str) -> str:
    """Renames the seal through the gateway's product face; the request's id."""
    response = gateway.client.post(
        f"{gateway.url}/graphql", json={"query": RENAME, "variables": {"id": seal, "name": name}}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["renameSeal"] == {"seal": {"name": name}, "userErrors": []}
    return response.headers["x-request-id"]


def subscription_status(gateway: Gateway) -> int:
    """The status of a subscription asked for directly (GraphQL over SSE), left at once (by
    a client of its own: the suite's reads every body to its end, and a stream has none)."""
    body = {"query": "subscription { sealEvents { id } }"}
    headers = {**AUTH, "accept": "text/event-stream"}
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", f"{gateway.url}/graphql", json=body, headers=headers) as response,
    ):
        return response.status_code


@dataclass(frozen=True)
class Arrival:
    """How a request reached the gateway: HTTP or WebSocket, its path, what it asked for."""

    kind: str
    path: str
    accept: str
    subprotocols: tuple[str, ...]


@pytest.fixture
def watched_gateway(sandbox_server: SandboxServer) -> Iterator[tuple[Gateway, list[Arrival]]]:
    """A fresh gateway (its own event log), and every request that reaches it, in order."""
    # one subscription per caller: while the router's holds the place, no other is let in
    settings = load_settings(sandbox_server.env(SEALGW_MAX_SUBSCRIPTIONS_PER_CALLER="1"))
    app = create_app(settings)
    arrivals: list[Arrival] = []

    async def watched(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            accept = dict(scope["headers"]).get(b"accept", b"").decode()
            subprotocols = tuple(scope.get("subprotocols") or ())
            arrivals.append(Arrival(scope["type"], scope["path"], accept, subprotocols))
        await app(scope, receive, send)

    with ServerThread(watched, settings) as server, scanned_client() as client:
        yield Gateway(server.url, client), arrivals


@pytest.mark.timeout(200)
@pytest.mark.parametrize("upstream", ["sse", "ws"])
def test_a_subscription_through_hive_gateway(
    upstream: str,
    tmp_path_factory: pytest.TempPathFactory,
    watched_gateway: tuple[Gateway, list[Arrival]],
    contracts_subgraph: str,
) -> None:
    """A client subscribes to `sealEvents` through Hive Gateway, which subscribes to our
    subgraph (over SSE, or over graphql-transport-ws at /subgraph) with the client's
    credentials; a write through the gateway's product face then reaches the client through
    the router, its seal's fields from both subgraphs. The router's subscription holds the
    caller's place at the gateway until the client leaves, and then no longer."""
    hive = installed("hive-subscriptions", tmp_path_factory)
    gateway, arrivals = watched_gateway
    seal = seal_id("50001")
    # a first write, whose event's cursor the subscription starts after: the next write's
    # event reaches it however long the router takes to subscribe upstream
    rename(gateway, seal, "市场部合同专用章(一)")
    page = gateway.data("{ sealEvents(first: 10) { pageInfo { endCursor } } }")
    after = page["sealEvents"]["pageInfo"]["endCursor"]
    assert after
    variables = json.dumps({"after": after, "seals": [seal]})
    args = [f"{gateway.url}/subgraph", contracts_subgraph, SUITE_KEY, upstream, SEAL_EVENTS]
    with node.Running(hive, *args, variables) as router:
        subscribed = router.line(within_s=60)
        assert subscribed["subscribed"] == 200, subscribed
        assert subscribed["contentType"].startswith("text/event-stream"), subscribed
        request_id = rename(gateway, seal, "市场部合同专用章(二)")
        answer = router.line(within_s=30)["event"]
        assert subscription_status(gateway) == 429  # the router's holds the caller's place
        router.tell("leave")
        assert router.line(within_s=10) == {"left": True}
        # the router ends its subscription upstream when its client leaves: the place is free
        deadline = time.monotonic() + 10
        while subscription_status(gateway) != 200:
            assert time.monotonic() < deadline, "the router kept its subscription upstream"
            time.sleep(0.1)
    assert "errors" not in answer, answer
    event = answer["data"]["sealEvents"]
    assert event["type"] == "UPDATED"
    assert event["source"] == "GATEWAY_WRITE"
    assert event["provider"] == "YUNYIN"
    assert event["sealId"] == seal
    assert event["vendorSealId"] == "50001"
    # the seal as it is now: its name from our subgraph, its contracts from the other one
    assert event["seal"] == {"name": "市场部合同专用章(二)", "contractCount": 3}
    assert event["actor"] == "key:suite"
    assert event["outcome"] == "ok"
    assert event["requestId"] == request_id
    assert {"name": "operation", "value": "renameSeal"} in event["details"]
    assert event["cursor"] != after
    # the router reached our subgraph's subscription the way it was told to
    upstream_streams = [
        a
        for a in arrivals
        if a.path == "/subgraph" and (a.kind == "websocket" or "text/event-stream" in a.accept)
    ]
    assert len(upstream_streams) == 1, arrivals
    if upstream == "ws":
        assert upstream_streams[0].kind == "websocket"
        assert "graphql-transport-ws" in upstream_streams[0].subprotocols
    else:
        assert upstream_streams[0].kind == "http"
