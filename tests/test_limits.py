"""Bounded cost: an operation's static cost is checked before anything runs, each request has a
vendor-call budget, and a process serves a bounded number of requests at once."""

from __future__ import annotations

import concurrent.futures

import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from gateway.execution.cost import CostModel
from gateway.sandbox import Sandbox
from gateway.schema import build_schema
from tests.conftest import Gateway, StartGateway
from tests.test_read_path import ESIGN_A, global_id

# the subgraph face: the product's fields and federation's _entities
MODEL = CostModel(build_schema(subgraph=True)._schema, default_page=20, max_page=100)


def cost(query: str, **variables: object) -> int:
    document = parse(query)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    (operation,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return MODEL.cost(fragments, operation, variables)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("{ providers { provider } }", 0),
        # one list call per provider; fields the list carries cost nothing more
        ("{ seals(first: 2) { edges { node { name isDefault } } } }", 2),
        # a field only a detail carries: one call per seal of the page
        ("{ seals(first: 2) { edges { node { name bizType rejectReason } } } }", 4),
        ("{ seals(first: 2) { totalCount edges { node { name } } } }", 4),
        ("{ seals { edges { node { name } } } }", 2),  # the default page adds nothing
        ("{ seals { edges { node { rejectReason } } } }", 22),  # 20 seals
        ("{ seals(first: 500) { edges { node { rejectReason } } } }", 102),  # capped at 100
        (
            "{ seals(first: 10) { edges { node { authorizations(first: 5) "
            "{ edges { node { seal { rejectReason } } } } } } } }",
            2 + 10 * (1 + 5 * (1 + 1)),
        ),
        ('{ seal(id: "x") { name } }', 1),
        ('{ node(id: "x") { ... on Seal { statusLabel } } }', 2),
        ('{ nodes(ids: ["a", "b", "c"]) { ... on Seal { rejectReason } } }', 6),
        (
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on Seal { name } } }",
            1,
        ),
        ("fragment F on Seal { rejectReason } { seals(first: 3) { edges { node { ...F } } } }", 5),
        ('mutation { renameSeal(input: {sealId: "x", name: "y"}) { seal { name } } }', 1),
        ('mutation { deleteSeal(input: {sealId: "x"}) { deletedSealId } }', 1),
    ],
)
def test_the_cost_model(query: str, expected: int) -> None:
    assert cost(query, r=[{}]) == expected


def test_variables_count() -> None:
    query = (
        "query($n: Int, $ids: [ID!]!) { seals(first: $n) { edges { node { status } } } "
        "nodes(ids: $ids) { id } }"
    )
    assert cost(query, n=50, ids=["a", "b"]) == 2 + 50 + 2


ATTACK = (
    "{ "
    + " ".join(
        f'a{i}: seals(first: 100, filter: {{nameContains: "{i}"}}) '
        "{ edges { node { name bizType rejectReason } } }"
        for i in range(49)
    )
    + " }"
)


def test_a_costly_operation_is_refused_before_any_call(gateway: Gateway, sandbox: Sandbox) -> None:
    body = gateway.query(ATTACK)
    assert "data" not in body  # refused before anything ran
    (error,) = body["errors"]
    assert error["extensions"] == {
        "code": "COST_LIMIT_EXCEEDED",
        "cost": 49 * 102,
        "maximum": 1000,
    }
    assert "4998 vendor calls" in error["message"]
    assert sandbox.count("esign") + sandbox.count("yunyin") == 0


def test_the_cost_is_shown_when_asked(gateway: Gateway) -> None:
    query = (
        "{ seals(first: 2, filter: {bizType: CONTRACT}) { totalCount edges { node { name } } } }"
    )
    plain = gateway.client.post(f"{gateway.url}/graphql", json={"query": query}).json()
    assert "extensions" not in plain
    asked = gateway.client.post(
        f"{gateway.url}/graphql", json={"query": query}, headers={"X-Query-Cost": "1"}
    ).json()
    assert asked["extensions"] == {"cost": {"requested": 4, "maximum": 1000}}
    assert asked["data"]["seals"]["totalCount"] == 3


def test_the_limit_is_configurable(start_gateway: StartGateway, sandbox: Sandbox) -> None:
    gateway = start_gateway(SEALGW_MAX_QUERY_COST="3")
    refused = gateway.query("{ seals(first: 2) { totalCount edges { node { name } } } }")
    assert refused["errors"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert gateway.data("{ seals(first: 2) { edges { node { name } } } }")
    assert sandbox.count("esign:v1.list") == 1


def test_the_vendor_call_budget_leaves_the_rest_standing(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway("ESIGN", SEALGW_VENDOR_CALL_BUDGET="4")
    body = gateway.query("{ seals(first: 7) { edges { node { name rejectReason } } } }")
    edges = body["data"]["seals"]["edges"]
    assert [e["node"]["name"] for e in edges] == [s.name for s in ESIGN_A]  # the list stands
    codes = {e["extensions"]["code"] for e in body["errors"]}
    assert codes == {"VENDOR_CALL_BUDGET_EXCEEDED"}
    assert len(body["errors"]) == 4  # 7 details asked, 3 within the budget after the list
    assert all(e["path"][-1] == "rejectReason" for e in body["errors"])
    assert sandbox.count("esign") == 4
    # the next request has a budget of its own
    detail = gateway.data(
        "query S($id: ID!) { seal(id: $id) { rejectReason } }",
        {"id": global_id("Seal", f"esign:{ESIGN_A[5].seal_id}")},
    )
    assert detail["seal"]["rejectReason"]


def test_a_full_process_answers_503_at_once(start_gateway: StartGateway, sandbox: Sandbox) -> None:
    gateway = start_gateway(SEALGW_MAX_CONCURRENT_REQUESTS="2")
    sandbox.config.latency_s = 0.5
    query = {"query": "{ seals(first: 1) { edges { node { name } } } }"}

    def send() -> tuple[int, str | None, str]:
        response = gateway.client.post(f"{gateway.url}/graphql", json=query)
        return response.status_code, response.headers.get("retry-after"), response.text

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: send(), range(6)))
    refused = [a for a in answers if a[0] == 503]
    served = [a for a in answers if a[0] == 200]
    assert len(served) >= 2
    assert refused
    assert len(served) + len(refused) == 6
    for _, retry_after, text in refused:
        assert retry_after == "1"
        assert '"OVERLOADED"' in text
