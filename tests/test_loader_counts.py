"""What the vendors receive: counted by the sandbox, per endpoint."""

from __future__ import annotations

from gateway.sandbox import Sandbox
from gateway.sandbox import state as demo
from tests.conftest import Gateway, StartGateway
from tests.test_read_path import ESIGN_A, global_id

ESIGN_ONLY = "{providers: [ESIGN]}"
V1_FIELDS = (
    "id vendorId name style isDefault imageSize { width unit } "
    "image { url expiresAt } createdAt isCancellationSeal"
)
# v1 does not say a seal's business type or status: v3 does
V3_FIELDS = "bizType status physicalSize { width } rejectReason statusLabel"


def esign_page(fields: str) -> str:
    return f"{{ seals(first: 7, filter: {ESIGN_ONLY}) {{ edges {{ node {{ {fields} }} }} }} }}"


def test_v1_fields_cost_one_call(gateway: Gateway, sandbox: Sandbox) -> None:
    data = gateway.data(esign_page(V1_FIELDS))
    assert len(data["seals"]["edges"]) == 7
    assert sandbox.count("esign:v1.list") == 1
    assert sandbox.count("esign:v3.detail") == 0
    assert sandbox.count("yunyin") == 0  # never asked: the page ended inside e签宝


def test_v3_fields_cost_one_call_per_seal(gateway: Gateway, sandbox: Sandbox) -> None:
    gateway.data(esign_page(f"{V1_FIELDS} {V3_FIELDS}"))
    assert sandbox.count("esign:v1.list") == 1
    assert sandbox.count("esign:v3.detail") == 7
    # the business types come with those details: no v3 list page besides
    assert sandbox.count("esign:v3.list") == 0
    details = [r.query for r in sandbox.requests if r.endpoint == "v3.detail"]
    assert sorted(details) == sorted(
        f"orgId={demo.ESIGN_ORG_A}&sealId={s.seal_id}" for s in ESIGN_A
    )


def test_the_same_seal_twice_costs_one_detail_call(gateway: Gateway, sandbox: Sandbox) -> None:
    target = global_id("Seal", f"esign:{ESIGN_A[2].seal_id}")
    gateway.data(
        f"""query Q($id: ID!) {{
          a: {esign_page("physicalSize { width }")[2:-2]}
          b: {esign_page("rejectReason")[2:-2]}
          node(id: $id) {{ ... on Seal {{ statusLabel }} }}
          again: seal(id: $id) {{ physicalSize {{ height }} }}
          nodes(ids: [$id, $id]) {{ id }}
        }}""",
        {"id": target},
    )
    assert sandbox.count("esign:v1.list") == 1
    assert sandbox.count("esign:v3.detail") == 7


def test_node_lookups_are_batched(gateway: Gateway, sandbox: Sandbox) -> None:
    ids = [global_id("Seal", f"yunyin:{n}") for n in ("50001", "50002", "50001", "50003")]
    data = gateway.data("query N($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    assert [n["id"] for n in data["nodes"]] == ids
    assert sandbox.count("yunyin:getSealInfo") == 3


def test_v1_fields_of_a_seal_fetched_by_id_come_from_one_list_read(
    gateway: Gateway, sandbox: Sandbox
) -> None:
    ids = [global_id("Seal", f"esign:{s.seal_id}") for s in ESIGN_A[:3]]
    data = gateway.data(
        "query N($ids: [ID!]!) { nodes(ids: $ids) { ... on Seal { name imageSize { width } } } }",
        {"ids": ids},
    )
    assert [n["imageSize"]["width"] for n in data["nodes"]] == [167.0, 159.0, 151.0]
    assert sandbox.count("esign:v3.detail") == 3
    assert sandbox.count("esign:v1.list") == 1


def test_authorizations_batched_and_deduplicated(gateway: Gateway, sandbox: Sandbox) -> None:
    gateway.data(
        """{ seals(first: 6, filter: {providers: [YUNYIN]}) { edges { node {
              a: authorizations(first: 5) { totalCount }
              b: authorizations(first: 5) { edges { node { userName } } }
           } } } }"""
    )
    assert sandbox.count("yunyin:getSealListByPage") == 1
    assert sandbox.count("yunyin:getSealAuthorList") == 6


def test_total_count_costs_a_call_only_when_selected(gateway: Gateway, sandbox: Sandbox) -> None:
    gateway.data("{ seals(first: 2) { edges { node { name } } } }")
    assert (sandbox.count("esign:v1.list"), sandbox.count("yunyin")) == (1, 0)
    sandbox.reset_counts()
    data = gateway.data("{ seals(first: 2) { totalCount edges { node { name } } } }")
    assert data["seals"]["totalCount"] == 13
    assert sandbox.count("esign:v1.list") == 1  # its total came with the page
    assert sandbox.count("yunyin:getSealListByPage") == 1  # a count call, for the total


def test_connections_are_reused(start_gateway: StartGateway, sandbox: Sandbox) -> None:
    gateway = start_gateway()  # a fresh process: no connection opened before
    for _ in range(10):
        gateway.data("{ seals(first: 13) { edges { node { name } } } }")
    calls = [r for r in sandbox.requests if r.endpoint in ("v1.list", "getSealListByPage")]
    assert len(calls) == 20
    # sequential queries: each vendor's calls ride one kept-alive connection
    assert len({r.peer for r in calls if r.vendor == "esign"}) == 1
    assert len({r.peer for r in calls if r.vendor == "yunyin"}) == 1


def test_concurrency_per_vendor_is_bounded(start_gateway: StartGateway, sandbox: Sandbox) -> None:
    # long enough that calls started together overlap even on a busy machine
    sandbox.config.latency_s = 0.25
    bounded = start_gateway("ESIGN", SEALGW_UPSTREAM_MAX_CONNECTIONS="2")
    bounded.data(esign_page(f"{V1_FIELDS} {V3_FIELDS}"))
    assert sandbox.count("esign:v3.detail") == 7
    assert sandbox.peak_in_flight["esign"] == 2  # 7 detail calls, never more than 2 at once

    sandbox.reset_counts()
    roomy = start_gateway("ESIGN", SEALGW_UPSTREAM_MAX_CONNECTIONS="16")
    roomy.data(esign_page(f"{V1_FIELDS} {V3_FIELDS}"))
    assert sandbox.peak_in_flight["esign"] == 7  # all of the batch at once


def test_an_esign_contract_seal_is_a_contract_seal_and_filters_find_it(
    gateway: Gateway, sandbox: Sandbox
) -> None:
    """v1 calls every seal COMMON (or CANCELLATION): the business type comes from v3."""
    data = gateway.data(esign_page("name bizType isCancellationSeal"))
    by_name = {e["node"]["name"]: e["node"] for e in data["seals"]["edges"]}
    assert by_name["合同专用章"]["bizType"] == "CONTRACT"
    assert by_name["华东示例科技有限公司公章"]["bizType"] == "PUBLIC"
    assert by_name["业务章"] == {"name": "业务章", "bizType": "OTHER", "isCancellationSeal": True}
    assert by_name["合同专用章"]["isCancellationSeal"] is False
    # a page of 7 asking the business type: the v1 page and one page of the v3 list (which
    # carries business types 20 seals a page), not a v3 detail per seal
    assert sandbox.count("esign:v1.list") == 1
    assert sandbox.count("esign:v3.list") == 1
    assert sandbox.count("esign:v3.detail") == 0

    sandbox.reset_counts()
    found = gateway.data(
        "{ seals(first: 10, filter: {bizType: CONTRACT}) { totalCount "
        "edges { node { provider name bizType } } } }"
    )["seals"]
    assert [(e["node"]["provider"], e["node"]["name"]) for e in found["edges"]] == [
        ("ESIGN", "合同专用章"),
        ("ESIGN", "合同专用章(二)"),
        ("YUNYIN", "市场部合同专用章"),
    ]
    assert found["totalCount"] == 3
    # e签宝 filters on the gateway: the whole v1 list, and the v3 list for the types;
    # 云银签 filters itself: one list call
    assert sandbox.count("esign:v1.list") == 1
    assert sandbox.count("esign:v3.list") == 1
    assert sandbox.count("esign:v3.detail") == 0
    assert sandbox.count("yunyin:getSealListByPage") == 1


def test_the_v3_list_is_read_only_where_it_saves_calls(gateway: Gateway, sandbox: Sandbox) -> None:
    """One seal's business type: one v3 detail (a list page would cost as much and might not
    hold it). Many seals in a big organisation: the v3 list pages, 20 seals each, while fewer
    than one detail per seal; else details."""
    one = gateway.data(
        "query S($id: ID!) { seal(id: $id) { bizType } }",
        {"id": global_id("Seal", f"esign:{ESIGN_A[1].seal_id}")},
    )
    assert one == {"seal": {"bizType": "CONTRACT"}}
    # fetched by id, the seal came from v3 detail already: no list call at all
    assert (sandbox.count("esign:v3.detail"), sandbox.count("esign:v3.list")) == (1, 0)

    base = ESIGN_A[-1].created_ms
    for n in range(60):  # 67 seals: the v3 list has 4 pages of 20
        sandbox.esign_seals.append(
            type(ESIGN_A[0])(
                f"00000000-0000-4000-8000-{n:012d}",
                demo.ESIGN_ORG_A,
                f"部门章{n:02d}",
                "COMMON",
                1,
                1,
                base + (n + 1) * 60_000,
            )
        )
    page = (
        "query P($a: String, $n: Int) { seals(first: $n, after: $a, filter: {providers: [ESIGN]})"
        " { edges { node { bizType } } pageInfo { endCursor } } }"
    )

    def costs(after: str | None, first: int) -> tuple[tuple[int, int], str]:
        sandbox.reset_counts()
        seals = gateway.data(page, {"a": after, "n": first})["seals"]
        assert all(e["node"]["bizType"] for e in seals["edges"])
        calls = (sandbox.count("esign:v3.list"), sandbox.count("esign:v3.detail"))
        return calls, seals["pageInfo"]["endCursor"]

    # the first 20: all on the first v3 list page
    calls, after_20 = costs(None, 20)
    assert calls == (1, 0)
    # the next 20: not on the first page; 3 more pages cost less than 20 details
    calls, _ = costs(after_20, 20)
    assert calls == (4, 0)
    # the last 3: not on the first page; 3 details cost less than 3 more pages
    _, after_64 = costs(None, 64)
    calls, _ = costs(after_64, 3)
    assert calls == (1, 3)
