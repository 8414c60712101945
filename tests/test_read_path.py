"""The read path through real HTTP: paging across providers, fused fields, filters, ids."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.sandbox import Sandbox, SandboxConfig
from gateway.sandbox import state as demo
from tests.conftest import Gateway, StartGateway

PAGE = """
query Page($first: Int, $after: String, $filter: SealFilter) {
  seals(first: $first, after: $after, filter: $filter) {
    totalCount
    edges { cursor node { id provider vendorId name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

ESIGN_A = [s for s in demo.Sandbox().esign_seals if s.org_id == demo.ESIGN_ORG_A]
YUNYIN_IDS = ["50001", "50002", "50003", "50004", "50005", "50006"]


def global_id(type_name: str, node_id: str) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


def walk(
    gateway: Gateway, first: int, filter_: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every page of `seals`, following endCursor."""
    pages = []
    after = None
    while True:
        data = gateway.data(PAGE, {"first": first, "after": after, "filter": filter_})["seals"]
        pages.append(data)
        if not data["pageInfo"]["hasNextPage"]:
            return pages
        after = data["pageInfo"]["endCursor"]
        assert len(pages) < 20


def test_paging_crosses_the_provider_boundary(gateway: Gateway) -> None:
    pages = walk(gateway, 4)
    seen = [(e["node"]["provider"], e["node"]["vendorId"]) for p in pages for e in p["edges"]]
    expected = [("ESIGN", s.seal_id) for s in ESIGN_A] + [("YUNYIN", i) for i in YUNYIN_IDS]
    assert seen == expected  # every seal once, e签宝 first in v1 order, then 云银签
    assert [len(p["edges"]) for p in pages] == [4, 4, 4, 1]
    assert {p["totalCount"] for p in pages} == {13}
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True, True]
    assert pages[1]["pageInfo"]["startCursor"] == pages[1]["edges"][0]["cursor"]


def test_a_page_ending_at_the_boundary_knows_more_follow(gateway: Gateway) -> None:
    first = gateway.data(PAGE, {"first": 7})["seals"]
    assert [e["node"]["provider"] for e in first["edges"]] == ["ESIGN"] * 7
    assert first["pageInfo"]["hasNextPage"] is True
    rest = gateway.data(PAGE, {"first": 7, "after": first["pageInfo"]["endCursor"]})["seals"]
    assert [e["node"]["vendorId"] for e in rest["edges"]] == YUNYIN_IDS
    assert rest["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("base", [0, 1])
def test_esign_offset_counts_from_either_end(
    base: int, sandbox_config: SandboxConfig, start_gateway: StartGateway
) -> None:
    sandbox_config.esign_offset_base = base
    gateway = start_gateway("ESIGN", SEALGW_ESIGN_OFFSET_BASE=str(base))
    pages = walk(gateway, 3)
    ids = [e["node"]["vendorId"] for p in pages for e in p["edges"]]
    assert ids == [s.seal_id for s in ESIGN_A]  # first and last seal present, none twice


FULL = """
query One($id: ID!) {
  seal(id: $id) {
    id provider vendorId name bizType bizTypeLabel status statusLabel rejectReason style
    isDefault imageSize { width height unit } physicalSize { width height unit }
    image { url expiresAt watermarked } watermarkedImage { url expiresAt watermarked }
    createdAt code horizontalText bottomText ownerName origin authorizationCount
    supportedOperations
  }
}
"""


def test_esign_seal_fuses_v1_and_v3(gateway: Gateway) -> None:
    seal = gateway.data(FULL, {"id": global_id("Seal", f"esign:{ESIGN_A[0].seal_id}")})["seal"]
    assert seal["name"] == "华东示例科技有限公司公章"
    assert (seal["provider"], seal["bizType"], seal["bizTypeLabel"]) == ("ESIGN", "PUBLIC", "公章")
    assert (seal["status"], seal["statusLabel"], seal["style"]) == ("ENABLED", "已启用", "TEMPLATE")
    assert seal["isDefault"] is True
    assert seal["physicalSize"] == {"width": 42.0, "height": 42.0, "unit": "MILLIMETRE"}
    assert seal["imageSize"] == {"width": 167.0, "height": 167.0, "unit": "PIXEL"}
    now = datetime.now(UTC)
    for image, watermarked in ((seal["image"], False), (seal["watermarkedImage"], True)):
        assert image["watermarked"] is watermarked
        expires = datetime.fromisoformat(image["expiresAt"])
        assert now + timedelta(minutes=55) < expires <= now + timedelta(minutes=61)
    assert seal["createdAt"] == "2023-11-14T22:13:20+00:00"
    assert seal["code"] is None
    assert seal["authorizationCount"] is None
    assert seal["supportedOperations"] == [
        "LIST_AUTHORIZATIONS",
        "AUTHORIZE",
        "CREATE_FROM_TEMPLATE",
        "CREATE_FROM_IMAGE",
        "UPLOAD_IMAGE",
        "SET_DEFAULT",
        "DELETE",
        "MANAGEMENT_URL",
        "ENABLE",
        "REVOKE_AUTHORIZATION",
        "CHANGE_AUTHORIZATION_PERIOD",
    ]


def test_rejected_image_seal_carries_its_reason(gateway: Gateway) -> None:
    rejected = next(s for s in ESIGN_A if s.status == 3)
    seal = gateway.data(FULL, {"id": global_id("Seal", f"esign:{rejected.seal_id}")})["seal"]
    assert (seal["status"], seal["style"]) == ("REJECTED", "IMAGE")
    assert seal["rejectReason"] == rejected.reject_reason


def test_yunyin_seal_fields(gateway: Gateway) -> None:
    seal = gateway.data(FULL, {"id": global_id("Seal", "yunyin:50001")})["seal"]
    assert seal["name"] == "市场部合同专用章"
    assert seal["code"] == "SEAL001"
    assert (seal["bizType"], seal["status"], seal["style"]) == ("CONTRACT", "ENABLED", "TEMPLATE")
    assert seal["horizontalText"] == "市场部"
    assert seal["ownerName"] == "示例有限公司"
    assert seal["origin"] == "API"
    assert seal["authorizationCount"] == 3
    assert seal["imageSize"] == {"width": 159.0, "height": 159.0, "unit": "PIXEL"}
    assert seal["physicalSize"] is None
    assert seal["watermarkedImage"] is None
    assert seal["image"]["expiresAt"] is None  # 云银签 documents no expiry
    assert seal["createdAt"] == "2024-01-20T10:00:00+08:00"
    assert "LIST_AUTHORIZATIONS" in seal["supportedOperations"]
    hr = gateway.data(FULL, {"id": global_id("Seal", "yunyin:50005")})["seal"]
    assert hr["bizType"] == "PERSONNEL"
    assert hr["status"] == "AWAITING_REVIEW"


def test_images_are_real_pngs(gateway: Gateway) -> None:
    data = gateway.data("{ seals(first: 13) { edges { node { image { url } } } } }")
    urls = [e["node"]["image"]["url"] for e in data["seals"]["edges"]]
    for url in (urls[0], urls[-1]):
        response = gateway.client.get(url)
        assert response.status_code == 200
        assert response.content.startswith(b"\x89PNG\r\n\x1a\n")


def _names(gateway: Gateway, filter_: dict[str, Any]) -> list[tuple[str, str]]:
    pages = walk(gateway, 5, filter_)
    return [(e["node"]["provider"], e["node"]["name"]) for p in pages for e in p["edges"]]


def test_filters(gateway: Gateway, sandbox: Sandbox) -> None:
    assert _names(gateway, {"bizType": "CONTRACT"}) == [
        ("ESIGN", "合同专用章"),
        ("ESIGN", "合同专用章(二)"),
        ("YUNYIN", "市场部合同专用章"),
    ]
    # pushed down to 云银签, applied by the gateway for e签宝 (v1 filters nothing)
    bodies = [json.loads(r.body) for r in sandbox.requests if r.endpoint == "getSealListByPage"]
    assert all(b.get("categoryType") == "CONTRACT" for b in bodies)
    assert _names(gateway, {"bizType": "PERSONNEL"}) == [
        ("ESIGN", "人事专用章"),
        ("YUNYIN", "人事专用章"),
    ]
    assert _names(gateway, {"status": "REJECTED"}) == [
        ("ESIGN", "业务章"),
        ("YUNYIN", "法定代表人章-李华"),
    ]
    assert _names(gateway, {"nameContains": "公章"}) == [
        ("ESIGN", "华东示例科技有限公司公章"),
        ("YUNYIN", "示例有限公司公章"),
    ]
    sandbox.reset_counts()
    assert _names(gateway, {"isDefault": True}) == [
        ("ESIGN", "华东示例科技有限公司公章"),
        ("YUNYIN", "手签章-张三"),
    ]
    bodies = [json.loads(r.body) for r in sandbox.requests if r.endpoint == "getSealListByPage"]
    assert bodies
    assert not any("defaultFlag" in b for b in bodies)
    assert _names(gateway, {"providers": ["YUNYIN"], "status": "SUSPENDED"}) == [
        ("YUNYIN", "财务专用章")
    ]
    filtered = gateway.data(PAGE, {"first": 1, "filter": {"bizType": "CONTRACT"}})["seals"]
    assert filtered["totalCount"] == 3
    assert filtered["pageInfo"]["hasNextPage"] is True


def test_name_falls_back_to_v3_when_v1_has_no_alias(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway("ESIGN", SEALGW_ESIGN_ORG_ID=demo.ESIGN_ORG_B)
    data = gateway.data("{ seals { edges { node { vendorId name } } } }")
    names = [e["node"]["name"] for e in data["seals"]["edges"]]
    assert names == ["华南示例贸易有限公司公章", "发票专用章", "合同专用章"]
    assert sandbox.count("esign:v3.detail") == 1  # only the seal v1 gave no alias
    assert _names(gateway, {"nameContains": "发票"}) == [("ESIGN", "发票专用章")]


def test_authorizations_page_through(gateway: Gateway) -> None:
    query = """
    query A($id: ID!, $after: String) {
      seal(id: $id) {
        authorizations(first: 2, after: $after) {
          totalCount
          pageInfo { hasNextPage endCursor }
          edges { node { id vendorId userId userName role scope templates { id name }
                         effectiveAt expiresAt autoSign examinerNotified
                         seal { vendorId } } }
        }
      }
    }"""
    seal_id = global_id("Seal", "yunyin:50001")
    first = gateway.data(query, {"id": seal_id})["seal"]["authorizations"]
    assert first["totalCount"] == 3
    assert first["pageInfo"]["hasNextPage"] is True
    user, examiner = (e["node"] for e in first["edges"])
    assert (user["userName"], user["role"], user["scope"]) == ("李四", "USER", "ALL_CONTRACTS")
    assert user["expiresAt"] is None
    assert user["templates"] == []
    assert (examiner["role"], examiner["scope"]) == ("EXAMINER", "LISTED_TEMPLATES")
    assert examiner["templates"] == [
        {"id": "1001", "name": "报销单模板"},
        {"id": "1002", "name": "请假单模板"},
    ]
    assert examiner["expiresAt"] == "2024-12-31T23:59:59+08:00"
    assert examiner["examinerNotified"] is True
    assert examiner["seal"]["vendorId"] == "50001"
    after = first["pageInfo"]["endCursor"]
    rest = gateway.data(query, {"id": seal_id, "after": after})["seal"]["authorizations"]
    assert [e["node"]["userName"] for e in rest["edges"]] == ["赵六"]
    assert rest["pageInfo"]["hasNextPage"] is False

    node = gateway.data(
        "query N($id: ID!) { node(id: $id) { id ... on Authorization { userName role } } }",
        {"id": examiner["id"]},
    )["node"]
    assert node == {"id": examiner["id"], "userName": "王五", "role": "EXAMINER"}

    # e签宝 lists a seal's internal-member authorisations too (v3 internal-auth)
    esign = gateway.data(
        "query E($id: ID!) { seal(id: $id) { authorizations { totalCount "
        "edges { node { userId role vendorStatus } } } } }",
        {"id": global_id("Seal", f"esign:{ESIGN_A[1].seal_id}")},
    )["seal"]["authorizations"]
    assert esign["totalCount"] == 2
    assert [e["node"] for e in esign["edges"]] == [
        {"userId": demo.ESIGN_MEMBER_1, "role": "USER", "vendorStatus": 1},
        {"userId": demo.ESIGN_MEMBER_2, "role": "EXAMINER", "vendorStatus": 3},
    ]


def test_node_and_nodes(gateway: Gateway) -> None:
    ids = [global_id("Seal", "yunyin:50002"), global_id("Seal", f"esign:{ESIGN_A[1].seal_id}")]
    data = gateway.data(
        """query N($id: ID!, $ids: [ID!]!) {
             node(id: $id) { id ... on Seal { name } }
             nodes(ids: $ids) { id ... on Seal { name provider } }
           }""",
        {"id": ids[0], "ids": ids},
    )
    assert data["node"] == {"id": ids[0], "name": "手签章-张三"}
    assert [n["provider"] for n in data["nodes"]] == ["YUNYIN", "ESIGN"]

    body = gateway.query(
        "query N($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        {"ids": [ids[0], "not-an-id", global_id("Seal", "yunyin:99999")]},
    )
    assert body["data"]["nodes"] == [{"id": ids[0]}, None, None]
    by_path = {tuple(e["path"]): e["extensions"] for e in body["errors"]}
    assert by_path[("nodes", 1)]["code"] == "BAD_USER_INPUT"
    assert by_path[("nodes", 2)]["code"] == "NOT_FOUND"
    assert by_path[("nodes", 2)] == {"code": "NOT_FOUND", "provider": "YUNYIN"}


@pytest.mark.parametrize(
    ("node_id", "code", "upstream"),
    [
        ("garbage", "BAD_USER_INPUT", None),
        (global_id("Seal", "nowhere:1"), "BAD_USER_INPUT", None),
        (global_id("Seal", "yunyin:abc"), "BAD_USER_INPUT", None),
        (global_id("Seal", "yunyin"), "BAD_USER_INPUT", None),
        (global_id("Authorization", "yunyin:50001:1"), "BAD_USER_INPUT", None),
        # the vendor does not know the seal (SEAL_NOT_FOUND, 31400100), or it is another
        # organisation's (31400109): one answer for all, naming no vendor code
        (global_id("Seal", "yunyin:424242"), "NOT_FOUND", None),
        (global_id("Seal", "esign:no-such-seal"), "NOT_FOUND", None),
        (global_id("Seal", "esign:7f2c8d0e-5b7a-4c9d-9e2f-4a5b6c7d8e9f"), "NOT_FOUND", None),
    ],
)
def test_wrong_ids_are_clear_errors(
    gateway: Gateway, node_id: str, code: str, upstream: str | None
) -> None:
    body = gateway.query("query S($id: ID!) { seal(id: $id) { name } }", {"id": node_id})
    assert body["data"] == {"seal": None}
    (error,) = body["errors"]
    assert error["extensions"]["code"] == code
    assert error["extensions"].get("upstreamCode") == upstream
    if code == "NOT_FOUND":
        assert error["message"] == "No seal has this id."


def test_page_size_and_cursor_errors(start_gateway: StartGateway) -> None:
    gateway = start_gateway(SEALGW_MAX_PAGE_SIZE="5")
    for first in (0, -1, 6):
        body = gateway.query(PAGE, {"first": first})
        (error,) = body["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
        assert "between 1 and 5" in error["message"]
    assert len(gateway.data(PAGE, {"first": 5})["seals"]["edges"]) == 5

    cursor = gateway.data(PAGE, {"first": 2})["seals"]["pageInfo"]["endCursor"]
    for after, filter_ in (("bogus", None), (cursor, {"bizType": "FINANCE"})):
        (error,) = gateway.query(PAGE, {"first": 2, "after": after, "filter": filter_})["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    (error,) = gateway.query(PAGE, {"filter": {"nameContains": " "}})["errors"]
    assert error["extensions"]["field"] == "nameContains"


def test_providers_query_and_health(gateway: Gateway) -> None:
    data = gateway.data("{ providers { provider sandbox supportedOperations } }")
    assert [p["provider"] for p in data["providers"]] == ["ESIGN", "YUNYIN"]
    assert data["providers"][0]["supportedOperations"] == [
        "LIST_AUTHORIZATIONS",
        "AUTHORIZE",
        "CREATE_FROM_TEMPLATE",
        "CREATE_FROM_IMAGE",
        "UPLOAD_IMAGE",
        "SET_DEFAULT",
        "DELETE",
        "MANAGEMENT_URL",
        "ENABLE",
        "REVOKE_AUTHORIZATION",
        "CHANGE_AUTHORIZATION_PERIOD",
    ]
    assert "DELETE" in data["providers"][1]["supportedOperations"]
    health = gateway.client.get(f"{gateway.url}/healthz").json()
    assert health == {
        "status": "ok",
        "sandbox": False,
        "tenants": 1,
        "providers": ["esign", "yunyin"],
    }


def test_graphiql_is_served_to_browsers(gateway: Gateway) -> None:
    page = gateway.client.get(f"{gateway.url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


def test_a_cursor_made_before_an_upgrade_still_pages(start_gateway: StartGateway) -> None:
    """Cursors name the filter they were made under; a condition added later (such as
    `includeRevoked`) must not void the cursors clients hold: one made by the release before
    it still reads the next page."""
    gateway = start_gateway("YUNYIN")
    made_before = base64.b64encode(b"seals:26db20ec:yunyin=2").decode()
    page = gateway.query(
        "query($a: String) { seals(first: 2, after: $a) { edges { node { vendorId } } } }",
        {"a": made_before},
    )
    assert "errors" not in page, page
    assert [e["node"]["vendorId"] for e in page["data"]["seals"]["edges"]] == YUNYIN_IDS[2:4]
    revoked_too = gateway.query(
        "query($a: String) { seals(first: 2, after: $a, filter: {includeRevoked: true}) "
        "{ edges { node { vendorId } } } }",
        {"a": made_before},
    )
    assert revoked_too["errors"][0]["extensions"]["field"] == "after"  # another filter
