"""Emulated 云银签 `/seal/*`: token, list, detail and authorisations, with the vendor's header
checks (appId, accessToken, userId, source) and its string codes."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.sandbox.endpoint import files_root, instrument
from gateway.sandbox.state import YUNYIN_CORP_ID, Sandbox, YunyinAuthor, YunyinSeal

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
    ]


def now_iso() -> str:
    """The vendor's time format: ISO-8601, milliseconds, +0800."""
    local = time.gmtime(time.time() + 8 * 3600)
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0800", local)
