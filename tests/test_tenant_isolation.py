"""Two tenants whose vendors hold seals with the same vendor ids (two sandboxes seeded alike).
Each tenant tries the other's real ids and cursors in every query and mutation that takes one:
no vendor call across tenants, no write anywhere, and an answer byte-identical to the answer
for an id (or cursor) that names nothing."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.service import ids
from tests.conftest import TenantsGateway

OTHER = {"acme": "globex", "globex": "acme"}
KEY = {"acme": "acme-admin", "globex": "globex-admin"}
WRITES = ("modify", "updDefault", "delete", "addSealAuthor")


def gid(type_name: str, tenant: str, node_id: str) -> str:
    return ids.global_id(type_name, ids.bind(tenant, node_id))


def issued(tg: TenantsGateway, tenant: str) -> dict[str, str]:
    """Real ids and cursors the gateway issued to `tenant`."""
    page = tg.as_key(
        KEY[tenant],
        "{ seals(first: 20) { edges { cursor node { id provider vendorId } } } }",
    )["data"]["seals"]["edges"]
    by_vendor = {e["node"]["vendorId"]: e for e in page}
    esign = next(e for e in page if e["node"]["provider"] == "ESIGN")
    seal = tg.as_key(
        KEY[tenant],
        "query S($id: ID!) { seal(id: $id) { authorizations(first: 1) { edges { cursor node "
        "{ id } } } } }",
        {"id": by_vendor["50001"]["node"]["id"]},
    )["data"]["seal"]["authorizations"]["edges"][0]
    esign_auth = tg.as_key(
        KEY[tenant],
        "query S($id: ID!) { seal(id: $id) { authorizations(first: 1) "
        "{ edges { node { id } } } } }",
        {"id": by_vendor[ESIGN_AUTHORISED]["node"]["id"]},
    )["data"]["seal"]["authorizations"]["edges"][0]
    return {
        "yunyin seal": by_vendor["50003"]["node"]["id"],
        "esign seal": esign["node"]["id"],
        "esign authorization": esign_auth["node"]["id"],
        "seal cursor": by_vendor["50002"]["cursor"],
        "authorization": seal["node"]["id"],
        "authorization cursor": seal["cursor"],
    }


# The e签宝 seal the seeded authorisations are on.
ESIGN_AUTHORISED = "5f9813c5-c521-4c3c-aa62-40b0344a6d53"


def nothing(tenant: str) -> dict[str, str]:
    """The asking tenant's own ids and cursors that name nothing, shaped like real ones."""
    return {
        "yunyin seal": gid("Seal", tenant, "yunyin:99999"),
        "esign seal": gid("Seal", tenant, "esign:00000000-0000-4000-8000-000000000000"),
        "seal cursor": "bm90LWEtY3Vyc29y",
        "authorization": gid("Authorization", tenant, "yunyin:50001:99999"),
        "esign authorization": gid(
            "Authorization", tenant, f"esign:{ESIGN_AUTHORISED}:00000000000000000000000000000000"
        ),
        "authorization cursor": "bm90LWEtY3Vyc29y",
    }


# (operation, the token it takes, the variables it is sent with)
OPERATIONS: list[tuple[str, str, str]] = [
    ("query S($id: ID!) { seal(id: $id) { id name status } }", "yunyin seal", "id"),
    ("query S($id: ID!) { seal(id: $id) { id name rejectReason } }", "esign seal", "id"),
    ("query N($id: ID!) { node(id: $id) { id ... on Seal { name } } }", "yunyin seal", "id"),
    ("query N($id: ID!) { node(id: $id) { id } }", "authorization", "id"),
    ("query N($ids: [ID!]!) { nodes(ids: $ids) { id } }", "yunyin seal", "ids"),
    ("query N($ids: [ID!]!) { nodes(ids: $ids) { id } }", "authorization", "ids"),
    (
        "query E($r: [_Any!]!) { _entities(representations: $r) { ... on Seal { name } } }",
        "yunyin seal",
        "representations",
    ),
    (
        "query P($c: String) { seals(first: 2, after: $c) { edges { node { id } } } }",
        "seal cursor",
        "c",
    ),
    (
        "query A($c: String, $own: ID!) { seal(id: $own) { authorizations(first: 1, after: $c) "
        "{ edges { node { id } } } } }",
        "authorization cursor",
        "c",
    ),
    (
        'mutation R($id: ID!) { renameSeal(input: {sealId: $id, name: "改名"}) '
        "{ seal { id } userErrors { code field message vendorCode } } }",
        "yunyin seal",
        "id",
    ),
    (
        'mutation R($id: ID!) { renameSeal(input: {sealId: $id, name: "改名"}) '
        "{ seal { id } userErrors { code field message vendorCode } } }",
        "esign seal",
        "id",
    ),
    (
        "mutation D($id: ID!) { setDefaultSeal(input: {sealId: $id}) "
        "{ seal { id } previousDefault { id } userErrors { code field message vendorCode } } }",
        "yunyin seal",
        "id",
    ),
    (
        "mutation D($id: ID!) { deleteSeal(input: {sealId: $id}) "
        "{ deletedSealId userErrors { code field message vendorCode } } }",
        "yunyin seal",
        "id",
    ),
    (
        'mutation A($id: ID!) { authorizeSeal(input: {sealId: $id, userIds: ["20004"], '
        "role: USER, scope: ALL_CONTRACTS}) { authorizations { id } "
        "userErrors { code field message vendorCode } } }",
        "yunyin seal",
        "id",
    ),
    (
        "mutation V($id: ID!) { revokeAuthorization(input: {authorizationId: $id}) "
        "{ revokedAuthorizationId userErrors { code field message vendorCode } } }",
        "esign authorization",
        "id",
    ),
]


def variables(name: str, token: str, own_seal: str) -> dict[str, Any]:
    if name == "ids":
        return {"ids": [token]}
    if name == "representations":
        return {"r": [{"__typename": "Seal", "id": token}]}
    if name == "c":
        return {"c": token, "own": own_seal}
    return {name: token}


def calls(tg: TenantsGateway, tenant: str) -> int:
    sandbox = tg.sandboxes[tenant].sandbox
    return sandbox.count("esign") + sandbox.count("yunyin") - sandbox.count("yunyin:token")


@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_nothing_crosses_and_nothing_tells(tenants_gateway: TenantsGateway, tenant: str) -> None:
    tg = tenants_gateway
    theirs = issued(tg, OTHER[tenant])
    own_seal = issued(tg, tenant)["yunyin seal"]
    none = nothing(tenant)
    assert theirs["yunyin seal"] != own_seal  # the same vendor id 50003, issued apart
    checked = 0
    said: list[str] = []
    for operation, kind, name in OPERATIONS:
        for server in tg.sandboxes.values():
            server.sandbox.reset_counts()
        # federation's _entities is served on the subgraph face
        path = "/subgraph" if "_entities" in operation else "/graphql"
        foreign = tg.post(
            operation,
            variables(name, theirs[kind], own_seal),
            path=path,
            authorization=f"Bearer {tg.keys[KEY[tenant]]}",
        )
        # another tenant's token: no vendor call at all, at either tenant's vendors
        assert calls(tg, OTHER[tenant]) == 0, operation
        assert calls(tg, tenant) == (1 if "authorizations(first" in operation else 0), operation
        unknown = tg.post(
            operation,
            variables(name, none[kind], own_seal),
            path=path,
            authorization=f"Bearer {tg.keys[KEY[tenant]]}",
        )
        assert calls(tg, OTHER[tenant]) == 0, operation
        assert foreign.status_code == unknown.status_code == 200
        assert foreign.content == unknown.content, (operation, kind)
        said.append(_what_it_says(foreign.json()))
        checked += 1
    assert checked == len(OPERATIONS)
    assert said == [
        "NOT_FOUND: No seal has this id.",
        "NOT_FOUND: No seal has this id.",
        "NOT_FOUND: No seal has this id.",
        "NOT_FOUND: No authorisation has this id.",
        "NOT_FOUND: No seal has this id.",
        "NOT_FOUND: No authorisation has this id.",
        "NOT_FOUND: No seal has this id.",
        "BAD_USER_INPUT: `after` is not a cursor of this connection.",
        "BAD_USER_INPUT: `after` is not a cursor of this connection.",
        "SEAL_NOT_FOUND: No seal has this id.",
        "NOT_SUPPORTED: Provider esign does not support this operation (rename): e签宝 documents "
        "no rename of an organisation seal.",
        "SEAL_NOT_FOUND: No seal has this id.",
        "SEAL_NOT_FOUND: No seal has this id.",
        "SEAL_NOT_FOUND: No seal has this id.",
        "AUTHORIZATION_NOT_FOUND: No authorisation has this id.",
    ]
    # nothing was changed at the other tenant's vendors
    other = tg.sandboxes[OTHER[tenant]].sandbox
    assert other.yunyin_seals[50003].name == "示例有限公司公章"
    assert not other.yunyin_seals[50003].deleted
    assert len(other.authors_of(50003)) == 1


def test_each_tenant_uses_only_its_own_credentials(tenants_gateway: TenantsGateway) -> None:
    tg = tenants_gateway
    query = "{ seals(first: 20) { edges { node { name rejectReason } } } }"
    for tenant in ("acme", "globex"):
        tg.as_key(KEY[tenant], query)
        token = tg.token(tenant, {"seal_role": "admin"})
        tg.post(query, authorization=f"Bearer {token}")
    for tenant, server in tg.sandboxes.items():
        sandbox = server.sandbox
        other_tokens = set(tg.sandboxes[OTHER[tenant]].sandbox.tokens)
        assert sandbox.requests, tenant
        for request in sandbox.requests:
            if request.vendor == "esign":
                assert request.headers["x-tsign-open-app-id"] == f"{tenant}-esign-app"
            elif request.endpoint != "token":
                assert request.headers["appid"] == f"{tenant}-yunyin-app"
                assert request.headers["accesstoken"] in sandbox.tokens
                assert request.headers["accesstoken"] not in other_tokens


def _what_it_says(body: dict[str, Any]) -> str:
    """The one error or user error an answer carries, as `CODE: message`."""
    if body.get("errors"):
        (error,) = body["errors"]
        return f"{error['extensions']['code']}: {error['message']}"
    (payload,) = body["data"].values()
    (user_error,) = payload["userErrors"]
    return f"{user_error['code']}: {user_error['message']}"
