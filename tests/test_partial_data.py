"""One vendor failing, the other's seals kept by clients with their default settings: a page
tells the providers that failed for it in its data (`unavailable`), not in `errors`, while
another provider answered (`SEALGW_PAGE_FAILURES=data`, the default). Proved with Apollo
Client 4 and urql (from npm), whose defaults drop or flag data that arrives beside errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.sandbox import Fault, Sandbox
from tests import node
from tests.conftest import Gateway, StartGateway

CLIENTS = ["@apollo/client@4", "@urql/core@5", "graphql@16", "rxjs@7"]

# Each client with nothing configured beyond its address and the caller's key.
SCRIPT = """
import { ApolloClient, InMemoryCache, HttpLink, gql } from '@apollo/client';
import { Client, cacheExchange, fetchExchange } from '@urql/core';

const [uri, text] = process.argv.slice(2);
const headers = { authorization: `Bearer ${process.env.AUDIT_KEY}` };
const apollo = new ApolloClient({
  link: new HttpLink({ uri, headers }),
  cache: new InMemoryCache(),
});
let apolloAnswer;
try {
  const result = await apollo.query({ query: gql(text) });
  apolloAnswer = { data: result.data ?? null, error: result.error ? String(result.error) : null };
} catch (error) {
  apolloAnswer = { data: null, error: String(error) };
}
const urql = new Client({ url: uri, exchanges: [cacheExchange, fetchExchange],
                          fetchOptions: { headers } });
const result = await urql.query(text, {}).toPromise();
const urqlAnswer = { data: result.data ?? null, error: result.error ? String(result.error) : null };
console.log(JSON.stringify({ apollo: apolloAnswer, urql: urqlAnswer }));
"""

PAGE = """{ seals(first: 20) {
  unavailable { provider code upstreamCode retryable message }
  edges { node { id name provider } }
} }"""


@pytest.fixture(scope="session")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return node.install(tmp_path_factory, "clients", CLIENTS, SCRIPT)


@pytest.mark.timeout(150)
def test_default_clients_keep_the_seals_that_came(
    clients: Path, gateway: Gateway, sandbox: Sandbox
) -> None:
    sandbox.faults.append(Fault("yunyin", "getSealListByPage", status=503))
    answers = node.run(clients, f"{gateway.url}/graphql", PAGE)
    for name in ("apollo", "urql"):
        answer = answers[name]
        assert answer["error"] is None, (name, answer)
        seals = answer["data"]["seals"]
        assert [e["node"]["provider"] for e in seals["edges"]] == ["ESIGN"] * 7, name
        (failure,) = seals["unavailable"]
        assert failure["provider"] == "YUNYIN"
        assert failure["code"] == "UPSTREAM_UNAVAILABLE"
        # the second client may find the breaker already open after the first one's retries
        assert failure["upstreamCode"] in ("HTTP_503", "CIRCUIT_OPEN")
        assert failure["retryable"] is True


@pytest.mark.timeout(150)
def test_with_page_failures_as_errors_apollo_drops_the_page(
    clients: Path, start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    """The other setting, for clients set up for errors beside data (Apollo's
    `errorPolicy: "all"`): the failure is in `errors` too, and Apollo's default drops the
    page, as it did before the setting existed."""
    gateway = start_gateway(SEALGW_PAGE_FAILURES="errors")
    sandbox.faults.append(Fault("yunyin", "getSealListByPage", status=503))
    body = gateway.query(PAGE)
    (error,) = body["errors"]
    assert error["path"] == ["seals"]
    assert error["extensions"]["provider"] == "YUNYIN"
    assert body["data"]["seals"]["unavailable"][0]["provider"] == "YUNYIN"
    answers = node.run(clients, f"{gateway.url}/graphql", PAGE)
    assert answers["apollo"]["data"] is None
    assert answers["apollo"]["error"]
    assert answers["urql"]["data"]["seals"]["edges"]  # urql keeps data beside an error


def test_every_provider_failing_is_an_error_whatever_the_setting(
    gateway: Gateway, sandbox: Sandbox
) -> None:
    """Nothing arrived: there is nothing for a client to keep, and `errors` says why."""
    sandbox.faults.append(Fault("yunyin", "getSealListByPage", status=503))
    sandbox.faults.append(Fault("esign", "v1.list", status=503))
    body = gateway.query(PAGE)
    assert body["data"]["seals"]["edges"] == []
    assert {e["extensions"]["provider"] for e in body["errors"]} == {"ESIGN", "YUNYIN"}
    assert {f["provider"] for f in body["data"]["seals"]["unavailable"]} == {"ESIGN", "YUNYIN"}
