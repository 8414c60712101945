"""Every 云银签 write through the gateway, over real HTTP, and the sandbox's state afterwards."""

from __future__ import annotations

import io
import os
import socket
from typing import Any

import httpx
import pytest
from gql import Client, FileVar
from gql.graphql_request import GraphQLRequest
from gql.transport.httpx import HTTPXTransport
from PIL import Image

from gateway.domain import Rejection
from gateway.sandbox import Fault, Sandbox
from gateway.service.writes import REFUSALS
from tests.conftest import AUTH, Gateway, StartGateway
from tests.test_read_path import ESIGN_A, global_id

UPLOAD = """
mutation Upload($input: UploadSealImageInput!) {
  uploadSealImage(input: $input) {
    image { fileName storagePath url pageCount width height }
    userErrors { code field message vendorCode vendorMessage }
  }
}"""
CREATE = """
mutation Create($input: TemplateSealInput!) {
  createTemplateSeal(input: $input) {
    seal { id vendorId name bizType status style isDefault code horizontalText bottomText
           imageSize { width height unit } image { url } supportedOperations }
    userErrors { code field message vendorCode vendorMessage }
  }
}"""
CREATE_IMAGE = """
mutation CreateImage($input: CreateImageSealInput!) {
  createImageSeal(input: $input) {
    seal { id name bizType status style imageSize { width height } image { url } }
    userErrors { code field message vendorCode vendorMessage }
  }
}"""
RENAME = """
mutation Rename($input: RenameSealInput!) {
  renameSeal(input: $input) {
    seal { id name } userErrors { code field message vendorCode vendorMessage }
  }
}"""
SET_DEFAULT = """
mutation SetDefault($input: SealRefInput!) {
  setDefaultSeal(input: $input) {
    seal { vendorId isDefault } previousDefault { vendorId isDefault }
    userErrors { code field message vendorCode vendorMessage }
  }
}"""
DELETE = """
mutation Delete($input: SealRefInput!) {
  deleteSeal(input: $input) {
    deletedSealId userErrors { code field message vendorCode vendorMessage }
  }
}"""
AUTHORIZE = """
mutation Authorize($input: AuthorizeSealInput!) {
  authorizeSeal(input: $input) {
    seal { authorizationCount }
    authorizations { id userId userName role scope templates { id name } effectiveAt expiresAt }
    userErrors { code field message vendorCode vendorMessage }
  }
}"""
MANAGE = """
mutation { sealManagementUrl { url userErrors { code field message vendorCode vendorMessage } } }
"""
PREVIEW = """
query Preview($input: TemplateSealInput!) {
  previewTemplateSeal(input: $input) {
    image { fileName url width height } userErrors { code field message vendorCode vendorMessage }
  }
}"""
PREVIEW_IMAGE = """
query PreviewImage($input: PreviewImageSealInput!) {
  previewImageSeal(input: $input) {
    image { url width height } userErrors { code field message vendorCode vendorMessage }
  }
}"""

WRITE_ENDPOINTS = (
    "createSealByTemplate",
    "createSealByImage",
    "uploadSealFile",
    "corpPreView",
    "uploadSealFilePreView",
    "addSealAuthor",
    "modify",
    "delete",
    "updDefault",
    "getSealAuthorUrl",
)


def png(width: int = 200, height: int = 200, noise: bool = False) -> bytes:
    if noise:
        image = Image.frombytes("RGBA", (width, height), os.urandom(width * height * 4))
    else:
        image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        for x in range(20, width - 20):
            image.putpixel((x, height // 2), (200, 0, 0, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def seal_id(vendor_id: str) -> str:
    return global_id("Seal", f"yunyin:{vendor_id}")


def payload(gateway: Gateway, mutation: str, input_: dict[str, Any], field: str) -> dict[str, Any]:
    data = gateway.data(mutation, {"input": input_})[field]
    assert isinstance(data, dict)
    return data


def only_error(result: dict[str, Any]) -> dict[str, Any]:
    (error,) = result["userErrors"]
    assert isinstance(error, dict)
    return error


def writes_sent(sandbox: Sandbox) -> int:
    return sum(sandbox.count(f"yunyin:{name}") for name in WRITE_ENDPOINTS)


def upload_with_gql(gateway: Gateway, data: bytes, name: str = "seal.png") -> dict[str, Any]:
    transport = HTTPXTransport(
        url=f"{gateway.url}/graphql", headers={"Apollo-Require-Preflight": "true", **AUTH}
    )
    with Client(transport=transport) as session:
        request = GraphQLRequest(
            UPLOAD,
            variable_values={
                "input": {
                    "file": FileVar(io.BytesIO(data), filename=name, content_type="image/png"),
                    "color": "BLUE",
                }
            },
        )
        result: dict[str, Any] = session.execute(request, upload_files=True)
    return result["uploadSealImage"]  # type: ignore[no-any-return]


def raw_upload(gateway: Gateway, data: bytes, **headers: str) -> httpx.Response:
    """A multipart request by hand (GraphQL multipart request spec)."""
    operations = (
        '{"query": "mutation($f: Upload!) { uploadSealImage(input: {file: $f}) '
        '{ image { url } userErrors { code field message } } }", "variables": {"f": null}}'
    )
    return gateway.client.post(
        f"{gateway.url}/graphql",
        data={"operations": operations, "map": '{"0": ["variables.f"]}'},
        files={"0": ("seal.png", data, "image/png")},
        headers=headers,
    )


# --- create ---------------------------------------------------------------------------------


def test_create_template_seal(gateway: Gateway, sandbox: Sandbox) -> None:
    result = payload(
        gateway,
        CREATE,
        {
            "name": "采购部合同专用章",
            "bizType": "CONTRACT",
            "shape": "OVAL",
            "horizontalText": "采购部",
            "bottomText": "3101150099",
            "color": "BLUE",
            "opacity": 0.9,
        },
        "createTemplateSeal",
    )
    assert result["userErrors"] == []
    seal = result["seal"]
    assert (seal["name"], seal["bizType"], seal["status"], seal["style"]) == (
        "采购部合同专用章",
        "CONTRACT",
        "ENABLED",
        "TEMPLATE",
    )
    assert seal["horizontalText"] == "采购部"
    assert seal["bottomText"] == "3101150099"
    assert seal["code"] == f"SEAL{seal['vendorId']}"
    assert seal["isDefault"] is False
    assert seal["imageSize"] == {"width": 180.0, "height": 120.0, "unit": "PIXEL"}
    image = gateway.client.get(seal["image"]["url"])
    assert image.content.startswith(b"\x89PNG")
    # the sandbox holds it, and queries see it
    stored = sandbox.yunyin_seals[int(seal["vendorId"])]
    assert (stored.template_shape, stored.color, stored.alpha) == ("oval", "Blue", 0.9)
    found = gateway.data(
        '{ seals(filter: {nameContains: "采购部"}) { totalCount edges { node { id } } } }'
    )
    assert found["seals"]["totalCount"] == 1
    assert found["seals"]["edges"][0]["node"]["id"] == seal["id"]
    body = next(r for r in sandbox.requests if r.endpoint == "createSealByTemplate").body
    assert b'"sealStyle":1' in body
    assert b'"sealTemplateStyle":"oval"' in body


def test_name_taken(gateway: Gateway) -> None:
    result = payload(
        gateway, CREATE, {"name": "财务专用章", "bizType": "FINANCE"}, "createTemplateSeal"
    )
    assert result["seal"] is None
    error = only_error(result)
    assert (error["code"], error["field"], error["vendorCode"]) == (
        "NAME_TAKEN",
        "name",
        "SEAL_NAME_EXIST",
    )


@pytest.mark.parametrize(
    ("input_", "field"),
    [
        ({"name": "  ", "bizType": "OTHER"}, "name"),
        ({"name": "x" * 51, "bizType": "OTHER"}, "name"),
        ({"name": "新章", "bizType": "OTHER", "opacity": 1.5}, "opacity"),
        ({"name": "新章", "bizType": "OTHER", "horizontalText": "长" * 31}, "horizontalText"),
    ],
)
def test_create_input_is_checked_before_any_call(
    gateway: Gateway, sandbox: Sandbox, input_: dict[str, Any], field: str
) -> None:
    error = only_error(payload(gateway, CREATE, input_, "createTemplateSeal"))
    assert (error["code"], error["field"]) == ("INVALID_INPUT", field)
    assert writes_sent(sandbox) == 0


def test_upload_then_create_image_seal(gateway: Gateway, sandbox: Sandbox) -> None:
    uploaded = upload_with_gql(gateway, png(240, 200), "张三签名.png")
    assert uploaded["userErrors"] == []
    image = uploaded["image"]
    assert (image["fileName"], image["width"], image["height"], image["pageCount"]) == (
        "张三签名.png",
        240,
        200,
        1,
    )
    served = gateway.client.get(image["url"])
    assert served.headers["content-type"] == "image/png"
    assert served.content == png(240, 200)  # the bytes we sent, stored as they were
    assert sandbox.requests[-1].query == "color=Blue"

    result = payload(
        gateway,
        CREATE_IMAGE,
        {"name": "手签章-张三(二)", "bizType": "OTHER", "imagePath": image["storagePath"]},
        "createImageSeal",
    )
    assert result["userErrors"] == []
    seal = result["seal"]
    assert (seal["status"], seal["style"]) == ("AWAITING_REVIEW", "IMAGE")
    assert seal["imageSize"] == {"width": 240.0, "height": 200.0}
    assert gateway.client.get(seal["image"]["url"]).content.startswith(b"\x89PNG")

    preview = payload(
        gateway,
        PREVIEW_IMAGE,
        {"fileName": image["fileName"], "url": image["url"], "color": "PURPLE", "opacity": 0.5},
        "previewImageSeal",
    )
    assert preview["userErrors"] == []
    assert preview["image"]["width"] == 240
    tinted = Image.open(io.BytesIO(gateway.client.get(preview["image"]["url"]).content))
    assert tinted.getpixel((120, 100)) == (110, 40, 140, 128)


def test_image_seal_needs_an_upload(gateway: Gateway) -> None:
    result = payload(
        gateway, CREATE_IMAGE, {"name": "无图章", "bizType": "OTHER"}, "createImageSeal"
    )
    error = only_error(result)
    assert (error["code"], error["vendorCode"]) == ("IMAGE_NOT_FOUND", "SEAL_IMAGE_NOT_FOUND")
    assert "storagePath" in error["message"]
    assert error["vendorMessage"]


# --- uploads: checks, limits, CSRF ----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"GIF89a not a png at all", "NOT_PNG"),
        (b"%PDF-1.7\n" + b"x" * 100, "NOT_PNG"),
        (b"\x89PNG\r\n\x1a\n" + b"broken" * 10, "NOT_PNG"),
        (png(10, 10), "BAD_IMAGE_SIZE"),
        (png(5000, 40), "BAD_IMAGE_SIZE"),
    ],
)
def test_bad_files_are_refused_before_the_vendor(
    gateway: Gateway, sandbox: Sandbox, data: bytes, code: str
) -> None:
    response = raw_upload(gateway, data, **{"Apollo-Require-Preflight": "1"})
    result = response.json()["data"]["uploadSealImage"]
    assert result["image"] is None
    error = only_error(result)
    assert (error["code"], error["field"]) == (code, "file")
    assert sandbox.count("yunyin:uploadSealFile") == 0


def test_size_limits(start_gateway: StartGateway, sandbox: Sandbox) -> None:
    gateway = start_gateway(SEALGW_MAX_UPLOAD_BYTES="65536")
    over = png(180, 180, noise=True)  # ~130 KB: over the limit, within the body allowance
    assert 65536 < len(over) < 65536 + 64 * 1024
    result = raw_upload(gateway, over, **{"Apollo-Require-Preflight": "1"}).json()
    error = only_error(result["data"]["uploadSealImage"])
    assert error["code"] == "FILE_TOO_LARGE"
    assert "65536" in error["message"]

    huge = raw_upload(gateway, os.urandom(400_000), **{"Apollo-Require-Preflight": "1"})
    assert huge.status_code == 413
    assert "exceeds the limit" in huge.json()["errors"][0]["message"]
    assert sandbox.count("yunyin:uploadSealFile") == 0

    big_query = gateway.client.post(
        f"{gateway.url}/graphql", json={"query": "{ providers { provider } }" + " " * 1_100_000}
    )
    assert big_query.status_code == 413


def test_multipart_needs_a_preflight_header(gateway: Gateway, sandbox: Sandbox) -> None:
    refused = raw_upload(gateway, png())
    assert refused.status_code == 400
    assert "Apollo-Require-Preflight" in refused.json()["errors"][0]["message"]
    assert sandbox.count("yunyin:uploadSealFile") == 0
    accepted = raw_upload(gateway, png(), **{"X-Apollo-Operation-Name": "Upload"})
    assert accepted.status_code == 200
    assert accepted.json()["data"]["uploadSealImage"]["userErrors"] == []
    assert sandbox.count("yunyin:uploadSealFile") == 1


# --- previews -------------------------------------------------------------------------------


def test_preview_creates_nothing(gateway: Gateway, sandbox: Sandbox) -> None:
    before = len(sandbox.live_yunyin_seals())
    result = payload(
        gateway,
        PREVIEW,
        {"name": "预览-合同章", "bizType": "CONTRACT", "color": "BLUE"},
        "previewTemplateSeal",
    )
    assert result["userErrors"] == []
    assert (result["image"]["width"], result["image"]["height"]) == (159, 159)
    picture = Image.open(io.BytesIO(gateway.client.get(result["image"]["url"]).content))
    assert picture.format == "PNG"
    assert picture.size == (159, 159)
    assert len(sandbox.live_yunyin_seals()) == before
    # a query: it may be sent as GET
    got = gateway.client.get(
        f"{gateway.url}/graphql",
        params={
            "query": '{ previewTemplateSeal(input: {name: "G", bizType: OTHER}) '
            "{ image { width } } }"
        },
    )
    assert got.json()["data"]["previewTemplateSeal"]["image"]["width"] == 159


def test_preview_of_an_unknown_upload(gateway: Gateway) -> None:
    result = payload(
        gateway,
        PREVIEW_IMAGE,
        {"fileName": "x.png", "url": "http://elsewhere/nothing.png"},
        "previewImageSeal",
    )
    error = only_error(result)
    assert (error["code"], error["vendorCode"]) == (
        "IMAGE_PROCESSING_FAILED",
        "IMAGE_PROCESS_ERROR",
    )


# --- rename, default, delete ----------------------------------------------------------------


def test_rename(gateway: Gateway, sandbox: Sandbox) -> None:
    result = payload(
        gateway, RENAME, {"sealId": seal_id("50001"), "name": "市场部合同章(新)"}, "renameSeal"
    )
    assert result["userErrors"] == []
    assert result["seal"]["name"] == "市场部合同章(新)"
    assert sandbox.yunyin_seals[50001].name == "市场部合同章(新)"

    taken = payload(
        gateway, RENAME, {"sealId": seal_id("50001"), "name": "财务专用章"}, "renameSeal"
    )
    assert only_error(taken)["code"] == "NAME_TAKEN"
    missing = payload(gateway, RENAME, {"sealId": seal_id("987654"), "name": "x"}, "renameSeal")
    assert (only_error(missing)["code"], only_error(missing)["field"]) == (
        "SEAL_NOT_FOUND",
        "sealId",
    )
    malformed = payload(gateway, RENAME, {"sealId": seal_id("abc"), "name": "x"}, "renameSeal")
    assert (only_error(malformed)["code"], only_error(malformed)["field"]) == (
        "INVALID_INPUT",
        "sealId",
    )
    bad = payload(gateway, RENAME, {"sealId": "nonsense", "name": "x"}, "renameSeal")
    assert (only_error(bad)["code"], only_error(bad)["field"]) == ("INVALID_INPUT", "sealId")


def test_set_default_shows_the_previous_default(gateway: Gateway, sandbox: Sandbox) -> None:
    result = payload(gateway, SET_DEFAULT, {"sealId": seal_id("50003")}, "setDefaultSeal")
    assert result["userErrors"] == []
    assert result["seal"] == {"vendorId": "50003", "isDefault": True}
    assert result["previousDefault"] == {"vendorId": "50002", "isDefault": False}
    assert [s.seal_id for s in sandbox.live_yunyin_seals() if s.default] == [50003]
    defaults = gateway.data(
        "{ seals(filter: {providers: [YUNYIN], isDefault: true}) { edges { node { vendorId } } } }"
    )
    assert defaults["seals"]["edges"] == [{"node": {"vendorId": "50003"}}]
    again = payload(gateway, SET_DEFAULT, {"sealId": seal_id("50003")}, "setDefaultSeal")
    assert again["previousDefault"] is None


def test_delete(gateway: Gateway, sandbox: Sandbox) -> None:
    refused = payload(gateway, DELETE, {"sealId": seal_id("50002")}, "deleteSeal")
    assert (only_error(refused)["code"], only_error(refused)["vendorCode"]) == (
        "CANNOT_DELETE",
        "SEAL_DELETE_FAILED",
    )
    assert refused["deletedSealId"] is None
    result = payload(gateway, DELETE, {"sealId": seal_id("50004")}, "deleteSeal")
    assert result == {"deletedSealId": seal_id("50004"), "userErrors": []}
    assert sandbox.yunyin_seals[50004].deleted
    (error,) = gateway.query(
        "query S($id: ID!) { seal(id: $id) { name } }", {"id": seal_id("50004")}
    )["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    count = gateway.data("{ seals(filter: {providers: [YUNYIN]}) { totalCount } }")
    assert count["seals"]["totalCount"] == 5


# --- authorisations -------------------------------------------------------------------------


def test_authorize(gateway: Gateway, sandbox: Sandbox) -> None:
    result = payload(
        gateway,
        AUTHORIZE,
        {
            "sealId": seal_id("50003"),
            "userIds": ["20004", "20005"],
            "role": "USER",
            "scope": "LISTED_TEMPLATES",
            "templates": [
                {"id": "3001", "name": "采购合同模板"},
                {"id": "3002", "name": "框架协议"},
            ],
            "effectiveAt": "2025-01-01T09:00:00+08:00",
            "expiresAt": "2026-12-31T18:00:00+08:00",
        },
        "authorizeSeal",
    )
    assert result["userErrors"] == []
    assert result["seal"]["authorizationCount"] == 3
    created = result["authorizations"]
    assert sorted(a["userName"] for a in created) == ["孙七", "赵六"]
    for item in created:
        assert (item["role"], item["scope"]) == ("USER", "LISTED_TEMPLATES")
        assert item["templates"] == [
            {"id": "3001", "name": "采购合同模板"},
            {"id": "3002", "name": "框架协议"},
        ]
        assert item["effectiveAt"] == "2025-01-01T09:00:00+08:00"
        assert item["expiresAt"] == "2026-12-31T18:00:00+08:00"
    sent = next(r for r in sandbox.requests if r.endpoint == "addSealAuthor").body
    assert b'"authorMemberRange":1' in sent
    assert b'"expireTime":"2026-12-31T18:00:00.000+0800"' in sent

    conflict = payload(
        gateway,
        AUTHORIZE,
        {
            "sealId": seal_id("50003"),
            "userIds": ["20004"],
            "role": "USER",
            "scope": "ALL_CONTRACTS",
        },
        "authorizeSeal",
    )
    assert only_error(conflict)["code"] == "AUTHORIZATION_CONFLICT"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"userIds": []}, "userIds"),
        ({"userIds": ["li-si"]}, "userIds"),
        ({"scope": "LISTED_TEMPLATES"}, "templates"),
        ({"templates": [{"id": "1"}]}, "templates"),
        ({"expiresAt": "2020-01-01T00:00:00+08:00"}, "expiresAt"),
        (
            {"effectiveAt": "2030-01-02T00:00:00+00:00", "expiresAt": "2030-01-01T00:00:00+00:00"},
            "expiresAt",
        ),
    ],
)
def test_authorize_input_is_checked_before_any_call(
    gateway: Gateway, sandbox: Sandbox, changes: dict[str, Any], field: str
) -> None:
    input_ = {
        "sealId": seal_id("50003"),
        "userIds": ["20004"],
        "role": "USER",
        "scope": "ALL_CONTRACTS",
        **changes,
    }
    error = only_error(payload(gateway, AUTHORIZE, input_, "authorizeSeal"))
    assert (error["code"], error["field"]) == ("INVALID_INPUT", field)
    assert writes_sent(sandbox) == 0


def test_unknown_vendor_code_keeps_code_and_message(gateway: Gateway) -> None:
    result = payload(
        gateway,
        AUTHORIZE,
        {
            "sealId": seal_id("50003"),
            "userIds": ["20099"],
            "role": "EXAMINER",
            "scope": "ALL_CONTRACTS",
        },
        "authorizeSeal",
    )
    error = only_error(result)
    assert (error["code"], error["vendorCode"]) == ("VENDOR_REJECTED", "USER_NOT_FOUND")
    # the gateway's words in `message`, the vendor's own kept beside them
    assert "USER_NOT_FOUND" in error["message"]
    assert "用户不存在" not in error["message"]
    assert "用户不存在" in error["vendorMessage"]


# --- management page, permissions, providers ------------------------------------------------


def test_management_url(gateway: Gateway) -> None:
    result = gateway.data(MANAGE)["sealManagementUrl"]
    assert result["userErrors"] == []
    page = gateway.client.get(result["url"])
    assert page.status_code == 200
    assert "印章管理" in page.text
    assert "市场部合同专用章" in page.text


def test_operator_without_permission(start_gateway: StartGateway) -> None:
    gateway = start_gateway(SEALGW_YUNYIN_USER_ID="20002")
    assert gateway.data("{ seals { totalCount } }")["seals"]["totalCount"] == 13  # reads work
    error = only_error(gateway.data(MANAGE)["sealManagementUrl"])
    assert (error["code"], error["vendorCode"]) == ("PERMISSION_DENIED", "PERMISSION_DENIED")
    rename = payload(gateway, RENAME, {"sealId": seal_id("50001"), "name": "改名"}, "renameSeal")
    assert only_error(rename)["code"] == "PERMISSION_DENIED"


def test_esign_writes_it_does_not_document_are_refused(gateway: Gateway, sandbox: Sandbox) -> None:
    """e签宝 documents no rename of an organisation seal: NOT_SUPPORTED, calling no vendor."""
    esign_seal = global_id("Seal", f"esign:{ESIGN_A[1].seal_id}")
    cases = [(RENAME, {"sealId": esign_seal, "name": "新名"}, "renameSeal")]
    for mutation, input_, field in cases:
        error = only_error(payload(gateway, mutation, input_, field))
        assert error["code"] == "NOT_SUPPORTED"
        assert "esign does not support" in error["message"]
    assert sandbox.calls == {}  # no vendor was called at all


# --- every vendor code, and failures that leave the outcome unknown -------------------------


@pytest.mark.parametrize(
    ("vendor_code", "user_code"),
    [
        ("SEAL_NAME_EXIST", "NAME_TAKEN"),
        ("SEAL_NOT_FOUND", "SEAL_NOT_FOUND"),
        ("SEAL_IMAGE_NOT_FOUND", "IMAGE_NOT_FOUND"),
        ("FILE_UPLOAD_ERROR", "INVALID_FILE"),
        ("PREVIEW_GEN_ERROR", "PREVIEW_FAILED"),
        ("IMAGE_PROCESS_ERROR", "IMAGE_PROCESSING_FAILED"),
        ("AUTHOR_RULE_CONFLICT", "AUTHORIZATION_CONFLICT"),
        ("SEAL_DELETE_FAILED", "CANNOT_DELETE"),
        ("PERMISSION_DENIED", "PERMISSION_DENIED"),
        ("QUERY_ERROR", "VENDOR_REJECTED"),
        ("SOMETHING_NEW_2027", "VENDOR_REJECTED"),
    ],
)
def test_every_vendor_code_has_a_user_error(
    gateway: Gateway, sandbox: Sandbox, vendor_code: str, user_code: str
) -> None:
    sandbox.faults.append(
        Fault("yunyin", "modify", status=200, code=vendor_code, message="厂商说明", times=1)
    )
    result = payload(gateway, RENAME, {"sealId": seal_id("50001"), "name": "新名字"}, "renameSeal")
    error = only_error(result)
    assert sandbox.count("yunyin:modify") == 1
    if user_code == "SEAL_NOT_FOUND":
        # the one answer for a seal the tenant has no such id for (another tenant's id too)
        assert error == {
            "code": "SEAL_NOT_FOUND",
            "field": "sealId",
            "message": "No seal has this id.",
            "vendorCode": None,
            "vendorMessage": None,
        }
        return
    assert (error["code"], error["vendorCode"]) == (user_code, vendor_code)
    # the gateway's own sentence for the code; the vendor's text kept as it sent it
    assert "厂商说明" not in error["message"]
    if user_code == "VENDOR_REJECTED":
        assert vendor_code in error["message"]
    else:
        assert error["message"] == REFUSALS[Rejection(user_code)]
    assert error["vendorMessage"] == "厂商说明"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("fault", "may_have_happened"),
    [
        (Fault("yunyin", "createSealByTemplate", status=503), True),
        (Fault("yunyin", "createSealByTemplate", status=200, delay_s=2), True),
    ],
)
def test_a_failed_write_is_not_retried_and_says_so(
    start_gateway: StartGateway, sandbox: Sandbox, fault: Fault, may_have_happened: bool
) -> None:
    gateway = start_gateway(SEALGW_UPSTREAM_TIMEOUT="0.5")
    sandbox.faults.append(fault)
    body = gateway.query(CREATE, {"input": {"name": "超时章", "bizType": "OTHER"}})
    assert body["data"] == {"createTemplateSeal": None}
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert error["extensions"]["writeMayHaveHappened"] is may_have_happened
    assert sandbox.count("yunyin:createSealByTemplate") == 1


def test_an_unreachable_vendor_got_no_write(start_gateway: StartGateway) -> None:
    gateway = start_gateway(SEALGW_YUNYIN_BASE_URL=f"http://127.0.0.1:{_closed_port()}")
    body = gateway.query(CREATE, {"input": {"name": "无人章", "bizType": "OTHER"}})
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert error["extensions"]["writeMayHaveHappened"] is False


def test_a_refused_token_is_renewed_and_the_write_sent_once_more(
    gateway: Gateway, sandbox: Sandbox
) -> None:
    gateway.data("{ seals(first: 1) { totalCount } }")  # a token is in use
    sandbox.expire_tokens("yunyin")
    sandbox.reset_counts()
    result = payload(gateway, CREATE, {"name": "续期章", "bizType": "OTHER"}, "createTemplateSeal")
    assert result["userErrors"] == []
    assert result["seal"]["name"] == "续期章"
    assert sandbox.count("yunyin:token") == 1
    # refused before the vendor acted, then sent again: one seal made
    assert sandbox.count("yunyin:createSealByTemplate") == 2
    assert [s.name for s in sandbox.live_yunyin_seals()].count("续期章") == 1


# --- what the review found ------------------------------------------------------------------


def test_authorize_whose_read_back_fails_says_it_happened(
    gateway: Gateway, sandbox: Sandbox
) -> None:
    """The authorisation is stored, then listing it back fails: the answer must not read as a
    failed write (a client retrying would get AUTHORIZATION_CONFLICT)."""
    sandbox.faults.append(Fault("yunyin", "getSealAuthorList", status=503, skip=1))
    body = gateway.query(
        AUTHORIZE,
        {
            "input": {
                "sealId": seal_id("50003"),
                "userIds": ["20004"],
                "role": "USER",
                "scope": "ALL_CONTRACTS",
            }
        },
    )
    result = body["data"]["authorizeSeal"]
    assert result["userErrors"] == []
    assert result["authorizations"] is None
    (error,) = body["errors"]
    assert error["path"] == ["authorizeSeal", "authorizations"]
    assert error["extensions"]["writeSucceeded"] is True
    assert "writeMayHaveHappened" not in error["extensions"]
    assert "change was made" in error["message"]
    assert sandbox.count("yunyin:addSealAuthor") == 1
    assert [a.user_id for a in sandbox.authors_of(50003)] == [20003, 20004]


def test_rename_whose_read_back_fails_keeps_the_rename(gateway: Gateway, sandbox: Sandbox) -> None:
    sandbox.faults.append(Fault("yunyin", "getSealInfo", status=503))
    body = gateway.query(RENAME, {"input": {"sealId": seal_id("50001"), "name": "新名字"}})
    assert body["data"]["renameSeal"] == {"seal": None, "userErrors": []}
    (error,) = body["errors"]
    assert error["path"] == ["renameSeal", "seal"]
    assert error["extensions"]["writeSucceeded"] is True
    assert sandbox.yunyin_seals[50001].name == "新名字"


@pytest.mark.parametrize(("width", "height"), [(5000, 5000), (100, 5000), (20, 200)])
def test_an_image_too_large_or_small_in_pixels_says_so(
    gateway: Gateway, sandbox: Sandbox, width: int, height: int
) -> None:
    image = io.BytesIO()
    Image.new("1", (width, height)).save(image, format="PNG", optimize=True)
    response = raw_upload(gateway, image.getvalue(), **{"Apollo-Require-Preflight": "1"})
    error = only_error(response.json()["data"]["uploadSealImage"])
    assert (error["code"], error["field"]) == ("BAD_IMAGE_SIZE", "file")
    assert f"{width}x{height}" in error["message"]
    assert sandbox.count("yunyin:uploadSealFile") == 0


@pytest.mark.parametrize("name", ["\x00", "印章\x07", "a\u202eb"])
def test_control_characters_are_refused(gateway: Gateway, sandbox: Sandbox, name: str) -> None:
    result = payload(gateway, RENAME, {"sealId": seal_id("50001"), "name": name}, "renameSeal")
    error = only_error(result)
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "name")
    assert writes_sent(sandbox) == 0
