"""The gateway's two faces: the product's schema at /graphql (no federation internals) and the
federation subgraph at /subgraph (its SDL, entity resolution by id) for the supergraph router."""

from __future__ import annotations

from typing import Any

from gateway.sandbox import Sandbox
from tests.conftest import Gateway
from tests.test_read_path import global_id


def subgraph(gateway: Gateway, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = gateway.client.post(
        f"{gateway.url}/subgraph", json={"query": query, "variables": variables or {}}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_product_face_shows_no_federation_internals(gateway: Gateway) -> None:
    body = gateway.query("{ _service { sdl } }")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    body = gateway.query(
        'query { _entities(representations: [{__typename: "Seal", id: "x"}]) { __typename } }'
    )
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_service_sdl_declares_seal_as_an_entity(gateway: Gateway) -> None:
    sdl = subgraph(gateway, "{ _service { sdl } }")["data"]["_service"]["sdl"]
    assert 'type Seal implements Node @key(fields: "id")' in sdl
    assert "type PageInfo @shareable" in sdl


def test_entities_resolve_through_the_loaders(gateway: Gateway, sandbox: Sandbox) -> None:
    ids = [global_id("Seal", "yunyin:50001"), global_id("Seal", "yunyin:50003")]
    representations = [{"__typename": "Seal", "id": i} for i in [*ids, ids[0]]]
    data = subgraph(
        gateway,
        """query E($r: [_Any!]!) { _entities(representations: $r) {
             ... on Seal { id name bizType } } }""",
        {"r": representations},
    )["data"]
    assert [e["name"] for e in data["_entities"]] == [
        "市场部合同专用章",
        "示例有限公司公章",
        "市场部合同专用章",
    ]
    assert sandbox.count("yunyin:getSealInfo") == 2  # batched and de-duplicated


def test_unknown_entity_is_an_error_not_a_crash(gateway: Gateway) -> None:
    body = subgraph(
        gateway,
        """query E($r: [_Any!]!) { _entities(representations: $r) { ... on Seal { name } } }""",
        {"r": [{"__typename": "Seal", "id": global_id("Seal", "yunyin:99999")}]},
    )
    assert body["data"]["_entities"] == [None]
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
