"""Every field the sandbox serves, checked against the vendors' own tables: the seed pages in
../shared/seeds (transcribed below, with where each table stands) and UPSTREAMS.md. A field
the vendor does not document, a type it does not give, or a value outside its vocabulary fails
here, instead of hiding a gateway bug behind a sandbox that speaks the gateway's language."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.sandbox import state as demo
from gateway.sandbox.esign_signature import body_md5
from tests.conftest import SandboxServer
from tests.test_sandbox import signed

# The seal the seeded e签宝 authorisations are on.
ESIGN_SEAL = "5f9813c5-c521-4c3c-aa62-40b0344a6d53"

# (JSON types allowed, the closed vocabulary or None); None stands for JSON null throughout.
Field = tuple[tuple[type, ...], frozenset[object] | None]
STR: Field = ((str,), None)
OPT_STR: Field = ((str, type(None)), None)
INT: Field = ((int,), None)
BOOL: Field = ((bool,), None)

# esign-v1-list-org-seals.txt, 响应参数 (and its example rows); the vendor's fuller page
# (open.esign.cn/docs/wk/接口文档/印章服务API/查询机构印章.html) gives sealType 1-4 and
# sealBizType CANCELLATION | COMMON. `status`, `reason`, `sealUserFlag` appear in the seed's
# example rows only (UPSTREAMS.md, "v1 list": present in practice, meanings undocumented).
V1_SEAL: dict[str, Field] = {
    "alias": OPT_STR,
    "createDate": INT,
    "defaultFlag": BOOL,
    "fileKey": STR,
    "height": INT,
    "width": INT,
    "sealId": STR,
    "sealType": ((int,), frozenset({1, 2, 3, 4})),
    "url": STR,
    "sealBizType": ((str,), frozenset({"COMMON", "CANCELLATION"})),
    "status": INT,
    "reason": OPT_STR,
    "sealUserFlag": BOOL,
}
V1_DATA: dict[str, Field] = {"total": INT, "seals": ((list,), None)}

# esign-v3-org-seal-info.txt, 响应参数 data.
V3_DETAIL: dict[str, Field] = {
    "sealId": STR,
    "sealName": STR,
    "sealCreateTime": INT,
    "defaultSealFlag": BOOL,
    "sealHeight": INT,
    "sealWidth": INT,
    "sealBizType": (
        (str,),
        frozenset({"PUBLIC", "CONTRACT", "FINANCE", "PERSONNEL", "LEGAL_PERSON", "COMMON"}),
    ),
    "sealBizTypeDescription": STR,
    "sealStyle": ((int,), frozenset({1, 3})),
    "sealStatus": ((int,), frozenset({1, 2, 3, 4})),
    "statusDescription": STR,
    "rejectReason": STR,
    "sealImageDownloadUrl": STR,
}

# GET /v3/seals/org-own-seal-list, data.seals[]: the fields the vendor's page shows
# (open.esign.cn/doc/opendoc/seal3/ups6h1; docs/vendors.md): the detail's, with sealStatus 6
# (已吊销, a seal deleted after use) listed when `revocationSeal=true` asks for it.
V3_LISTED: dict[str, Field] = {
    **V3_DETAIL,
    "sealStatus": ((int,), frozenset({1, 2, 3, 4, 6})),
}
# POST /v3/seals/org-seals/create-by-template, data (seal3/igfmd2); also create-by-image's.
V3_CREATED: dict[str, Field] = {"sealId": STR}
# POST /v3/files/file-key, data (seal3/gd1tsb); the PUT to fileUploadUrl answers errCode, msg.
V3_FILE_KEY: dict[str, Field] = {"fileKey": STR, "fileUploadUrl": STR}
FILE_UPLOADED: dict[str, Field] = {"errCode": ((int,), frozenset({0})), "msg": STR}
# DELETE /v3/seals/org-seal, data (seal3/qdfvs6).
V3_DELETED: dict[str, Field] = {"sealStatus": ((str,), frozenset({"delete", "revoke"}))}

# GET /v3/seals/org-seals/internal-auth, data.sealAuthorizedInfos[]: the fields its page shows
# (open.esign.cn/doc/opendoc/seal3/totfte).
V3_AUTH: dict[str, Field] = {
    "sealId": STR,
    "sealAuthBizId": STR,
    "authorizerPsnId": STR,
    "authorizedPsnId": STR,
    "sealRole": ((str,), frozenset({"SEAL_USER", "SEAL_EXAMINER"})),
    "authorizeStatus": ((int,), frozenset({0, 1, 3})),
    "statusDescription": STR,
    "expireReason": (
        (str,),
        frozenset(
            {
                "NOT_EXPIRE",
                "NOT_SIGN",
                "WAIT_EFFECTIVE",
                "EXPIRED",
                "GRANT_ORG_ACCOUNT_UPDATE",
                "GRANTER_ACCOUNT_UPDATE",
                "GRANTED_ACCOUNT_UPDATE",
            }
        ),
    ),
    "expireReasonDescription": STR,
    "longTermEffective": BOOL,
    "effectiveTime": ((int, type(None)), None),  # none when long-term
    "expireTime": ((int, type(None)), None),
    "signFlowId": STR,
    "sealAuthScope": ((dict,), None),
}
# ... its sealAuthScope, and sealAuthScope.template.
V3_AUTH_SCOPE: dict[str, Field] = {"template": ((dict,), None), "autoSign": BOOL}
V3_AUTH_TEMPLATE: dict[str, Field] = {"templateId": OPT_STR, "applicationsIds": OPT_STR}
# POST /v3/seals/org-seals/internal-auth, data (seal3/fu6ov5).
V3_AUTHORIZED: dict[str, Field] = {
    "sealAuthBizIds": ((list,), None),
    "sealAuthBizInfos": ((list,), None),
    "authorizationSignShortUrl": STR,
    "authorizationSignUrl": STR,
    "sealAuthorizeType": ((int,), frozenset({1, 2})),
}
V3_AUTH_BIZ_INFO: dict[str, Field] = {"authorizedPsnId": STR, "sealAuthBizId": STR}
# POST /v3/seals/org-seals/reauthorization, data (seal3/giha96).
V3_REAUTHORIZED: dict[str, Field] = {
    "newSealAuthBizId": STR,
    "authorizationSignShortUrl": STR,
    "authorizationSignUrl": STR,
}
# GET /v3/seals/org-seals/authorization-sign-url, data (seal3/dszm8d).
V3_SIGN_URL: dict[str, Field] = {"authorizationSignShortUrl": STR, "authorizationSignUrl": STR}

# yunyin-seal-api.txt, getSealListByPage / getSealInfo 响应参数 (the same record).
YUNYIN_SEAL: dict[str, Field] = {
    "sealId": INT,
    "corpName": STR,
    "sealCode": STR,
    "sealName": STR,
    "categoryType": (
        (str,),
        frozenset({"PUBLIC", "CONTRACT", "FINANCE", "HR", "LEGAL_PERSON", "OTHER"}),
    ),
    "sealStyle": ((int,), frozenset({1, 3})),
    "sealWidth": INT,
    "sealHeight": INT,
    "sealImageUrl": STR,
    "defaultFlag": ((int,), frozenset({0, 1})),
    "status": ((int,), frozenset({1, 2, 3, 4})),
    "sealHorizontalText": OPT_STR,
    "sealBottomText": OPT_STR,
    "source": STR,
    "authorNum": INT,
    "createTime": STR,
}
# yunyin-seal-api.txt, getSealAuthorList 响应参数.
YUNYIN_AUTHOR: dict[str, Field] = {
    "id": INT,
    "sealId": INT,
    "userId": INT,
    "userName": STR,
    "authorRole": ((str,), frozenset({"SEAL_USER", "SEAL_EXAMINER"})),
    "authorRange": ((int,), frozenset({0, 1})),
    "autoSign": ((int,), frozenset({0, 1})),
    "effectiveTime": STR,
    "expireTime": OPT_STR,  # null = never (UPSTREAMS.md)
    "examinerNotify": ((int,), frozenset({0, 1})),
    "status": INT,
    "templates": OPT_STR,  # a JSON *string*
    "templateName": OPT_STR,
    "createTime": STR,
}
# yunyin-seal-api.txt: list answers put these beside `data`.
YUNYIN_PAGE: dict[str, Field] = {
    "code": ((str,), frozenset({"200"})),
    "msg": STR,
    "listPageNo": INT,
    "countInPage": INT,
    "listPageCount": INT,
    "totalCount": INT,
    "data": ((list,), None),
}


def conforms(record: dict[str, Any], table: dict[str, Field], where: str) -> None:
    undocumented = sorted(set(record) - set(table))
    assert undocumented == [], f"{where}: fields the vendor does not document: {undocumented}"
    for name, value in record.items():
        types, vocabulary = table[name]
        assert isinstance(value, types), f"{where}.{name}: {value!r} is not {types}"
        if vocabulary is not None:
            assert value in vocabulary, f"{where}.{name}: {value!r} is not in {vocabulary}"


@pytest.fixture
def client(sandbox_server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox_server.url) as client:
        yield client


def test_esign_v1_list_speaks_v1(client: httpx.Client) -> None:
    seen: set[object] = set()
    for org in (demo.ESIGN_ORG_A, demo.ESIGN_ORG_B):
        body = client.get(
            f"/esign/v1/organizations/{org}/seals",
            params={"offset": 1, "size": 100},
            auth=signed(),
        ).json()
        assert set(body) == {"code", "message", "data"}
        conforms(body["data"], V1_DATA, "v1.data")
        for row in body["data"]["seals"]:
            conforms(row, V1_SEAL, f"v1.seals[{row['sealId']}]")
            seen.add(row["sealBizType"])
    assert seen == {"COMMON", "CANCELLATION"}  # both documented values, nothing else


def test_esign_v3_detail_speaks_v3(client: httpx.Client) -> None:
    for seal in (s for s in demo.Sandbox().esign_seals if s.org_id == demo.ESIGN_ORG_A):
        body = client.get(
            "/esign/v3/seals/org-seal-info",
            params={"orgId": demo.ESIGN_ORG_A, "sealId": seal.seal_id},
            auth=signed(),
        ).json()
        assert set(body) == {"code", "message", "data"}
        conforms(body["data"], V3_DETAIL, f"v3[{seal.seal_id}]")


def test_esign_v3_list_shows_only_documented_fields(client: httpx.Client) -> None:
    body = client.get(
        "/esign/v3/seals/org-own-seal-list",
        params={"orgId": demo.ESIGN_ORG_A, "pageNum": 1, "pageSize": 20},
        auth=signed(),
    ).json()
    conforms(body["data"], {"total": INT, "seals": ((list,), None)}, "v3.list.data")
    assert len(body["data"]["seals"]) == body["data"]["total"] == 7
    for row in body["data"]["seals"]:
        conforms(row, V3_LISTED, f"v3.list[{row['sealId']}]")
    too_big = client.get(
        "/esign/v3/seals/org-own-seal-list",
        params={"orgId": demo.ESIGN_ORG_A, "pageNum": 1, "pageSize": 21},
        auth=signed(),
    ).json()
    assert too_big["code"] == 10000007  # pageSize at most 20


def test_esign_v3_create_by_template_takes_the_documented_options(client: httpx.Client) -> None:
    base = {"orgId": demo.ESIGN_ORG_A, "sealTemplateStyle": "COMMON_TWO_OVAL", "sealSize": "45_30"}
    options = {
        "sealColor": "PURPLE",
        "sealOpacity": "100",  # the page's example sends it as text
        "sealOldStyle": "OLD_12",
        "sealHorizontalText": "出口专用章",
        "sealBottomText": "9133000000000001",
        "sealOutsideSurroundText": "SAMPLE TECH CO., LTD.",
    }
    made = client.post(
        "/esign/v3/seals/org-seals/create-by-template",
        json={**base, "sealName": "出口章", **options},
        auth=signed(),
    ).json()
    assert made["code"] == 0
    conforms(made["data"], V3_CREATED, "create-by-template.data")
    for name, bad in (
        ("sealColor", "GREEN"),
        ("sealOpacity", 19),
        ("sealOldStyle", "OLD_13"),
        ("sealBottomText", "防伪码"),  # English letters and half-width symbols only
        ("sealOutsideSurroundText", "S" * 51),
        ("sealHorizontalText", "章" * 31),
        ("sealSize", "40_40"),  # not COMMON_TWO_OVAL's size
    ):
        refused = client.post(
            "/esign/v3/seals/org-seals/create-by-template",
            json={**base, "sealName": f"章-{name}", name: bad},
            auth=signed(),
        ).json()
        assert refused["code"] == 10000007, name


def test_esign_v3_image_upload_and_seal(client: httpx.Client) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(64)
    md5 = body_md5(data)
    step_one = client.post(
        "/esign/v3/files/file-key",
        json={
            "contentMd5": md5,
            "contentType": "application/octet-stream",
            "fileName": "这是个自定义图片印章.png",
            "fileSize": len(data),
        },
        auth=signed(),
    ).json()
    conforms(step_one["data"], V3_FILE_KEY, "file-key.data")
    put = client.put(
        step_one["data"]["fileUploadUrl"],
        content=data,
        headers={"Content-MD5": md5, "Content-Type": "application/octet-stream"},
    ).json()
    conforms(put, FILE_UPLOADED, "fileUploadUrl")
    made = client.post(
        "/esign/v3/seals/org-seals/create-by-image",
        json={
            "orgId": demo.ESIGN_ORG_A,
            "sealImageFileKey": step_one["data"]["fileKey"],
            "sealName": "这是一个自定义的印章名称",
            "sealWidth": "20",  # text in the page's example
            "sealHeight": "10",
            "sealBizType": "CONTRACT",
        },
        auth=signed(),
    ).json()
    conforms(made["data"], V3_CREATED, "create-by-image.data")
    for bad in ({"fileName": "a.gif"}, {"fileName": "a/b.png"}, {"fileSize": 3 * 1024 * 1024}):
        refused = client.post(
            "/esign/v3/files/file-key",
            json={
                "contentMd5": md5,
                "contentType": "application/octet-stream",
                "fileName": "a.png",
                "fileSize": len(data),
                **bad,
            },
            auth=signed(),
        ).json()
        assert refused["code"] == 10000007, bad


def test_esign_v3_enable_seal(client: httpx.Client) -> None:
    sandbox = demo.Sandbox()
    org = demo.ESIGN_ORG_A
    suspended = next(s for s in sandbox.esign_org_seals(org) if s.status == 4)
    rejected = next(s for s in sandbox.esign_org_seals(org) if s.status == 3)
    body = client.post(
        "/esign/v3/seals/org-seals/enable-seal",
        json={"orgId": org, "sealId": suspended.seal_id},
        auth=signed(),
    ).json()
    assert body == {"code": 0, "message": "成功", "data": None}  # seal3/eyggvgw6g59wlg4k
    refused = client.post(
        "/esign/v3/seals/org-seals/enable-seal",
        json={"orgId": org, "sealId": rejected.seal_id},
        auth=signed(),
    ).json()
    assert refused["code"] == 10000007
    unknown = client.post(
        "/esign/v3/seals/org-seals/enable-seal",
        json={"orgId": org, "sealId": "no-such-seal"},
        auth=signed(),
    ).json()
    assert unknown["code"] == 31400100


def test_esign_v3_delete_answers_deleted_or_revoked(client: httpx.Client) -> None:
    org = demo.ESIGN_ORG_A
    seals = [s for s in demo.Sandbox().esign_org_seals(org) if not s.default and s.status != 2]
    unused, used = next(s for s in seals if not s.used), next(s for s in seals if s.used)
    for seal, says in ((unused, "delete"), (used, "revoke")):
        body = client.delete(
            "/esign/v3/seals/org-seal", params={"orgId": org, "sealId": seal.seal_id}, auth=signed()
        ).json()
        assert body["code"] == 0
        conforms(body["data"], V3_DELETED, "v3.delete.data")
        assert body["data"]["sealStatus"] == says
    listed = client.get(
        "/esign/v3/seals/org-own-seal-list",
        params={"orgId": org, "pageNum": 1, "pageSize": 20, "revocationSeal": "true"},
        auth=signed(),
    ).json()["data"]["seals"]
    (revoked,) = [row for row in listed if row["sealId"] == used.seal_id]
    conforms(revoked, V3_LISTED, "v3.list[revoked]")
    assert (revoked["sealStatus"], revoked["statusDescription"]) == (6, "已吊销")
    assert unused.seal_id not in {row["sealId"] for row in listed}
    plain = client.get(
        "/esign/v3/seals/org-own-seal-list",
        params={"orgId": org, "pageNum": 1, "pageSize": 20},
        auth=signed(),
    ).json()["data"]["seals"]
    assert used.seal_id not in {row["sealId"] for row in plain}  # revoked: asked for only


def test_esign_v3_authorisations_show_only_documented_fields(client: httpx.Client) -> None:
    body = client.get(
        "/esign/v3/seals/org-seals/internal-auth",
        params={"orgId": demo.ESIGN_ORG_A, "pageNum": 1, "pageSize": 20},
        auth=signed(),
    ).json()
    conforms(body["data"], {"total": INT, "sealAuthorizedInfos": ((list,), None)}, "auth.data")
    assert body["data"]["total"] == len(body["data"]["sealAuthorizedInfos"]) == 2
    for row in body["data"]["sealAuthorizedInfos"]:
        conforms(row, V3_AUTH, f"internal-auth[{row['sealAuthBizId']}]")
        conforms(row["sealAuthScope"], V3_AUTH_SCOPE, "internal-auth.sealAuthScope")
        conforms(row["sealAuthScope"]["template"], V3_AUTH_TEMPLATE, "sealAuthScope.template")


def test_esign_v3_authorisation_lifecycle_speaks_v3(client: httpx.Client) -> None:
    org, seal = demo.ESIGN_ORG_A, ESIGN_SEAL
    grant = {
        "orgId": org,
        "sealId": seal,
        "authorizedPsnIds": [demo.ESIGN_MEMBER_3],
        "sealRole": "SEAL_USER",
        "transactorPsnId": demo.ESIGN_TRANSACTOR,
        "sealAuthScope": {"templateIds": ["ALL"]},
        "longTermEffective": True,
    }
    made = client.post("/esign/v3/seals/org-seals/internal-auth", json=grant, auth=signed())
    body = made.json()
    assert body["code"] == 0
    conforms(body["data"], V3_AUTHORIZED, "internal-auth.data")
    (info,) = body["data"]["sealAuthBizInfos"]
    conforms(info, V3_AUTH_BIZ_INFO, "internal-auth.sealAuthBizInfos")
    biz_id = info["sealAuthBizId"]
    assert body["data"]["sealAuthBizIds"] == [biz_id]
    (row,) = [
        r
        for r in client.get(
            "/esign/v3/seals/org-seals/internal-auth",
            params={"orgId": org, "sealId": seal, "pageNum": 1, "pageSize": 20},
            auth=signed(),
        ).json()["data"]["sealAuthorizedInfos"]
        if r["sealAuthBizId"] == biz_id
    ]
    # saved, its letter unsigned: the page's own example shows status 0 with NOT_SIGN
    assert (row["authorizeStatus"], row["expireReason"]) == (0, "NOT_SIGN")
    link = client.get(
        "/esign/v3/seals/org-seals/authorization-sign-url",
        params={"orgId": org, "sealAuthBizId": biz_id},
        auth=signed(),
    ).json()
    conforms(link["data"], V3_SIGN_URL, "authorization-sign-url.data")
    renewed = client.post(
        "/esign/v3/seals/org-seals/reauthorization",
        json={
            "orgId": org,
            "transactorPsnId": demo.ESIGN_TRANSACTOR,
            "sealAuthBizId": biz_id,
            "effectiveTime": 1_900_000_000_000,
            "expireTime": 1_930_000_000_000,
        },
        auth=signed(),
    ).json()
    conforms(renewed["data"], V3_REAUTHORIZED, "reauthorization.data")
    deleted = client.post(
        "/esign/v3/seals/org-seals/auth-delete",
        json={
            "orgId": org,
            "deleteType": "sealAuthBizIds",
            "sealAuthBizIds": [renewed["data"]["newSealAuthBizId"]],
        },
        auth=signed(),
    ).json()
    assert deleted == {"code": 0, "message": "成功", "data": None}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"authorizedPsnIds": ["not-a-member"]}, "members only"),
        ({"authorizedPsnIds": [f"m{n}" for n in range(11)]}, "at most 10"),
        ({"authorizedPsnIds": ["ALL"], "sealRole": "SEAL_EXAMINER"}, "ALL: users only"),
        ({"sealAuthScope": {}}, "templateIds or applicationsIds"),
        ({"sealAuthScope": {"templateIds": ["ALL"], "applicationsIds": ["1"]}}, "not both"),
        ({"effectiveTime": 1_900_000_000_000}, "long-term takes no times"),
        (
            {"longTermEffective": False, "effectiveTime": 1, "expireTime": 200_000_000_000},
            "at most 3 years",
        ),
        ({"transactorPsnId": "stranger"}, "the transactor is a member"),
    ],
)
def test_esign_v3_internal_auth_refusals(
    client: httpx.Client, change: dict[str, Any], why: str
) -> None:
    grant = {
        "orgId": demo.ESIGN_ORG_A,
        "sealId": ESIGN_SEAL,
        "authorizedPsnIds": [demo.ESIGN_MEMBER_3],
        "sealRole": "SEAL_USER",
        "transactorPsnId": demo.ESIGN_TRANSACTOR,
        "sealAuthScope": {"templateIds": ["ALL"]},
        "longTermEffective": True,
        **change,
    }
    body = client.post("/esign/v3/seals/org-seals/internal-auth", json=grant, auth=signed()).json()
    assert body["code"] == 10000007, why


def test_yunyin_records_speak_yunyin(client: httpx.Client) -> None:
    token = client.post(
        "/yunyin/service/getAccessToken",
        json={"appId": demo.YUNYIN_APP_ID, "appSecret": demo.YUNYIN_APP_SECRET},
    ).json()["data"]["accessToken"]
    headers = {
        "appId": demo.YUNYIN_APP_ID,
        "accessToken": token,
        "userId": str(demo.YUNYIN_ADMIN),
        "source": "API",
    }
    page = client.post(
        "/yunyin/seal/getSealListByPage", json={"listPageSize": 100}, headers=headers
    ).json()
    conforms(page, YUNYIN_PAGE, "getSealListByPage")
    for row in page["data"]:
        conforms(row, YUNYIN_SEAL, f"getSealListByPage[{row['sealId']}]")
        detail = client.post(
            "/yunyin/seal/getSealInfo", json={"sealId": row["sealId"]}, headers=headers
        ).json()
        assert set(detail) == {"code", "msg", "data"}
        conforms(detail["data"], YUNYIN_SEAL, f"getSealInfo[{row['sealId']}]")
        authors = client.post(
            "/yunyin/seal/getSealAuthorList", json={"sealId": row["sealId"]}, headers=headers
        ).json()
        conforms(authors, YUNYIN_PAGE, "getSealAuthorList")
        for author in authors["data"]:
            conforms(author, YUNYIN_AUTHOR, f"getSealAuthorList[{author['id']}]")
