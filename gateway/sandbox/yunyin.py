"""Emulated 云银签 `/seal/*`: token, list, detail and authorisations, with the vendor's header
checks (appId, accessToken, userId, source) and its string codes."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.sandbox import images
from gateway.sandbox.endpoint import files_root, instrument
from gateway.sandbox.state import YUNYIN_CORP_ID, Sandbox, Upload, YunyinAuthor, YunyinSeal

MAX_PAGE_SIZE = 100

YunyinHandler = Callable[[Request, dict[str, Any], int], Awaitable[Response]]


class VendorFailure(Exception):
    """Ends a handler with the vendor's error answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def ok(data: Any = None, **page: Any) -> JSONResponse:
    return JSONResponse({"code": "200", "msg": "成功", **page, "data": data})


def failure(code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "msg": message, "data": None})


def seal_row(request: Request, sandbox: Sandbox, seal: YunyinSeal) -> dict[str, Any]:
    return {
        "sealId": seal.seal_id,
        "corpName": sandbox.yunyin_corp_name,
        "sealCode": seal.code,
        "sealName": seal.name,
        "categoryType": seal.category,
        "sealStyle": seal.style,
        "sealWidth": seal.width,
        "sealHeight": seal.height,
        "sealImageUrl": f"{files_root(request)}/files/yunyin/seals/{seal.seal_id}.png",
        "defaultFlag": 1 if seal.default else 0,
        "status": seal.status,
        "sealHorizontalText": seal.horizontal_text,
        "sealBottomText": seal.bottom_text,
        "source": seal.source,
        "authorNum": len(sandbox.authors_of(seal.seal_id)),
        "createTime": seal.created,
    }


def author_row(sandbox: Sandbox, author: YunyinAuthor) -> dict[str, Any]:
    templates = (
        json.dumps([{"templateId": t} for t, _ in author.templates], separators=(",", ":"))
        if author.templates
        else None
    )
    return {
        "id": author.id,
        "sealId": author.seal_id,
        "userId": author.user_id,
        "userName": sandbox.yunyin_users.get(author.user_id, ("", False))[0],
        "authorRole": author.role,
        "authorRange": author.range,
        "autoSign": author.auto_sign,
        "effectiveTime": author.effective,
        "expireTime": author.expire,
        "examinerNotify": author.examiner_notify,
        "status": author.status,
        "templates": templates,
        "templateName": ",".join(name for _, name in author.templates) or None,
        "createTime": author.created,
    }


def int_field(body: dict[str, Any], name: str, default: int | None = None) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise VendorFailure("PARAM_ERROR", f"参数错误: {name}")
    return value


def paging(body: dict[str, Any]) -> tuple[int, int]:
    number = int_field(body, "listPageNo", 1)
    size = int_field(body, "listPageSize", 10)
    if number < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise VendorFailure("PARAM_ERROR", "参数错误: listPageNo或listPageSize不合法")
    return number, size


def page_of(items: list[Any], number: int, size: int) -> tuple[list[Any], dict[str, int]]:
    chunk = items[(number - 1) * size : number * size]
    return chunk, {
        "listPageNo": number,
        "countInPage": len(chunk),
        "listPageCount": (len(items) + size - 1) // size,
        "totalCount": len(items),
    }


def find_seal(sandbox: Sandbox, body: dict[str, Any]) -> YunyinSeal:
    seal = sandbox.yunyin_seals.get(int_field(body, "sealId"))
    if seal is None or seal.deleted:
        raise VendorFailure("SEAL_NOT_FOUND", "印章不存在")
    return seal


def seal_endpoint(
    sandbox: Sandbox, handler: YunyinHandler
) -> Callable[[Request, bytes], Awaitable[Response]]:
    """Checks the common headers, decodes the JSON body, and turns VendorFailure into its answer."""

    async def endpoint(request: Request, raw: bytes) -> Response:
        headers = request.headers
        if sandbox.yunyin_apps.get(headers.get("appId", "")) is None:
            return failure("APP_AUTH_FAILED", "appId无效")
        if not sandbox.token_valid("yunyin", headers.get("accessToken")):
            return failure("TOKEN_INVALID", "accessToken无效或已过期")
        try:
            operator = int(headers.get("userId", ""))
        except ValueError:
            return failure("PARAM_ERROR", "参数错误: userId")
        if operator not in sandbox.yunyin_users:
            return failure("PERMISSION_DENIED", "操作人不属于该企业")
        if not headers.get("source"):
            return failure("PARAM_ERROR", "参数错误: source")
        body: Any = {}
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return failure("PARAM_ERROR", "参数错误: 请求体不是JSON")
            if not isinstance(body, dict):
                return failure("PARAM_ERROR", "参数错误: 请求体不是JSON对象")
        try:
            return await handler(request, body, operator)
        except VendorFailure as exc:
            return failure(exc.code, exc.message)

    return endpoint


def routes(sandbox: Sandbox) -> list[Route]:
    async def access_token(request: Request, raw: bytes) -> Response:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict) or sandbox.yunyin_apps.get(
            str(body.get("appId"))
        ) != body.get("appSecret"):
            return failure("APP_AUTH_FAILED", "appId或appSecret错误")
        token, expires_at = sandbox.issue_token("yunyin")
        return JSONResponse(
            {
                "code": "0",
                "msg": "success",
                "data": {
                    "accessToken": token,
                    "expiresIn": int(expires_at * 1000),
                    "corpId": YUNYIN_CORP_ID,
                },
            }
        )

    async def list_seals(request: Request, body: dict[str, Any], operator: int) -> Response:
        number, size = paging(body)
        seals = sandbox.live_yunyin_seals()
        if body.get("sealId") is not None:
            seals = [s for s in seals if s.seal_id == int_field(body, "sealId")]
        if body.get("sealName"):
            seals = [s for s in seals if str(body["sealName"]) in s.name]
        if body.get("categoryType"):
            seals = [s for s in seals if s.category == body["categoryType"]]
        if body.get("sealStatus") is not None:
            seals = [s for s in seals if s.status == int_field(body, "sealStatus")]
        chunk, page = page_of(seals, number, size)
        return ok([seal_row(request, sandbox, s) for s in chunk], **page)

    async def seal_info(request: Request, body: dict[str, Any], operator: int) -> Response:
        return ok(seal_row(request, sandbox, find_seal(sandbox, body)))

    async def author_list(request: Request, body: dict[str, Any], operator: int) -> Response:
        seal = find_seal(sandbox, body)
        number, size = paging(body)
        chunk, page = page_of(sandbox.authors_of(seal.seal_id), number, size)
        return ok([author_row(sandbox, a) for a in chunk], **page)

    def route(path: str, handler: YunyinHandler) -> Route:
        name = path.rsplit("/", 1)[1]
        return Route(
            path,
            instrument(sandbox, "yunyin", name, seal_endpoint(sandbox, handler)),
            methods=["POST"],
        )

    return [
        Route(
            "/service/getAccessToken",
            instrument(sandbox, "yunyin", "token", access_token),
            methods=["POST"],
        ),
        route("/seal/getSealListByPage", list_seals),
        route("/seal/getSealInfo", seal_info),
        route("/seal/getSealAuthorList", author_list),
        *write_routes(sandbox),
    ]


def now_iso() -> str:
    """The vendor's time format: ISO-8601, milliseconds, +0800."""
    local = time.gmtime(time.time() + 8 * 3600)
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0800", local)


# --- writes ---------------------------------------------------------------------------------

CATEGORIES = {"PUBLIC", "CONTRACT", "FINANCE", "HR", "LEGAL_PERSON", "OTHER"}
SHAPES = {"round", "oval"}
COLORS = {"red": "Red", "blue": "Blue", "black": "Black", "purple": "Purple"}
ROLES = {"SEAL_USER", "SEAL_EXAMINER"}
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


def require_manager(sandbox: Sandbox, operator: int) -> None:
    if not sandbox.yunyin_users[operator][1]:
        raise VendorFailure("PERMISSION_DENIED", "无权限操作印章")


def text_field(body: dict[str, Any], name: str, code: str = "PARAM_ERROR") -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise VendorFailure(code, f"参数错误: {name}")
    return value.strip()


def name_free(sandbox: Sandbox, name: str, except_id: int | None = None) -> None:
    if any(s.name == name and s.seal_id != except_id for s in sandbox.live_yunyin_seals()):
        raise VendorFailure("SEAL_NAME_EXIST", "印章名称已存在")


def template_seal(body: dict[str, Any], code: str) -> YunyinSeal:
    """The seal createSealByTemplate would make (corpPreView draws it), checked; not stored."""
    if body.get("categoryType") not in CATEGORIES:
        raise VendorFailure(code, "参数错误: categoryType")
    shape = body.get("sealTemplateStyle") or "round"
    color = COLORS.get(str(body.get("sealColor") or "Red").lower())
    alpha = body.get("sealAlpha", 1.0)
    if shape not in SHAPES or color is None:
        raise VendorFailure(code, "参数错误: sealTemplateStyle或sealColor")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
        raise VendorFailure(code, "参数错误: sealAlpha")
    width, height = (180, 120) if shape == "oval" else (159, 159)
    return YunyinSeal(
        seal_id=0,
        name=text_field(body, "sealName", code),
        category=body["categoryType"],
        style=1,
        status=1,
        created=now_iso(),
        template_shape=shape,
        color=color,
        alpha=float(alpha),
        horizontal_text=body.get("sealHorizontalText") or None,
        bottom_text=body.get("sealBottomText") or None,
        width=width,
        height=height,
    )


def draw(sandbox: Sandbox, seal: YunyinSeal) -> bytes:
    """The seal's image: its uploaded image in its ink, or its template drawn."""
    upload = sandbox.uploads.get(seal.image_key or "")
    if upload is not None:
        return images.recolor(upload.data, seal.color, seal.alpha)
    return images.render_template_seal(
        name=seal.name,
        shape=seal.template_shape,
        color=seal.color,
        alpha=seal.alpha,
        horizontal_text=seal.horizontal_text,
        bottom_text=seal.bottom_text,
        width=seal.width,
        height=seal.height,
    )


def file_info(upload: Upload, file_url: str, http_url: str) -> dict[str, Any]:
    return {
        "fileName": upload.file_name,
        "fileUrl": file_url,
        "httpUrl": http_url,
        "totalPage": 1,
        "width": upload.width,
        "height": upload.height,
    }


def parse_time(body: dict[str, Any], name: str) -> datetime | None:
    raw = body.get(name)
    if raw is None:
        return None
    try:
        return datetime.strptime(str(raw), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        raise VendorFailure("PARAM_ERROR", f"参数错误: {name}") from None


def write_routes(sandbox: Sandbox) -> list[Route]:
    async def create_by_template(request: Request, body: dict[str, Any], operator: int) -> Response:
        require_manager(sandbox, operator)
        if body.get("sealStyle") != 1:
            raise VendorFailure("PARAM_ERROR", "参数错误: sealStyle")
        seal = template_seal(body, "PARAM_ERROR")
        name_free(sandbox, seal.name)
        seal.seal_id = sandbox.next_seal_id()
        seal.code = f"SEAL{seal.seal_id}"
        sandbox.yunyin_seals[seal.seal_id] = seal
        return ok({"sealId": seal.seal_id})

    async def create_by_image(request: Request, body: dict[str, Any], operator: int) -> Response:
        require_manager(sandbox, operator)
        if body.get("sealStyle") != 3 or body.get("categoryType") not in CATEGORIES:
            raise VendorFailure("PARAM_ERROR", "参数错误: sealStyle或categoryType")
        if body.get("sealTemplateStyle") not in SHAPES:
            raise VendorFailure("PARAM_ERROR", "参数错误: sealTemplateStyle")
        name = text_field(body, "sealName")
        wanted = str(body.get("fileUrl") or "")
        mine = [u for u in sandbox.uploads.values() if u.operator == operator]
        upload = next((u for u in mine if wanted.endswith(f"/{u.key}.png")), None)
        if upload is None and not wanted and mine:
            upload = mine[-1]  # tied to the operator's latest upload, as by session
        if upload is None:
            raise VendorFailure("SEAL_IMAGE_NOT_FOUND", "未找到关联的上传印章图片")
        name_free(sandbox, name)
        seal_id = sandbox.next_seal_id()
        sandbox.yunyin_seals[seal_id] = YunyinSeal(
            seal_id,
            name,
            body["categoryType"],
            3,
            2,  # uploaded-image seals wait for review
            now_iso(),
            code=f"SEAL{seal_id}",
            template_shape=body["sealTemplateStyle"],
            color=upload.color,
            width=upload.width,
            height=upload.height,
            image_key=upload.key,
        )
        return ok({"sealId": seal_id})

    async def upload_file(request: Request, body: dict[str, Any], operator: int) -> Response:
        require_manager(sandbox, operator)
        form = await request.form()
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise VendorFailure("FILE_UPLOAD_ERROR", "文件上传失败: 缺少文件")
        data = await file.read()
        size = images.png_size(data) if len(data) <= MAX_UPLOAD_BYTES else None
        if size is None:
            raise VendorFailure("FILE_UPLOAD_ERROR", "文件上传失败: 仅支持PNG格式")
        color = COLORS.get(request.query_params.get("color", "red").lower(), "Red")
        key = secrets.token_hex(8)
        upload = Upload(key, file.filename or "seal.png", data, *size, color, operator)
        sandbox.uploads[key] = upload
        root = files_root(request)
        path = f"group1/M00/00/01/{key}.png"
        return ok(file_info(upload, path, f"{root}/files/yunyin/uploads/{key}.png"))

    def store_preview(request: Request, data: bytes, width: int, height: int) -> Response:
        key = secrets.token_hex(8)
        preview = Upload(key, "seal_preview.png", data, width, height, "")
        sandbox.previews[key] = preview
        url = f"{files_root(request)}/files/yunyin/previews/{key}.png"
        return ok(file_info(preview, f"temp/preview/{key}.png", url))

    async def preview_template(request: Request, body: dict[str, Any], operator: int) -> Response:
        seal = template_seal(body, "PREVIEW_GEN_ERROR")
        return store_preview(request, draw(sandbox, seal), seal.width, seal.height)

    async def preview_upload(request: Request, body: dict[str, Any], operator: int) -> Response:
        text_field(body, "fileName", "IMAGE_PROCESS_ERROR")
        url = text_field(body, "httpUrl", "IMAGE_PROCESS_ERROR")
        upload = next((u for u in sandbox.uploads.values() if url.endswith(f"/{u.key}.png")), None)
        if upload is None:
            raise VendorFailure("IMAGE_PROCESS_ERROR", "处理图片失败或找不到源文件")
        color = COLORS.get(str(body.get("sealColor") or upload.color).lower(), "Red")
        alpha = body.get("sealAlpha", 1.0)
        if not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
            raise VendorFailure("IMAGE_PROCESS_ERROR", "处理图片失败: sealAlpha")
        png = images.recolor(upload.data, color, float(alpha))
        return store_preview(request, png, upload.width, upload.height)

    async def add_author(request: Request, body: dict[str, Any], operator: int) -> Response:
        require_manager(sandbox, operator)
        seal = find_seal(sandbox, body)
        if body.get("authorMemberRange") != 1:
            raise VendorFailure("PARAM_ERROR", "参数错误: 目前仅支持指定人员")
        users = body.get("userIdList")
        if not isinstance(users, list) or not users:
            raise VendorFailure("PARAM_ERROR", "参数错误: userIdList")
        user_ids = [int_field(u, "userId") if isinstance(u, dict) else -1 for u in users]
        unknown = [u for u in user_ids if u not in sandbox.yunyin_users]
        if unknown:
            raise VendorFailure("USER_NOT_FOUND", f"用户不存在: {unknown[0]}")
        role = body.get("authorRole")
        scope = body.get("authorRange")
        if role not in ROLES or scope not in (0, 1):
            raise VendorFailure("PARAM_ERROR", "参数错误: authorRole或authorRange")
        raw_templates = (body.get("templatesList") or []) if scope == 1 else []
        if scope == 1 and not raw_templates:
            raise VendorFailure("PARAM_ERROR", "参数错误: 指定模板时templatesList必填")
        if not all(isinstance(t, dict) for t in raw_templates):
            raise VendorFailure("PARAM_ERROR", "参数错误: templatesList")
        templates = [
            (int_field(t, "templateId"), str(t.get("templateName") or "")) for t in raw_templates
        ]
        effective, expire = parse_time(body, "effectiveTime"), parse_time(body, "expireTime")
        if effective and expire and expire <= effective:
            raise VendorFailure("PARAM_ERROR", "参数错误: 失效时间须晚于生效时间")
        existing = {(a.user_id, a.role) for a in sandbox.authors_of(seal.seal_id)}
        if any((user, role) in existing for user in user_ids):
            raise VendorFailure("AUTHOR_RULE_CONFLICT", "授权规则与现有规则冲突")
        created = now_iso()
        for user in user_ids:
            sandbox.yunyin_authors.append(
                YunyinAuthor(
                    sandbox.next_author_id(),
                    seal.seal_id,
                    user,
                    role,
                    scope,
                    list(templates),
                    body.get("effectiveTime") or created,
                    body.get("expireTime"),
                    created,
                )
            )
        return ok({})

    async def modify(request: Request, body: dict[str, Any], operator: int) -> Response:
        require_manager(sandbox, operator)
        seal = find_seal(sandbox, body)
        name = text_field(body, "sealName")
        name_free(sandbox, name, except_id=seal.seal_id)
        seal.name = name
        return ok({})

    async def delete(request: Request, body: dict[str, Any], operator: int) -> Response:
        require_manager(sandbox, operator)
        seal = find_seal(sandbox, body)
        if seal.default:
            raise VendorFailure("SEAL_DELETE_FAILED", "默认印章不能删除")
        seal.deleted = True
        return ok({})

    async def set_default(request: Request, body: dict[str, Any], operator: int) -> Response:
        require_manager(sandbox, operator)
        seal = find_seal(sandbox, body)
        for other in sandbox.yunyin_seals.values():
            other.default = other is seal
        return ok({})

    async def management_url(request: Request, body: dict[str, Any], operator: int) -> Response:
        require_manager(sandbox, operator)
        session = secrets.token_urlsafe(16)
        sandbox.management_sessions.add(session)
        return ok(f"{files_root(request)}/files/yunyin/manage?session={session}")

    handlers: dict[str, YunyinHandler] = {
        "createSealByTemplate": create_by_template,
        "createSealByImage": create_by_image,
        "uploadSealFile": upload_file,
        "corpPreView": preview_template,
        "uploadSealFilePreView": preview_upload,
        "addSealAuthor": add_author,
        "modify": modify,
        "delete": delete,
        "updDefault": set_default,
        "getSealAuthorUrl": management_url,
    }
    return [
        Route(
            f"/seal/{name}",
            instrument(sandbox, "yunyin", name, seal_endpoint(sandbox, handler)),
            methods=["POST"],
        )
        for name, handler in handlers.items()
    ]
