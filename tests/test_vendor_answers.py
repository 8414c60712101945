"""Vendor answers off their contract, over real HTTP: a wrong shape is that vendor's upstream
error and never blanks the other vendor's seals; a record without an id is never a seal; vendor
times without an offset are read in the vendor's zone, others are refused, never a silent null.
Also: a page walk survives a provider failing mid-way without losing a seal."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.sandbox import Fault, Sandbox
from tests.conftest import Gateway, failures
from tests.test_errors import PAGE, assert_clean, providers_of
from tests.test_read_path import ESIGN_A, YUNYIN_IDS, global_id

OK = {"code": "200", "msg": "成功"}
ROW: dict[str, Any] = {
    "sealId": 50001,
    "sealName": "市场部合同专用章",
    "categoryType": "CONTRACT",
    "sealStyle": 1,
    "status": 1,
    "defaultFlag": 0,
    "createTime": "2024-01-20T10:00:00.000+0800",
}
ONE = "query S($id: ID!) { seal(id: $id) { id vendorId name createdAt } }"


def yunyin_answers(sandbox: Sandbox, endpoint: str, body: dict[str, Any]) -> None:
    sandbox.faults.append(Fault("yunyin", endpoint, status=200, body=body))


@pytest.mark.parametrize(
    "data",
    [
        {"records": []},  # an object where the list belongs
        [{"sealName": "无编号的章"}],  # a row without its id
        [{**ROW, "sealId": None}],
        [{**ROW, "sealId": "not-a-number"}],
        "oops",
    ],
)
def test_a_malformed_list_is_that_vendors_error(
    gateway: Gateway, sandbox: Sandbox, data: object
) -> None:
    yunyin_answers(sandbox, "getSealListByPage", {**OK, "data": data, "totalCount": 1})
    body = gateway.query(PAGE)
    assert providers_of(body) == ["ESIGN"] * len(ESIGN_A)
    assert body["data"]["seals"]["unavailableProviders"] == ["YUNYIN"]
    (error,) = failures(body)
    assert error["extensions"]["code"] == "UPSTREAM_ERROR"
    assert error["extensions"]["provider"] == "YUNYIN"
    assert error["extensions"]["upstreamCode"] == "MALFORMED_ANSWER"
    assert "unexpected shape" in error["message"]
    assert_clean(body)


def test_a_detail_without_an_id_is_no_seal(gateway: Gateway, sandbox: Sandbox) -> None:
    yunyin_answers(sandbox, "getSealInfo", {**OK, "data": {"sealName": "无编号的章"}})
    body = gateway.query(ONE, {"id": global_id("Seal", "yunyin:50001")})
    assert body["data"] == {"seal": None}
    (error,) = failures(body)
    assert error["extensions"]["upstreamCode"] == "MALFORMED_ANSWER"


def test_an_esign_row_without_an_id_is_no_seal(gateway: Gateway, sandbox: Sandbox) -> None:
    rows = [{"alias": "无编号的章", "sealType": 1}]
    answer = {"code": 0, "message": "成功", "data": {"total": 1, "seals": rows}}
    sandbox.faults.append(Fault("esign", "v1.list", status=200, body=answer))
    body = gateway.query(PAGE)
    assert providers_of(body) == ["YUNYIN"] * len(YUNYIN_IDS)
    (error,) = failures(body)
    assert (error["extensions"]["provider"], error["extensions"]["upstreamCode"]) == (
        "ESIGN",
        "MALFORMED_ANSWER",
    )


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("2024-01-20T10:00:00.000+0800", "2024-01-20T10:00:00+08:00"),
        ("2024-01-20T10:00:00+08:00", "2024-01-20T10:00:00+08:00"),
        ("2024-01-20 10:00:00", "2024-01-20T10:00:00+08:00"),  # no offset: the vendor's zone
        ("2024-01-20T02:00:00Z", "2024-01-20T02:00:00+00:00"),
    ],
)
def test_vendor_times_keep_their_moment(
    gateway: Gateway, sandbox: Sandbox, sent: str, shown: str
) -> None:
    yunyin_answers(sandbox, "getSealInfo", {**OK, "data": {**ROW, "createTime": sent}})
    data = gateway.data(ONE, {"id": global_id("Seal", "yunyin:50001")})
    assert data["seal"]["createdAt"] == shown


def test_a_time_in_another_shape_is_refused_not_nulled(gateway: Gateway, sandbox: Sandbox) -> None:
    yunyin_answers(
        sandbox, "getSealInfo", {**OK, "data": {**ROW, "createTime": "2024/01/20 10:00"}}
    )
    body = gateway.query(ONE, {"id": global_id("Seal", "yunyin:50001")})
    (error,) = failures(body)
    assert error["extensions"]["upstreamCode"] == "MALFORMED_ANSWER"
    assert "createTime" in error["message"]


def test_paging_after_a_failure_loses_no_seal(gateway: Gateway, sandbox: Sandbox) -> None:
    """An e签宝 503 on the second page that outlasts the retries (three attempts): the page
    carries 云银签's seals, and following endCursor comes back for the e签宝 seals it missed.
    Every seal exactly once."""
    query = """query P($after: String) { seals(first: 3, after: $after) {
        unavailableProviders edges { node { provider vendorId } }
        pageInfo { hasNextPage endCursor } } }"""
    sandbox.faults.append(Fault("esign", "v1.list", status=503, skip=1, times=3))
    seen: list[tuple[str, str]] = []
    after = None
    unavailable = []
    for _ in range(10):
        body = gateway.query(query, {"after": after})
        page = body["data"]["seals"]
        unavailable.extend(page["unavailableProviders"])
        seen.extend((e["node"]["provider"], e["node"]["vendorId"]) for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert unavailable == ["ESIGN"]
    expected = [("ESIGN", s.seal_id) for s in ESIGN_A] + [("YUNYIN", i) for i in YUNYIN_IDS]
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(expected)


def test_a_page_where_every_provider_failed_says_where_to_resume(
    gateway: Gateway, sandbox: Sandbox
) -> None:
    # failures that outlast the three attempts of each read
    sandbox.faults.append(Fault("esign", "v1.list", status=503, times=3))
    sandbox.faults.append(Fault("yunyin", "getSealListByPage", status=503, times=3))
    query = """query P($after: String) { seals(first: 20, after: $after) {
        edges { node { vendorId } } pageInfo { hasNextPage endCursor } } }"""
    failed = gateway.query(query)["data"]["seals"]
    assert failed["edges"] == []
    assert failed["pageInfo"]["hasNextPage"] is True
    retried = gateway.data(query, {"after": failed["pageInfo"]["endCursor"]})["seals"]
    assert len(retried["edges"]) == len(ESIGN_A) + len(YUNYIN_IDS)
    assert retried["pageInfo"]["hasNextPage"] is False
