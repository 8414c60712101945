"""Persisted documents: Apollo's `createPersistedQueryLink` works with the gateway unchanged
(driven from Node), and trusted documents from a manifest, with the mode that refuses every
other document."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests import node
from tests.conftest import Gateway, StartGateway

APOLLO = ["@apollo/client@4", "graphql@16", "rxjs@7"]
SEALS = "query Seals { seals(first: 2) { edges { node { id name } } } }"

CLIENT = """
import { ApolloClient, InMemoryCache, HttpLink, gql } from '@apollo/client';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { createHash } from 'node:crypto';

const [uri, text] = process.argv.slice(2);
const sent = [];
const logged = async (input, init) => {
  const body = JSON.parse(init.body);
  sent.push({ query: Boolean(body.query), hash: body.extensions?.persistedQuery?.sha256Hash });
  return fetch(input, init);
};
const sha256 = (q) => createHash('sha256').update(q).digest('hex');
const client = () => new ApolloClient({
  link: createPersistedQueryLink({ sha256 }).concat(
    new HttpLink({ uri, fetch: logged,
                   headers: { authorization: `Bearer ${process.env.AUDIT_KEY}` } })),
  cache: new InMemoryCache(),
});
const query = gql(text);
const first = client();
const answers = [];
answers.push((await first.query({ query, fetchPolicy: 'network-only' })).data);
answers.push((await first.query({ query, fetchPolicy: 'network-only' })).data);
// another client: the document is already registered
answers.push((await client().query({ query, fetchPolicy: 'network-only' })).data);
console.log(JSON.stringify({ sent, answers }));
"""


@pytest.fixture(scope="session")
def apollo_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return node.install(tmp_path_factory, "apollo", APOLLO, CLIENT)


@pytest.mark.timeout(120)
def test_apollos_persisted_query_link_works_unchanged(
    apollo_client: Path, gateway: Gateway
) -> None:
    result = node.run(apollo_client, f"{gateway.url}/graphql", SEALS)
    sent = result["sent"]
    # the hash alone (not found), then the text with it, then the hash alone each time
    assert [s["query"] for s in sent] == [False, True, False, False]
    assert len({s["hash"] for s in sent}) == 1
    assert all(len(a["seals"]["edges"]) == 2 for a in result["answers"])


def post(gateway: Gateway, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = gateway.client.post(f"{gateway.url}/graphql", json=body)
    return response.status_code, response.json()


def apq(text: str | None, hash_: str) -> dict[str, Any]:
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": hash_}}}
    if text is not None:
        body["query"] = text
    return body


def test_automatic_persisted_queries_by_hand(gateway: Gateway) -> None:
    hash_ = hashlib.sha256(SEALS.encode()).hexdigest()
    status, body = post(gateway, apq(None, hash_))
    assert status == 200
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert body["errors"][0]["message"] == "PersistedQueryNotFound"
    status, body = post(gateway, apq(SEALS, "0" * 64))
    assert status == 400
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert post(gateway, apq(SEALS, hash_))[1]["data"]["seals"]
    assert post(gateway, apq(None, hash_))[1]["data"]["seals"]


@pytest.mark.parametrize("apollo_format", [True, False])
def test_trusted_documents_only(
    start_gateway: StartGateway, tmp_path: Path, apollo_format: bool
) -> None:
    hash_ = hashlib.sha256(SEALS.encode()).hexdigest()
    manifest: Any = (
        {
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [{"id": hash_, "name": "Seals", "type": "query", "body": SEALS}],
        }
        if apollo_format
        else {f"sha256:{hash_}": SEALS}
    )
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    gateway = start_gateway(SEALGW_TRUSTED_DOCUMENTS=str(path), SEALGW_TRUSTED_DOCUMENTS_ONLY="on")
    # by The Guild's documentId, by Apollo's hash, or by the very text
    for body in ({"documentId": hash_}, apq(None, hash_), {"query": SEALS}):
        status, answer = post(gateway, body)
        assert status == 200, answer
        assert len(answer["data"]["seals"]["edges"]) == 2
    response = gateway.client.get(
        f"{gateway.url}/graphql",
        params={"documentId": hash_},
        headers={"accept": "application/json"},
    )
    assert len(response.json()["data"]["seals"]["edges"]) == 2
    # anything else is refused before it is parsed
    status, answer = post(gateway, {"query": "{ seals { totalCount } }"})
    assert status == 400
    assert answer["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"
    status, answer = post(gateway, {"documentId": "f" * 64})
    assert answer["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    text = "{ providers { provider } }"
    status, answer = post(gateway, apq(text, hashlib.sha256(text.encode()).hexdigest()))
    assert answer["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"
