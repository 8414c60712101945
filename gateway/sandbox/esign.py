"""Emulated e签宝: the OAuth token, the v1 seal list and the v3 seal detail over one store, with
the vendor's gateway checks (signature, timestamp, Content-MD5, token) and its error shapes."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.sandbox import esign_signature as sig
from gateway.sandbox import notify
from gateway.sandbox.endpoint import files_root, instrument, vendor_path
from gateway.sandbox.state import (
    ESIGN_REVOKED,
    EsignAuth,
    EsignFile,
    EsignOrg,
    EsignSeal,
    Sandbox,
)

URL_VALID_S = 3600

BIZ_TYPE_LABELS = {
    "PUBLIC": "公章",
    "CONTRACT": "合同专用章",
    "FINANCE": "财务专用章",
    "PERSONNEL": "人事专用章",
    "LEGAL_PERSON": "法定代表人章",
    "COMMON": "其他",
}
STATUS_LABELS = {1: "已启用", 2: "待审核", 3: "审核不通过", 4: "挂起", 6: "已吊销"}


def ok(data: Any) -> JSONResponse:
    return JSONResponse({"code": 0, "message": "成功", "data": data})


def failure(code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "data": None})


def gateway_refusal(message: str, status: int = 401) -> JSONResponse:
    """The shape e签宝's API gateway answers with before any business logic runs."""
    return JSONResponse({"success": False, "code": status, "message": message}, status_code=status)


def check_caller(sandbox: Sandbox, request: Request, body: bytes) -> Response | None:
    """None when the request is properly signed or carries a valid token; else the refusal."""
    headers = request.headers
    app_id = headers.get(sig.HEADER_APP_ID)
    if not app_id:
        return gateway_refusal("缺少参数")
    secret = sandbox.esign_apps.get(app_id)
    if secret is None:
        return gateway_refusal("无效的应用")
    if headers.get(sig.HEADER_AUTH_MODE, "").lower() == "signature":
        return _check_signature(sandbox, request, body, secret)
    token = headers.get(sig.HEADER_TOKEN)
    if not token:
        return gateway_refusal("TOKEN_CANT_BE_NULL")
    if not sandbox.token_valid("esign", token):
        return gateway_refusal("TOKEN错误")
    return None


def _check_signature(
    sandbox: Sandbox, request: Request, body: bytes, secret: str
) -> Response | None:
    headers = request.headers
    try:
        stamp_ms = int(headers.get(sig.HEADER_TIMESTAMP, ""))
    except ValueError:
        return gateway_refusal("INVALID_TIMESTAMP")
    if abs(time.time() - stamp_ms / 1000) > sandbox.config.timestamp_window_s:
        return gateway_refusal("INVALID_TIMESTAMP")
    md5 = headers.get("Content-MD5", "")
    if body and md5 != sig.body_md5(body):
        return gateway_refusal("INVALID_SIGNATURE")
    try:
        resource = sig.canonical_resource(
            vendor_path(request), request.scope["query_string"].decode("latin-1")
        )
    except sig.MalformedQuery:
        return gateway_refusal("缺少参数")
    if not sig.signature_matches(
        secret,
        headers.get(sig.HEADER_SIGNATURE, ""),
        method=request.method,
        accept=headers.get("Accept", ""),
        content_md5=md5,
        content_type=headers.get("Content-Type", ""),
        date=headers.get("Date", ""),
        resource=resource,
    ):
        return gateway_refusal("INVALID_SIGNATURE")
    return None


def image_url(request: Request, seal: EsignSeal, *, watermark: bool) -> str:
    expires = int(time.time()) + URL_VALID_S
    mark = "&watermark=1" if watermark else ""
    return (
        f"{files_root(request)}/files/esign/{seal.seal_id}.png?Expires={expires}"
        f"&OSSAccessKeyId=SANDBOX{mark}&Signature={secrets.token_urlsafe(12)}"
    )


def v1_row(request: Request, seal: EsignSeal) -> dict[str, Any]:
    return {
        "sealId": seal.seal_id,
        "fileKey": f"${seal.seal_id}${seal.created_ms}",
        "width": seal.width_px,
        "height": seal.height_px,
        "alias": seal.name if seal.alias_in_v1 else None,
        "sealType": 3 if seal.style == 3 else 1,
        "defaultFlag": seal.default,
        "url": image_url(request, seal, watermark=False),
        "status": seal.status,
        "reason": seal.reject_reason or None,
        "createDate": seal.created_ms,
        # v1's own vocabulary (seed page): CANCELLATION (作废章) or COMMON (其它), never v3's
        "sealBizType": "CANCELLATION" if seal.cancellation else "COMMON",
        "sealUserFlag": False,
    }


def v3_detail(request: Request, seal: EsignSeal) -> dict[str, Any]:
    return {
        "sealId": seal.seal_id,
        "sealName": seal.name,
        "sealCreateTime": seal.created_ms,
        "defaultSealFlag": seal.default,
        "sealWidth": seal.width_mm,
        "sealHeight": seal.height_mm,
        "sealBizType": seal.biz_type,
        "sealBizTypeDescription": BIZ_TYPE_LABELS[seal.biz_type],
        "sealStyle": seal.style,
        "sealStatus": seal.status,
        "statusDescription": STATUS_LABELS[seal.status],
        "rejectReason": seal.reject_reason,
        "sealImageDownloadUrl": image_url(request, seal, watermark=True),
    }


# v3 create-by-template: the template styles and the sizes each allows, and its optional
# fields' values (open.esign.cn/doc/opendoc/seal3/igfmd2).
TEMPLATE_SIZES: dict[str, tuple[str, ...]] = {
    "PUBLIC_ROUND_STAR": ("42_42", "40_40"),
    "PUBLIC_OVAL": ("45_30",),
    "PUBLIC_TWO_OVAL": ("45_30",),
    "CONTRACT_ROUND_NO_STAR": ("38_38",),
    "CONTRACT_ROUND_STAR": ("38_38",),
    "PERSONNEL_ROUND_NO_STAR": ("38_38",),
    "PERSONNEL_ROUND_STAR": ("38_38",),
    "FINANCE_ROUND_NO_STAR": ("38_38",),
    "FINANCE_ROUND_STAR": ("38_38",),
    "FINANCE_SQUARE_HORIZONTAL": ("22_22",),
    "FINANCE_SQUARE_VERTICAL": ("22_22",),
    "COMMON_ROUND_STAR": ("42_42", "40_40"),
    "COMMON_OVAL": ("45_30",),
    "COMMON_TWO_OVAL": ("45_30",),
}
SEAL_COLORS = frozenset({"RED", "BLUE", "BLACK", "PURPLE"})
OLD_STYLES = frozenset({"NONE", "OLD", *(f"OLD_{n}" for n in range(1, 13))})


def _half_width(value: object, limit: int) -> bool:
    """English letters and half-width symbols only, up to `limit` characters."""
    return isinstance(value, str) and len(value) <= limit and all(" " <= c <= "~" for c in value)


def template_option_refusal(fields: dict[str, Any]) -> str | None:
    """The parameter error of an optional create-by-template field the page's rules refuse."""
    if fields.get("sealColor", "RED") not in SEAL_COLORS:
        return "sealColor"
    opacity = fields.get("sealOpacity", 80)
    # int32 on the page, a string in its example: either is taken
    if isinstance(opacity, bool) or not str(opacity).isdigit() or not 20 <= int(opacity) <= 100:
        return "sealOpacity"
    if fields.get("sealOldStyle", "NONE") not in OLD_STYLES:
        return "sealOldStyle"
    horizontal = fields.get("sealHorizontalText", "")
    if not isinstance(horizontal, str) or len(horizontal) > 30:
        return "sealHorizontalText"
    if not _half_width(fields.get("sealBottomText", ""), 30):
        return "sealBottomText"
    if not _half_width(fields.get("sealOutsideSurroundText", ""), 50):
        return "sealOutsideSurroundText"
    return None


# v3 file-key (seal3/gd1tsb) and create-by-image (seal3/lggz9w).
OCTET_STREAM = "application/octet-stream"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
FORBIDDEN_IN_NAME = frozenset('/\\:*"<>|?？')
MAX_IMAGE_BYTES = 2 * 1024 * 1024  # 2M
UPLOAD_URL_VALID_S = 3600
IMAGE_BIZ_TYPES = frozenset({"PUBLIC", "CONTRACT", "PERSONNEL", "FINANCE", "COMMON"})
AUTH_STATUS_LABELS = {0: "失效", 1: "正常", 3: "待生效"}
# expireReason and its description (seal3/totfte). A new authorisation is saved with its letter
# unsigned (NOT_SIGN, authorizeStatus 0, as the page's example shows); signing the letter puts
# it in force, or awaiting its effectiveTime (3, WAIT_EFFECTIVE).
EXPIRE_REASON_LABELS = {
    "NOT_EXPIRE": "未失效",
    "NOT_SIGN": "保存授权成功，但未进行签署授权",
    "WAIT_EFFECTIVE": "还未到开始日期",
    "EXPIRED": "超过有效期",
}
AUTH_ROLES = frozenset({"SEAL_USER", "SEAL_EXAMINER"})
MAX_AUTH_MEMBERS = 10
MAX_AUTH_TEMPLATES = 10
MAX_AUTH_DELETE = 20
MAX_AUTH_MS = 3 * 366 * 24 * 3600 * 1000  # at most 3 years
MAX_V3_PAGE = 20


def v3_paging(request: Request) -> tuple[int, int] | Response:
    """`pageNum` and `pageSize` of a v3 list (at most 20 a page), or the vendor's refusal."""
    number, size = _int_param(request, "pageNum", 1), _int_param(request, "pageSize", 20)
    if number is None or size is None or number < 1 or not 1 <= size <= MAX_V3_PAGE:
        return failure(10000007, "参数错误: pageNum或pageSize不合法")
    return number, size


def _int_param(request: Request, name: str, default: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        return None


def auth_period(fields: dict[str, Any]) -> tuple[bool, int | None, int | None] | str:
    """`longTermEffective`, `effectiveTime`, `expireTime` as internal-auth and reauthorization
    take them, or the parameter error's text."""
    long_term = fields.get("longTermEffective", False)
    effective, expire = fields.get("effectiveTime"), fields.get("expireTime")
    if long_term is True:
        if effective is not None or expire is not None:
            return "设置为长期有效无需传入生效和失效时间"
        return True, None, None
    try:
        start, end = int(str(effective)), int(str(expire))
    except ValueError:
        return "effectiveTime和expireTime必传"
    if not start < end <= start + MAX_AUTH_MS:
        return "授权有效期最长不可超过3年"
    return False, start, end


def letter_links(request: Request, flow: str) -> dict[str, str]:
    page = f"{files_root(request)}/files/esign/auth-letter?flow={flow}"
    return {"authorizationSignShortUrl": f"{page}&short=1", "authorizationSignUrl": page}


def routes(sandbox: Sandbox) -> list[Route]:
    async def access_token(request: Request, body: bytes) -> Response:
        params = request.query_params
        if params.get("grantType") != "client_credentials":
            return failure(10000007, "参数错误: grantType")
        if sandbox.esign_apps.get(params.get("appId", "")) != params.get("secret"):
            return failure(10000007, "参数错误: appId或secret错误")
        token, expires_at = sandbox.issue_token("esign")
        return ok(
            {
                "token": token,
                # The vendor gives this as a string at times, a number at others.
                "expiresIn": str(int(expires_at * 1000)),
                "refreshToken": secrets.token_urlsafe(16),
            }
        )

    async def list_seals(request: Request, body: bytes) -> Response:
        refusal = check_caller(sandbox, request, body)
        if refusal is not None:
            return refusal
        org_id = request.path_params["org_id"]
        if org_id not in sandbox.esign_orgs:
            return failure(10000007, "参数错误: 机构账号不存在")
        base = sandbox.config.esign_offset_base
        offset = _int_param(request, "offset", base)
        size = _int_param(request, "size", 10)
        if offset is None or size is None or offset < base or not 1 <= size <= 100:
            return failure(10000007, "参数错误: offset或size不合法")
        seals = sandbox.esign_org_seals(org_id)
        start = offset - base
        page = seals[start : start + size]
        return ok({"total": len(seals), "seals": [v1_row(request, s) for s in page]})

    async def seal_info(request: Request, body: bytes) -> Response:
        refusal = check_caller(sandbox, request, body)
        if refusal is not None:
            return refusal
        org_id = request.query_params.get("orgId")
        seal_id = request.query_params.get("sealId")
        if not org_id or not seal_id:
            return failure(10000007, "参数错误: 缺少orgId或sealId")
        org = sandbox.esign_orgs.get(org_id)
        if org is None:
            return failure(10000007, "参数错误: 机构账号不存在")
        if not org.granted:
            return failure(1499000, "机构未授予应用 manage_org_seal 权限")
        seal = live_seal(seal_id)
        if seal is None:
            return failure(31400100, "印章不存在")
        if seal.org_id != org_id:
            return failure(31400109, "印章不属于该账号")
        return ok(v3_detail(request, seal))

    def v3_org(request: Request, body: bytes, org_id: str | None) -> EsignOrg | Response:
        """The organisation a v3 call names, after the checks every v3 seal call makes."""
        refusal = check_caller(sandbox, request, body)
        if refusal is not None:
            return refusal
        org = sandbox.esign_orgs.get(org_id or "")
        if org is None:
            return failure(10000007, "参数错误: 机构账号不存在")
        if not org.granted:
            return failure(1499000, "机构未授予应用 manage_org_seal 权限")
        return org

    def live_seal(seal_id: str | None) -> EsignSeal | None:
        """A seal by id. A revoked one is shown by the list that asks for it alone: the detail
        page documents statuses 1 to 4 only, so the calls on one seal answer it not found."""
        return next(
            (s for s in sandbox.esign_seals if s.seal_id == seal_id and s.status != ESIGN_REVOKED),
            None,
        )

    def own_seal(org: EsignOrg, seal_id: str | None) -> EsignSeal | Response:
        seal = live_seal(seal_id)
        if seal is None:
            return failure(31400100, f"印章不存在, 印章id=[{seal_id}]")
        if seal.org_id != org.org_id:
            return failure(31400109, "印章不属于该账号")
        return seal

    def json_body(body: bytes) -> dict[str, Any]:
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    async def create_by_template(request: Request, body: bytes) -> Response:
        fields = json_body(body)
        org = v3_org(request, body, fields.get("orgId"))
        if isinstance(org, Response):
            return org
        name, style, size = (
            fields.get("sealName"),
            fields.get("sealTemplateStyle"),
            fields.get("sealSize"),
        )
        if not isinstance(name, str) or not name.strip():
            return failure(10000007, "参数错误: sealName")
        if style not in TEMPLATE_SIZES:
            return failure(10000007, f"参数错误: sealTemplateStyle {style}")
        if size not in TEMPLATE_SIZES[str(style)]:
            return failure(10000007, f"参数错误: sealSize {size}")
        width, _, height = str(size).partition("_")
        refused = template_option_refusal(fields)
        if refused is not None:
            return failure(10000007, f"参数错误: {refused}")
        if any(s.name == name for s in sandbox.esign_org_seals(org.org_id)):
            return failure(31400133, "印章名称已存在")
        biz = str(style).split("_", 1)[0]
        seal = EsignSeal(
            str(uuid.uuid4()),
            org.org_id,
            name,
            "COMMON" if biz == "COMMON" else biz,
            1,
            1,
            int(time.time() * 1000),
            width_mm=int(width),
            height_mm=int(height),
        )
        sandbox.esign_seals.append(seal)
        sandbox.notifier.push("SEAL_CREATE", notify.seal_created(seal))
        return ok({"sealId": seal.seal_id})

    async def file_key(request: Request, body: bytes) -> Response:
        """v3 file-key, step one of an image upload: the image's key and a pre-signed address
        (valid 60 minutes) to PUT its bytes to with the same Content-MD5."""
        refusal = check_caller(sandbox, request, body)
        if refusal is not None:
            return refusal
        fields = json_body(body)
        name, size, md5 = fields.get("fileName"), fields.get("fileSize"), fields.get("contentMd5")
        if not isinstance(md5, str) or not md5:
            return failure(10000007, "参数错误: contentMd5")
        if fields.get("contentType") != OCTET_STREAM:
            return failure(10000007, "参数错误: contentType")
        if (
            not isinstance(name, str)
            or not name.lower().endswith(IMAGE_EXTENSIONS)
            or any(ch in FORBIDDEN_IN_NAME for ch in name)
        ):
            return failure(10000007, "参数错误: fileName")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_IMAGE_BYTES:
            return failure(10000007, "参数错误: fileSize")
        token = secrets.token_hex(12)
        expires = int(time.time()) + UPLOAD_URL_VALID_S
        key = f"${uuid.uuid4()}${secrets.randbelow(10**10)}"
        sandbox.esign_files[token] = EsignFile(key, name, size, md5, expires)
        url = (
            f"{files_root(request)}/files/esign/oss/{token}?Expires={expires}"
            f"&OSSAccessKeyId=SANDBOX&Signature={secrets.token_urlsafe(12)}"
        )
        return ok({"fileKey": key, "fileUploadUrl": url})

    async def create_by_image(request: Request, body: bytes) -> Response:
        """v3 create-by-image: a seal from an uploaded fileKey, awaiting review (2)."""
        fields = json_body(body)
        org = v3_org(request, body, fields.get("orgId"))
        if isinstance(org, Response):
            return org
        key, name = fields.get("sealImageFileKey"), fields.get("sealName")
        upload = next((f for f in sandbox.esign_files.values() if f.file_key == key), None)
        if upload is None or upload.data is None:
            return failure(10000007, "参数错误: sealImageFileKey")
        if not isinstance(name, str) or not name.strip():
            return failure(10000007, "参数错误: sealName")
        sizes = [str(fields.get(f, "")) for f in ("sealWidth", "sealHeight")]
        if not all(v.isdigit() and 1 <= int(v) <= 100 for v in sizes):
            return failure(10000007, "参数错误: sealWidth或sealHeight")
        if fields.get("sealColor", "RED") not in SEAL_COLORS:
            return failure(10000007, "参数错误: sealColor")
        biz = fields.get("sealBizType", "COMMON")
        if biz not in IMAGE_BIZ_TYPES:
            return failure(10000007, "参数错误: sealBizType")
        if any(s.name == name for s in sandbox.esign_org_seals(org.org_id)):
            return failure(31400133, "印章名称已存在")
        seal = EsignSeal(
            str(uuid.uuid4()),
            org.org_id,
            name,
            str(biz),
            2,
            3,
            int(time.time() * 1000),
            width_mm=int(sizes[0]),
            height_mm=int(sizes[1]),
        )
        sandbox.esign_seals.append(seal)
        # created, awaiting review: SEAL_AUDIT follows the review (`/_sandbox` knob)
        sandbox.notifier.push("SEAL_CREATE", notify.seal_created(seal))
        return ok({"sealId": seal.seal_id})

    async def delete_org_seal(request: Request, body: bytes) -> Response:
        org = v3_org(request, body, request.query_params.get("orgId"))
        if isinstance(org, Response):
            return org
        seal = own_seal(org, request.query_params.get("sealId"))
        if isinstance(seal, Response):
            return seal
        # Documented rules (seal3/qdfvs6); the page publishes no code for them: the generic
        # parameter error stands in.
        if seal.default:
            return failure(10000007, "参数错误: 企业默认印章不可被删除")
        if seal.style == 3 and seal.status == 2:
            return failure(10000007, "参数错误: 审核中的图片印章不可被删除")
        # Its authorisations go with it (seal3/qdfvs6); a seal used before is revoked, its
        # usage records kept, and listed only with `revocationSeal` (seal3/ups6h1).
        # (whether the vendor then also sends SEAL_AUTH_CALCEL for them no page says: the
        # sandbox sends SEAL_DELETE alone)
        sandbox.esign_auths = [a for a in sandbox.esign_auths if a.seal_id != seal.seal_id]
        outcome = "revoke" if seal.used else "delete"
        if seal.used:
            seal.status, seal.default = ESIGN_REVOKED, False
        else:
            sandbox.esign_seals.remove(seal)
        sandbox.notifier.push("SEAL_DELETE", notify.seal_deleted(seal, outcome))
        return ok({"sealStatus": outcome})

    async def enable_seal(request: Request, body: bytes) -> Response:
        """v3 enable-seal (seal3/eyggvgw6g59wlg4k): a disabled seal (4) is enabled again. The
        page publishes no refusal code: a seal review has not passed gets the parameter error."""
        fields = json_body(body)
        org = v3_org(request, body, fields.get("orgId"))
        if isinstance(org, Response):
            return org
        seal = own_seal(org, fields.get("sealId"))
        if isinstance(seal, Response):
            return seal
        if seal.status in (2, 3):
            return failure(10000007, "参数错误: 印章未通过审核, 不可启用")
        seal.status = 1
        return ok(None)

    async def set_default(request: Request, body: bytes) -> Response:
        refusal = check_caller(sandbox, request, body)
        if refusal is not None:
            return refusal
        org = sandbox.esign_orgs.get(request.path_params["org_id"])
        if org is None:
            return failure(10000007, "参数错误: 机构账号不存在")
        seal = own_seal(org, request.path_params["seal_id"])
        if isinstance(seal, Response):
            return seal
        for other in sandbox.esign_org_seals(org.org_id):
            other.default = other is seal
        return ok(None)

    async def manage_url(request: Request, body: bytes) -> Response:
        fields = json_body(body)
        org = v3_org(request, body, fields.get("orgId"))
        if isinstance(org, Response):
            return org
        if fields.get("transactorPsnId") not in org.seal_managers:
            return failure(10000007, "参数错误: 经办人不是该机构有印章管理权限的成员")
        session = secrets.token_urlsafe(16)
        sandbox.management_sessions.add(session)
        url = f"{files_root(request)}/files/esign/manage?org={org.org_id}&session={session}"
        return ok({"orgSealManageUrl": url})

    async def own_seal_list(request: Request, body: bytes) -> Response:
        """v3 own-seal list: the fields its page shows (seal3/ups6h1), at most 20 a page;
        revoked seals only with `revocationSeal=true`."""
        params = request.query_params
        org = v3_org(request, body, params.get("orgId"))
        if isinstance(org, Response):
            return org
        paging = v3_paging(request)
        if isinstance(paging, Response):
            return paging
        number, size = paging
        wanted = {t for t in (params.get("sealBizTypes") or "").split(",") if t}
        revoked = params.get("revocationSeal", "false")
        if revoked not in ("true", "false"):
            return failure(10000007, "参数错误: revocationSeal")
        seals = [
            s
            for s in sandbox.esign_org_seals(org.org_id, revoked=revoked == "true")
            if not wanted or s.biz_type in wanted
        ]
        chunk = seals[(number - 1) * size : number * size]
        return ok(
            {
                "total": len(seals),
                "seals": [
                    {
                        "sealId": s.seal_id,
                        "sealName": s.name,
                        "sealCreateTime": s.created_ms,
                        "defaultSealFlag": s.default,
                        "sealHeight": s.height_mm,
                        "sealWidth": s.width_mm,
                        "sealBizType": s.biz_type,
                        "sealBizTypeDescription": BIZ_TYPE_LABELS[s.biz_type],
                        "sealStyle": s.style,
                        "sealStatus": s.status,
                        "statusDescription": STATUS_LABELS[s.status],
                        "rejectReason": s.reject_reason,
                        "sealImageDownloadUrl": image_url(request, s, watermark=True),
                    }
                    for s in chunk
                ],
            }
        )

    async def internal_auth_list(request: Request, body: bytes) -> Response:
        params = request.query_params
        org = v3_org(request, body, params.get("orgId"))
        if isinstance(org, Response):
            return org
        paging = v3_paging(request)
        if isinstance(paging, Response):
            return paging
        number, size = paging
        own = {s.seal_id for s in sandbox.esign_org_seals(org.org_id)}
        found = [
            a
            for a in sandbox.esign_auths
            if a.seal_id in own and params.get("sealId") in (None, a.seal_id)
        ]
        chunk = found[(number - 1) * size : number * size]
        return ok(
            {
                "total": len(found),
                # the fields the vendor's page shows (seal3/totfte)
                "sealAuthorizedInfos": [
                    {
                        "sealId": a.seal_id,
                        "sealAuthBizId": a.biz_id,
                        "authorizerPsnId": a.authorizer,
                        "authorizedPsnId": a.authorized,
                        "sealRole": a.role,
                        "authorizeStatus": a.status,
                        "statusDescription": AUTH_STATUS_LABELS[a.status],
                        "expireReason": a.reason,
                        "expireReasonDescription": EXPIRE_REASON_LABELS[a.reason],
                        "longTermEffective": a.long_term,
                        "effectiveTime": a.effective_ms,
                        "expireTime": a.expire_ms,
                        "signFlowId": a.sign_flow,
                        "sealAuthScope": {
                            "template": {"templateId": a.template_id, "applicationsIds": a.app_ids},
                            "autoSign": False,
                        },
                    }
                    for a in chunk
                ],
            }
        )

    def org_auth(org: EsignOrg, biz_id: object) -> EsignAuth | None:
        own = {s.seal_id for s in sandbox.esign_org_seals(org.org_id)}
        return next(
            (a for a in sandbox.esign_auths if a.biz_id == biz_id and a.seal_id in own), None
        )

    async def internal_auth(request: Request, body: bytes) -> Response:
        """v3 internal-auth (seal3/fu6ov5): each member (and template) gets a record, saved
        with its letter unsigned; the answer gives their ids and the letter's links."""
        fields = json_body(body)
        org = v3_org(request, body, fields.get("orgId"))
        if isinstance(org, Response):
            return org
        seal = own_seal(org, fields.get("sealId"))
        if isinstance(seal, Response):
            return seal
        members, role = fields.get("authorizedPsnIds"), fields.get("sealRole")
        transactor = fields.get("transactorPsnId")
        scope = fields.get("sealAuthScope")
        if not isinstance(members, list) or not 1 <= len(members) <= MAX_AUTH_MEMBERS:
            return failure(10000007, "参数错误: authorizedPsnIds")
        everyone = members == ["ALL"]
        if not everyone and not all(m in org.members for m in members):
            return failure(10000007, "参数错误: 被授权人不是企业成员")
        if role not in AUTH_ROLES or (everyone and role != "SEAL_USER"):
            return failure(10000007, "参数错误: sealRole")
        if transactor not in org.members:
            return failure(10000007, "参数错误: 授权操作人不是企业成员")
        if not isinstance(scope, dict):
            return failure(10000007, "参数错误: sealAuthScope")
        templates, apps = scope.get("templateIds"), scope.get("applicationsIds")
        if bool(templates) == bool(apps):  # exactly one of the two
            return failure(10000007, "参数错误: templateIds和applicationsIds必须二选一")
        if templates and (
            not isinstance(templates, list)
            or len(templates) > MAX_AUTH_TEMPLATES
            or (everyone and "ALL" in templates)
        ):
            return failure(10000007, "参数错误: templateIds")
        period = auth_period(fields)
        if isinstance(period, str):
            return failure(10000007, f"参数错误: {period}")
        long_term, start, end = period
        flow = secrets.token_hex(12)
        made = [
            EsignAuth(
                uuid.uuid4().hex,
                seal.seal_id,
                str(transactor),
                str(member),
                str(role),
                0,
                start,
                end,
                reason="NOT_SIGN",
                long_term=long_term,
                template_id=None if apps else str(template),
                app_ids=",".join(map(str, apps)) if apps else None,
                sign_flow=flow,
            )
            for member in members
            for template in (templates or [None])
        ]
        sandbox.esign_auths.extend(made)
        sandbox.auth_letters[flow] = False
        return ok(
            {
                "sealAuthBizIds": [a.biz_id for a in made],
                "sealAuthBizInfos": [
                    {"authorizedPsnId": a.authorized, "sealAuthBizId": a.biz_id} for a in made
                ],
                **letter_links(request, flow),
                "sealAuthorizeType": 1 if transactor in org.seal_managers else 2,
            }
        )

    async def sign_url(request: Request, body: bytes) -> Response:
        """v3 authorization-sign-url (seal3/dszm8d): the letter's links, again."""
        org = v3_org(request, body, request.query_params.get("orgId"))
        if isinstance(org, Response):
            return org
        found = org_auth(org, request.query_params.get("sealAuthBizId"))
        if found is None:
            return failure(10000007, "参数错误: 授权业务流程编号不存在")
        return ok(letter_links(request, found.sign_flow))

    async def reauthorization(request: Request, body: bytes) -> Response:
        """v3 reauthorization (seal3/giha96): a new period under a new id, with a new letter to
        sign; the old id and its letter no longer stand."""
        fields = json_body(body)
        org = v3_org(request, body, fields.get("orgId"))
        if isinstance(org, Response):
            return org
        if fields.get("transactorPsnId") not in org.members:
            return failure(10000007, "参数错误: 授权操作人不是企业成员")
        found = org_auth(org, fields.get("sealAuthBizId"))
        if found is None:
            return failure(10000007, "参数错误: 授权业务流程编号不存在")
        period = auth_period(fields)
        if isinstance(period, str):
            return failure(10000007, f"参数错误: {period}")
        long_term, start, end = period
        flow = secrets.token_hex(12)
        renewed = dataclasses.replace(
            found,
            biz_id=uuid.uuid4().hex,
            status=0,
            reason="NOT_SIGN",
            long_term=long_term,
            effective_ms=start,
            expire_ms=end,
            sign_flow=flow,
        )
        sandbox.esign_auths[sandbox.esign_auths.index(found)] = renewed
        sandbox.auth_letters[flow] = False
        return ok({"newSealAuthBizId": renewed.biz_id, **letter_links(request, flow)})

    async def auth_delete(request: Request, body: bytes) -> Response:
        """v3 auth-delete (seal3/sgx0am): by seal ids or by authorisation ids, 20 at most."""
        fields = json_body(body)
        org = v3_org(request, body, fields.get("orgId"))
        if isinstance(org, Response):
            return org
        kind = fields.get("deleteType")
        if kind not in ("sealIds", "sealAuthBizIds"):
            return failure(10000007, "参数错误: deleteType")
        wanted = fields.get(kind)
        if not isinstance(wanted, list) or not 1 <= len(wanted) <= MAX_AUTH_DELETE:
            return failure(10000007, f"参数错误: {kind}")
        own = {s.seal_id for s in sandbox.esign_org_seals(org.org_id)}
        removed = [
            a
            for a in sandbox.esign_auths
            if a.seal_id in own and (a.seal_id if kind == "sealIds" else a.biz_id) in wanted
        ]
        sandbox.esign_auths = [a for a in sandbox.esign_auths if all(a is not r for r in removed)]
        # each one revoked: SEAL_AUTH_CALCEL (seal3/sgx0am), authStatus 2 (deleted)
        for auth in removed:
            sandbox.notifier.push("SEAL_AUTH_CALCEL", notify.authorization(auth, org.org_id, 2))
        return ok(None)

    return [
        Route("/v1/oauth2/access_token", instrument(sandbox, "esign", "token", access_token)),
        Route(
            "/v1/organizations/{org_id}/seals",
            instrument(sandbox, "esign", "v1.list", list_seals),
        ),
        Route("/v3/seals/org-seal-info", instrument(sandbox, "esign", "v3.detail", seal_info)),
        Route(
            "/v3/seals/org-seals/create-by-template",
            instrument(sandbox, "esign", "v3.createByTemplate", create_by_template),
            methods=["POST"],
        ),
        Route(
            "/v3/files/file-key",
            instrument(sandbox, "esign", "v3.fileKey", file_key),
            methods=["POST"],
        ),
        Route(
            "/v3/seals/org-seals/create-by-image",
            instrument(sandbox, "esign", "v3.createByImage", create_by_image),
            methods=["POST"],
        ),
        Route(
            "/v3/seals/org-seal",
            instrument(sandbox, "esign", "v3.delete", delete_org_seal),
            methods=["DELETE"],
        ),
        Route(
            "/v3/seals/org-seals/enable-seal",
            instrument(sandbox, "esign", "v3.enableSeal", enable_seal),
            methods=["POST"],
        ),
        Route(
            "/v1/organizations/{org_id}/seals/{seal_id}/setDefault",
            instrument(sandbox, "esign", "v1.setDefault", set_default),
            methods=["PUT"],
        ),
        Route(
            "/v3/seals/org-seals-manage-url",
            instrument(sandbox, "esign", "v3.manageUrl", manage_url),
            methods=["POST"],
        ),
        Route(
            "/v3/seals/org-own-seal-list",
            instrument(sandbox, "esign", "v3.list", own_seal_list),
        ),
        Route(
            "/v3/seals/org-seals/internal-auth",
            instrument(sandbox, "esign", "v3.internalAuthList", internal_auth_list),
            methods=["GET"],
        ),
        Route(
            "/v3/seals/org-seals/internal-auth",
            instrument(sandbox, "esign", "v3.internalAuth", internal_auth),
            methods=["POST"],
        ),
        Route(
            "/v3/seals/org-seals/authorization-sign-url",
            instrument(sandbox, "esign", "v3.authorizationSignUrl", sign_url),
        ),
        Route(
            "/v3/seals/org-seals/reauthorization",
            instrument(sandbox, "esign", "v3.reauthorization", reauthorization),
            methods=["POST"],
        ),
        Route(
            "/v3/seals/org-seals/auth-delete",
            instrument(sandbox, "esign", "v3.authDelete", auth_delete),
            methods=["POST"],
        ),
    ]
