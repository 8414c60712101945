"""e签宝 writes end to end on the sandbox: each through the endpoint the vendor documents
(docs/vendors.md), signed like every e签宝 call, with the vendor's refusals as user errors."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.sandbox import Sandbox
from gateway.sandbox import state as demo
from tests.conftest import Gateway, StartGateway
from tests.test_read_path import ESIGN_A, global_id
from tests.test_write_path import CREATE, DELETE, MANAGE, SET_DEFAULT, only_error, payload

DEFAULT, CONTRACT, UNDER_REVIEW = ESIGN_A[0], ESIGN_A[1], ESIGN_A[4]


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
        ({"bizType": "LEGAL_PERSON"}, "bizType"),
        ({"bizType": "CONTRACT", "shape": "OVAL"}, "bizType"),
        ({"bizType": "PUBLIC", "horizontalText": "销售部"}, "horizontalText"),
        ({"bizType": "PUBLIC", "color": "BLUE"}, "color"),
    ):
        error = only_error(create(gateway, name="新章", **input_))
        assert (error["code"], error["field"]) == ("INVALID_INPUT", field)
    assert sandbox.count("esign") == 0  # refused before any call


def test_delete_and_its_rules(gateway: Gateway, sandbox: Sandbox) -> None:
    for seal, says in ((DEFAULT, "default seal"), (UNDER_REVIEW, "under review")):
        error = only_error(
            payload(gateway, DELETE, {"sealId": esign_id(seal.seal_id)}, "deleteSeal")
        )
        assert (error["code"], error["field"]) == ("CANNOT_DELETE", "sealId")
        assert says in error["message"]
    assert sandbox.count("esign:v3.delete") == 0
    deleted = payload(gateway, DELETE, {"sealId": esign_id(CONTRACT.seal_id)}, "deleteSeal")
    assert deleted == {"deletedSealId": esign_id(CONTRACT.seal_id), "userErrors": []}
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
