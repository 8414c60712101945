"""e签宝 writes end to end on the sandbox: each through the endpoint the vendor documents
(docs/vendors.md), signed like every e签宝 call, with the vendor's refusals as user errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.sandbox import Sandbox
from gateway.sandbox import state as demo
from tests.conftest import Gateway, StartGateway
from tests.test_read_path import ESIGN_A, global_id
from tests.test_write_path import CREATE, DELETE, MANAGE, SET_DEFAULT, only_error, payload

DEFAULT, CONTRACT, SUSPENDED, UNDER_REVIEW, USED = (ESIGN_A[i] for i in (0, 1, 2, 4, 6))
DELETE_OUTCOME = """
mutation Delete($input: SealRefInput!) {
  deleteSeal(input: $input) { deletedSealId outcome userErrors { code field message } }
}"""
REVOKED_SEALS = """
query($filter: SealFilter) {
  seals(first: 50, filter: $filter) {
    edges { node { vendorId name status statusLabel bizType image { url } imageSize { width } } }
  }
}"""


def esign_id(seal_id: str) -> str:
    return global_id("Seal", f"esign:{seal_id}")


def create(gateway: Gateway, **input_: Any) -> dict[str, Any]:
    return payload(gateway, CREATE, {"provider": "ESIGN", **input_}, "createTemplateSeal")


def test_create_a_template_seal(gateway: Gateway, sandbox: Sandbox) -> None:
    result = create(gateway, name="采购合同专用章", bizType="CONTRACT")
    assert result["userErrors"] == []
    seal = result["seal"]
    assert (seal["name"], seal["bizType"], seal["status"], seal["style"]) == (
        "采购合同专用章",
        "CONTRACT",
        "ENABLED",
        "TEMPLATE",
    )
    (sent,) = [r for r in sandbox.requests if r.endpoint == "v3.createByTemplate"]
    assert sent.method == "POST"
    assert sent.path == "/v3/seals/org-seals/create-by-template"
    assert sent.headers["x-tsign-open-auth-mode"] == "Signature"
    assert sent.headers["content-md5"]  # the body is signed too
    assert b'"sealTemplateStyle":"CONTRACT_ROUND_STAR"' in sent.body.replace(b" ", b"")
    assert b'"sealSize":"38_38"' in sent.body.replace(b" ", b"")
    stored = next(s for s in sandbox.esign_seals if s.name == "采购合同专用章")
    assert (stored.org_id, stored.biz_type, stored.width_mm) == (demo.ESIGN_ORG_A, "CONTRACT", 38)
    assert seal["vendorId"] == stored.seal_id


def test_create_refusals(gateway: Gateway, sandbox: Sandbox) -> None:
    taken = only_error(create(gateway, name="合同专用章", bizType="CONTRACT"))
    assert (taken["code"], taken["field"], taken["vendorCode"]) == (
        "NAME_TAKEN",
        "name",
        "31400133",
    )
    assert sandbox.count("esign:v3.createByTemplate") == 1
    sandbox.reset_counts()
    for input_, field in (
        ({"bizType": "LEGAL_PERSON"}, "bizType"),  # no template for it
        ({"bizType": "CONTRACT", "shape": "OVAL"}, "shape"),
        ({"bizType": "PUBLIC", "shape": "OVAL", "star": True}, "star"),
        ({"bizType": "PUBLIC", "bottomText": "防伪码"}, "bottomText"),  # half-width only
        ({"bizType": "PUBLIC", "shape": "DOUBLE_OVAL", "surroundText": "华东"}, "surroundText"),
        ({"bizType": "PUBLIC", "opacity": 0.1}, "opacity"),  # sealOpacity 20-100
        ({"bizType": "PUBLIC", "agedVariant": 13}, "agedVariant"),  # OLD_1 to OLD_12
        ({"bizType": "PUBLIC", "bottomText": "A" * 31}, "bottomText"),
        ({"bizType": "PUBLIC", "widthMm": 38, "heightMm": 38}, "widthMm"),  # 42 or 40 only
        ({"bizType": "PUBLIC", "widthMm": 42}, "heightMm"),  # both or neither
    ):
        error = only_error(create(gateway, name="新章", **input_))
        assert (error["code"], error["field"]) == ("INVALID_INPUT", field), input_
    assert sandbox.count("esign") == 0  # refused before any call


def sent_body(sandbox: Sandbox, endpoint: str) -> dict[str, Any]:
    (sent,) = [r for r in sandbox.requests if r.endpoint == endpoint]
    assert sent.headers["x-tsign-open-auth-mode"] == "Signature"
    assert sent.headers["content-md5"]
    body: dict[str, Any] = json.loads(sent.body)
    return body


def test_every_template_option_reaches_esign(gateway: Gateway, sandbox: Sandbox) -> None:
    result = create(
        gateway,
        name="Export seal",
        bizType="OTHER",
        shape="DOUBLE_OVAL",
        color="BLUE",
        opacity=0.55,
        horizontalText="出口专用",
        bottomText="9133-0001",
        surroundText="EAST CHINA SAMPLE TECH CO., LTD.",
        agedVariant=3,
    )
    assert result["userErrors"] == []
    assert (result["seal"]["bizType"], result["seal"]["style"]) == ("OTHER", "TEMPLATE")
    assert sent_body(sandbox, "v3.createByTemplate") == {
        "orgId": demo.ESIGN_ORG_A,
        "sealName": "Export seal",
        "sealTemplateStyle": "COMMON_TWO_OVAL",
        "sealSize": "45_30",
        "sealColor": "BLUE",
        "sealOpacity": 55,
        "sealHorizontalText": "出口专用",
        "sealBottomText": "9133-0001",
        "sealOutsideSurroundText": "EAST CHINA SAMPLE TECH CO., LTD.",
        "sealOldStyle": "OLD_3",
    }
    stored = next(s for s in sandbox.esign_seals if s.name == "Export seal")
    assert (stored.biz_type, stored.width_mm, stored.height_mm) == ("COMMON", 45, 30)
    assert result["seal"]["vendorId"] == stored.seal_id  # the answer's data.sealId


@pytest.mark.parametrize(
    ("input_", "style", "size"),
    [
        ({"bizType": "CONTRACT", "star": False}, "CONTRACT_ROUND_NO_STAR", "38_38"),
        ({"bizType": "FINANCE", "shape": "SQUARE"}, "FINANCE_SQUARE_HORIZONTAL", "22_22"),
        ({"bizType": "FINANCE", "shape": "SQUARE_VERTICAL"}, "FINANCE_SQUARE_VERTICAL", "22_22"),
        ({"bizType": "PUBLIC", "shape": "DOUBLE_OVAL"}, "PUBLIC_TWO_OVAL", "45_30"),
        ({"bizType": "OTHER"}, "COMMON_ROUND_STAR", "42_42"),
        ({"bizType": "OTHER", "shape": "OVAL", "aged": True}, "COMMON_OVAL", "45_30"),
        ({"bizType": "PUBLIC", "widthMm": 40, "heightMm": 40}, "PUBLIC_ROUND_STAR", "40_40"),
    ],
)
def test_template_styles(
    gateway: Gateway, sandbox: Sandbox, input_: dict[str, Any], style: str, size: str
) -> None:
    assert create(gateway, name="样式章", **input_)["userErrors"] == []
    body = sent_body(sandbox, "v3.createByTemplate")
    assert (body["sealTemplateStyle"], body["sealSize"]) == (style, size)
    assert body.get("sealOldStyle") == ("OLD" if input_.get("aged") else None)


STYLES = """{ providers { provider templateOptions
  templateStyles { bizType shape star vendorStyle sizes { width height unit } } } }"""


def test_the_styles_each_provider_offers_are_queryable(gateway: Gateway) -> None:
    providers = {p["provider"]: p for p in gateway.data(STYLES)["providers"]}
    esign = providers["ESIGN"]
    assert len(esign["templateStyles"]) == 14
    assert {
        "bizType": "OTHER",
        "shape": "DOUBLE_OVAL",
        "star": None,
        "vendorStyle": "COMMON_TWO_OVAL",
        "sizes": [{"width": 45.0, "height": 30.0, "unit": "MILLIMETRE"}],
    } in esign["templateStyles"]
    assert "LEGAL_PERSON" not in {s["bizType"] for s in esign["templateStyles"]}
    assert "surroundText" in esign["templateOptions"]
    yunyin = providers["YUNYIN"]
    assert {s["shape"] for s in yunyin["templateStyles"]} == {"ROUND", "OVAL"}
    assert "surroundText" not in yunyin["templateOptions"]


def test_yunyin_refuses_what_its_template_lacks(gateway: Gateway, sandbox: Sandbox) -> None:
    for input_, field in (
        ({"shape": "DOUBLE_OVAL"}, "shape"),
        ({"surroundText": "ABC"}, "surroundText"),
        ({"aged": True}, "aged"),
        ({"star": True}, "star"),
        ({"widthMm": 40, "heightMm": 40}, "widthMm"),
    ):
        error = only_error(
            payload(
                gateway,
                CREATE,
                {"provider": "YUNYIN", "name": "新章", "bizType": "PUBLIC", **input_},
                "createTemplateSeal",
            )
        )
        assert (error["code"], error["field"]) == ("INVALID_INPUT", field)
    assert sandbox.count("yunyin:createSealByTemplate") == 0


def test_delete_and_its_rules(gateway: Gateway, sandbox: Sandbox) -> None:
    for seal, says in ((DEFAULT, "default seal"), (UNDER_REVIEW, "under review")):
        error = only_error(
            payload(gateway, DELETE, {"sealId": esign_id(seal.seal_id)}, "deleteSeal")
        )
        assert (error["code"], error["field"]) == ("CANNOT_DELETE", "sealId")
        assert says in error["message"]
    assert sandbox.count("esign:v3.delete") == 0
    deleted = payload(gateway, DELETE_OUTCOME, {"sealId": esign_id(CONTRACT.seal_id)}, "deleteSeal")
    assert deleted == {
        "deletedSealId": esign_id(CONTRACT.seal_id),
        "outcome": "DELETED",
        "userErrors": [],
    }
    assert sandbox.count("esign:v3.delete") == 1
    assert CONTRACT.seal_id not in {s.seal_id for s in sandbox.esign_seals}
    (sent,) = [r for r in sandbox.requests if r.endpoint == "v3.delete"]
    assert (sent.method, sent.query) == (
        "DELETE",
        f"orgId={demo.ESIGN_ORG_A}&sealId={CONTRACT.seal_id}",
    )
    # a seal of another organisation: the vendor's 31400109, the one answer for unknown seals
    other_org = "7f2c8d0e-5b7a-4c9d-9e2f-4a5b6c7d8e9f"
    error = only_error(payload(gateway, DELETE, {"sealId": esign_id(other_org)}, "deleteSeal"))
    assert (error["code"], error["message"]) == ("SEAL_NOT_FOUND", "No seal has this id.")


def test_a_used_seal_is_revoked_and_listed_when_asked(gateway: Gateway, sandbox: Sandbox) -> None:
    assert USED.used
    assert not CONTRACT.used
    revoked = payload(gateway, DELETE_OUTCOME, {"sealId": esign_id(USED.seal_id)}, "deleteSeal")
    assert revoked == {
        "deletedSealId": esign_id(USED.seal_id),
        "outcome": "REVOKED",
        "userErrors": [],
    }
    (kept,) = [s for s in sandbox.esign_seals if s.seal_id == USED.seal_id]
    assert kept.status == 6  # kept, with its usage records

    def listed(filter_: dict[str, Any]) -> dict[str, dict[str, Any]]:
        edges = gateway.data(REVOKED_SEALS, {"filter": filter_})["seals"]["edges"]
        return {e["node"]["vendorId"]: e["node"] for e in edges}

    assert USED.seal_id not in listed({"providers": ["ESIGN"]})
    sandbox.reset_counts()
    with_revoked = listed({"providers": ["ESIGN"], "includeRevoked": True})
    assert with_revoked[USED.seal_id] == {
        "vendorId": USED.seal_id,
        "name": USED.name,
        "status": "REVOKED",
        "statusLabel": "已吊销",
        "bizType": "CONTRACT",
        "image": None,  # no v1 row: v1 lists no revoked seal
        "imageSize": None,
    }
    assert len(with_revoked) == 7
    # one v3 list page; v1 only for the images of the seals it lists (not the revoked one)
    assert sandbox.count("esign:v3.list") == 1
    assert sandbox.count("esign") == 2
    (sent,) = [r for r in sandbox.requests if r.endpoint == "v3.list"]
    assert "revocationSeal=true" in sent.query
    assert sent.headers["x-tsign-open-auth-mode"] == "Signature"
    only_revoked = listed({"providers": ["ESIGN"], "includeRevoked": True, "status": "REVOKED"})
    assert list(only_revoked) == [USED.seal_id]
    assert listed({"status": "REVOKED"}) == {}  # not asked to include them


STATE = """
mutation($input: SealRefInput!) {
  enableSeal(input: $input) { seal { vendorId status } userErrors { code field message } }
  disableSeal(input: $input) { seal { vendorId } userErrors { code field message } }
}"""


def test_enable_a_disabled_seal(gateway: Gateway, sandbox: Sandbox) -> None:
    assert SUSPENDED.status == 4  # 挂起或已停用
    data = gateway.data(STATE, {"input": {"sealId": esign_id(SUSPENDED.seal_id)}})
    assert data["enableSeal"] == {
        "seal": {"vendorId": SUSPENDED.seal_id, "status": "ENABLED"},
        "userErrors": [],
    }
    (stored,) = [s for s in sandbox.esign_seals if s.seal_id == SUSPENDED.seal_id]
    assert stored.status == 1
    assert sent_body(sandbox, "v3.enableSeal") == {
        "orgId": demo.ESIGN_ORG_A,
        "sealId": SUSPENDED.seal_id,
    }
    # disabling: no page documents it, so no vendor is called
    (error,) = data["disableSeal"]["userErrors"]
    assert error["code"] == "NOT_SUPPORTED"
    assert sandbox.count("esign:v3.disableSeal") == 0


def test_enable_refusals(gateway: Gateway, sandbox: Sandbox) -> None:
    for seal in (UNDER_REVIEW, ESIGN_A[5]):  # awaiting review, rejected by it
        error = only_error(
            payload(
                gateway,
                STATE,
                {"sealId": esign_id(seal.seal_id)},
                "enableSeal",
            )
        )
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "sealId")
    other_org = "7f2c8d0e-5b7a-4c9d-9e2f-4a5b6c7d8e9f"
    error = only_error(payload(gateway, STATE, {"sealId": esign_id(other_org)}, "enableSeal"))
    assert error["code"] == "SEAL_NOT_FOUND"
    assert sandbox.count("esign:v3.enableSeal") == 0


def test_set_default_through_v1(gateway: Gateway, sandbox: Sandbox) -> None:
    result = payload(gateway, SET_DEFAULT, {"sealId": esign_id(CONTRACT.seal_id)}, "setDefaultSeal")
    assert result["userErrors"] == []
    assert result["seal"] == {"vendorId": CONTRACT.seal_id, "isDefault": True}
    assert result["previousDefault"] == {"vendorId": DEFAULT.seal_id, "isDefault": False}
    (sent,) = [r for r in sandbox.requests if r.endpoint == "v1.setDefault"]
    assert (sent.method, sent.path) == (
        "PUT",
        f"/v1/organizations/{demo.ESIGN_ORG_A}/seals/{CONTRACT.seal_id}/setDefault",
    )


def test_management_page(gateway: Gateway, sandbox: Sandbox) -> None:
    mutation = MANAGE.replace(
        "sealManagementUrl {", "sealManagementUrl(input: {provider: ESIGN}) {"
    )
    result = gateway.data(mutation)["sealManagementUrl"]
    assert result["userErrors"] == []
    page = gateway.client.get(result["url"])
    assert page.status_code == 200
    assert "华东示例科技有限公司 印章管理" in page.text
    (sent,) = [r for r in sandbox.requests if r.endpoint == "v3.manageUrl"]
    assert demo.ESIGN_TRANSACTOR.encode() in sent.body


def test_without_a_transactor_there_is_no_management_page(start_gateway: StartGateway) -> None:
    gateway = start_gateway(SEALGW_ESIGN_TRANSACTOR_ID="")
    operations = gateway.data("{ providers { provider supportedOperations } }")["providers"][0]
    assert "MANAGEMENT_URL" not in operations["supportedOperations"]


def test_an_ungranted_organisation_is_permission_denied(start_gateway: StartGateway) -> None:
    gateway = start_gateway("ESIGN", SEALGW_ESIGN_ORG_ID=demo.ESIGN_ORG_UNGRANTED)
    error = only_error(create(gateway, name="新公章", bizType="PUBLIC"))
    assert (error["code"], error["vendorCode"]) == ("PERMISSION_DENIED", "1499000")


@pytest.mark.parametrize("mode", ["signature", "token"])
def test_writes_are_signed_either_way(
    start_gateway: StartGateway, sandbox: Sandbox, mode: str
) -> None:
    gateway = start_gateway("ESIGN", SEALGW_ESIGN_AUTH_MODE=mode)
    assert create(gateway, name=f"人事专用章-{mode}", bizType="PERSONNEL")["userErrors"] == []
