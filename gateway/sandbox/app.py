"""The sandbox as one ASGI app: e签宝 under `/esign`, 云银签 under `/yunyin`, seal images under
`/files`, and the knobs under `/_sandbox` (call counts, faults, latency, token expiry)."""

from __future__ import annotations

import dataclasses
import html
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route

from gateway.sandbox import esign, images, notify, yunyin
from gateway.sandbox import esign_signature as esign_sig
from gateway.sandbox.state import (
    ESIGN_APP_ID,
    ESIGN_APP_SECRET,
    ESIGN_ORG_A,
    ESIGN_TRANSACTOR,
    YUNYIN_ADMIN,
    YUNYIN_APP_ID,
    YUNYIN_APP_SECRET,
    EsignAuth,
    Fault,
    RecordedRequest,
    Sandbox,
    expire,
    near_expiry,
    sign_auth_letter,
    take_effect,
)


def png(data: bytes) -> Response:
    return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=300"})


def _file_routes(sandbox: Sandbox) -> list[Route]:
    async def esign_image(request: Request) -> Response:
        expires = request.query_params.get("Expires", "")
        if not expires.isdigit() or int(expires) < time.time():
            return Response("Request has expired", status_code=403)
        seal_id = request.path_params["seal_id"]
        seal = next((s for s in sandbox.esign_seals if s.seal_id == seal_id), None)
        if seal is None:
            return Response(status_code=404)
        return png(
            images.render_template_seal(name=seal.name, width=seal.width_px, height=seal.height_px)
        )

    async def esign_oss_put(request: Request) -> Response:
        """Step two of an e签宝 image upload: the bytes PUT to the pre-signed address, with the
        Content-MD5 step one named (else 403, as the page says) and the octet-stream type."""
        upload = sandbox.esign_files.get(request.path_params["token"])
        expires = request.query_params.get("Expires", "")
        if upload is None or not expires.isdigit() or int(expires) < time.time():
            return Response("Request has expired", status_code=403)
        body = await request.body()
        if (
            request.headers.get("Content-MD5") != upload.content_md5
            or esign_sig.body_md5(body) != upload.content_md5
            or request.headers.get("Content-Type") != "application/octet-stream"
        ):
            return Response("SignatureDoesNotMatch", status_code=403)
        upload.data = body
        sandbox.record(
            RecordedRequest(
                "esign", "oss.put", "PUT", request.url.path, "", dict(request.headers), body
            )
        )
        return JSONResponse({"errCode": 0, "msg": "success"})

    async def yunyin_seal_image(request: Request) -> Response:
        seal = sandbox.yunyin_seals.get(request.path_params["seal_id"])
        if seal is None or seal.deleted:
            return Response(status_code=404)
        return png(yunyin.draw(sandbox, seal))

    async def yunyin_upload(request: Request) -> Response:
        upload = sandbox.uploads.get(request.path_params["key"])
        return Response(status_code=404) if upload is None else png(upload.data)

    async def yunyin_preview(request: Request) -> Response:
        preview = sandbox.previews.get(request.path_params["key"])
        return Response(status_code=404) if preview is None else png(preview.data)

    async def esign_manage(request: Request) -> Response:
        """The page e签宝's management link opens: the organisation's seals."""
        if request.query_params.get("session") not in sandbox.management_sessions:
            return Response("会话无效或已过期", status_code=403, media_type="text/plain")
        org = sandbox.esign_orgs.get(request.query_params.get("org", ""))
        if org is None:
            return Response(status_code=404)
        rows = "".join(
            f"<tr><td>{s.seal_id}</td><td>{html.escape(s.name)}</td><td>{s.biz_type}</td>"
            f"<td>{'默认' if s.default else ''}</td></tr>"
            for s in sandbox.esign_org_seals(org.org_id)
        )
        page = (
            f"<!doctype html><meta charset=utf-8><title>印章管理</title>"
            f"<h1>{html.escape(org.name)} 印章管理 (sandbox)</h1>"
            f"<table><tr><th>ID</th><th>名称</th><th>类型</th><th></th></tr>{rows}</table>"
        )
        return HTMLResponse(page)

    async def esign_auth_letter(request: Request) -> Response:
        """The page an authorisation letter's link opens: the letter, and (POST) the
        administrator signing it, which puts its authorisations in force."""
        flow = request.query_params.get("flow", "")
        if flow not in sandbox.auth_letters:
            return Response("授权书不存在或已失效", status_code=404, media_type="text/plain")
        if request.method == "POST":
            sign_auth_letter(sandbox, flow, int(time.time() * 1000))
        signed = sandbox.auth_letters[flow]
        members = ", ".join(a.authorized for a in sandbox.esign_auths if a.sign_flow == flow)
        page = (
            "<!doctype html><meta charset=utf-8><title>电子印章授权书</title>"
            f"<h1>电子印章授权书 (sandbox)</h1><p>被授权人: {html.escape(members)}</p>"
            + ("<p>已签署</p>" if signed else "<form method=post><button>签署</button></form>")
        )
        return HTMLResponse(page)

    async def yunyin_manage(request: Request) -> Response:
        """The page the management link opens: the corporation's seals."""
        if request.query_params.get("session") not in sandbox.management_sessions:
            return Response("会话无效或已过期", status_code=403, media_type="text/plain")
        rows = "".join(
            f"<tr><td>{s.seal_id}</td><td>{html.escape(s.name)}</td><td>{s.category}</td>"
            f"<td>{'默认' if s.default else ''}</td>"
            f'<td><img src="seals/{s.seal_id}.png" width="64" alt=""></td></tr>'
            for s in sandbox.live_yunyin_seals()
        )
        page = (
            f"<!doctype html><meta charset=utf-8><title>印章管理</title>"
            f"<h1>{html.escape(sandbox.yunyin_corp_name)} 印章管理 (sandbox)</h1>"
            f"<table><tr><th>ID</th><th>名称</th><th>类型</th><th></th><th></th></tr>{rows}</table>"
        )
        return HTMLResponse(page)

    return [
        Route("/files/esign/manage", esign_manage),
        Route("/files/esign/oss/{token}", esign_oss_put, methods=["PUT"]),
        Route("/files/esign/auth-letter", esign_auth_letter, methods=["GET", "POST"]),
        Route("/files/esign/{seal_id}.png", esign_image),
        Route("/files/yunyin/seals/{seal_id:int}.png", yunyin_seal_image),
        Route("/files/yunyin/uploads/{key}.png", yunyin_upload),
        Route("/files/yunyin/previews/{key}.png", yunyin_preview),
        Route("/files/yunyin/manage", yunyin_manage),
    ]


def _admin_routes(sandbox: Sandbox) -> list[Route]:
    async def index(request: Request) -> Response:
        """Where everything is, as this request reached it, with the demo credentials (public:
        they open nothing but this sandbox)."""
        root = str(request.url.replace(query="", fragment="")).rstrip("/")
        return JSONResponse(
            {
                "sandbox": "emulated e签宝 and 云银签 for seal-gateway",
                "esign": {
                    "baseUrl": f"{root}/esign",
                    "appId": ESIGN_APP_ID,
                    "appSecret": ESIGN_APP_SECRET,
                    "orgId": ESIGN_ORG_A,
                    "transactorPsnId": ESIGN_TRANSACTOR,
                },
                "yunyin": {
                    "baseUrl": f"{root}/yunyin",
                    "appId": YUNYIN_APP_ID,
                    "appSecret": YUNYIN_APP_SECRET,
                    "userId": YUNYIN_ADMIN,
                },
                "knobs": {
                    "calls": f"{root}/_sandbox/calls",
                    "faults": f"{root}/_sandbox/faults",
                    "latency": f"{root}/_sandbox/latency",
                    "expireTokens": f"{root}/_sandbox/tokens/expire",
                    "esignNotifyUrl": f"{root}/_sandbox/esign/notify-url",
                    "esignNotifications": f"{root}/_sandbox/esign/notifications",
                },
                "demoImage": f"{root}/_sandbox/demo-seal.png",
            }
        )

    async def calls(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.reset_counts()
        stored = {
            "esignSeals": len(sandbox.esign_seals),
            "yunyinSeals": sum(not s.deleted for s in sandbox.yunyin_seals.values()),
            "yunyinUploads": len(sandbox.uploads),
        }
        return JSONResponse(
            {
                "calls": dict(sandbox.calls),
                # the most calls of each vendor within any one second
                "peakPerSecond": dict(sandbox.peak_per_second),
                "stored": stored,
            }
        )

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.faults.clear()
        elif request.method == "POST":
            spec: dict[str, Any] = await request.json()
            names = {f.name for f in dataclasses.fields(Fault)}
            sandbox.faults.append(Fault(**{k: v for k, v in spec.items() if k in names}))
        return JSONResponse({"faults": [dataclasses.asdict(f) for f in sandbox.faults]})

    async def latency(request: Request) -> Response:
        if request.method == "PUT":
            sandbox.config.latency_s = float((await request.json())["seconds"])
        return JSONResponse({"seconds": sandbox.config.latency_s})

    async def demo_image(request: Request) -> Response:
        """A PNG to try uploads with (README's upload example)."""
        return png(images.render_template_seal(name="示例科技有限公司", width=200, height=200))

    async def expire_tokens(request: Request) -> Response:
        vendor = request.query_params.get("vendor")
        sandbox.expire_tokens(vendor)
        return JSONResponse({"expired": vendor or "all"})

    return [
        Route("/", index),
        *_esign_notify_routes(sandbox),
        Route("/_sandbox/calls", calls, methods=["GET", "DELETE"]),
        Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/latency", latency, methods=["GET", "PUT"]),
        Route("/_sandbox/tokens/expire", expire_tokens, methods=["POST"]),
        Route("/_sandbox/demo-seal.png", demo_image),
    ]


def _knob_refusal(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        fields = await request.json()
    except ValueError:
        return None
    return fields if isinstance(fields, dict) else None


def _esign_notify_routes(sandbox: Sandbox) -> list[Route]:
    """The knobs of e签宝's notifications: where they go, what was sent and how it was
    answered, and the vendor-side happenings no API call makes (a review's verdict, an
    authorisation's period starting, nearing its end, ending)."""

    async def notify_url(request: Request) -> Response:
        if request.method == "PUT":
            fields = await _json_object(request)
            url = "" if fields is None else fields.get("url", "")
            if url is not None and (
                not isinstance(url, str) or not url.startswith(("http://", "https://"))
            ):
                return _knob_refusal('{"url": an http(s) URL, or null}', 400)
            sandbox.config.esign_notify_url = url
        return JSONResponse({"url": sandbox.config.esign_notify_url})

    async def notifications(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.notifier.reset()
        return JSONResponse(
            {
                "notifications": [a.as_json() for a in sandbox.notifier.attempts()],
                "pending": sandbox.notifier.pending(),
            }
        )

    async def review(request: Request) -> Response:
        """An e签宝 reviewer's verdict on an image seal awaiting review: enabled (1), or
        rejected (3) with its reason; SEAL_AUDIT tells of it."""
        seal = sandbox.esign_seal(request.path_params["seal_id"])
        if seal is None:
            return _knob_refusal("no such e签宝 seal", 404)
        fields = await _json_object(request)
        verdict = None if fields is None else fields.get("pass")
        reason = "" if fields is None else fields.get("reason", "")
        if not isinstance(verdict, bool) or not isinstance(reason, str):
            return _knob_refusal('{"pass": true} or {"pass": false, "reason": "..."}', 400)
        if seal.style != 3 or seal.status != 2:
            return _knob_refusal("only an image seal awaiting review (sealStatus 2)", 409)
        if verdict:
            seal.status, seal.reject_reason = 1, ""
        else:
            seal.status, seal.reject_reason = 3, reason or "印章内容不符合要求，请重新修改。"
        sandbox.notifier.push("SEAL_AUDIT", notify.seal_audited(seal, verdict))
        return JSONResponse({"sealId": seal.seal_id, "sealStatus": seal.status})

    Change = Callable[[EsignAuth, int, dict[str, Any]], Response | None]

    def authorization_knob(
        statuses: tuple[int, ...], change: Change, what: str
    ) -> Callable[[Request], Awaitable[Response]]:
        async def knob(request: Request) -> Response:
            auth = sandbox.esign_auth(request.path_params["biz_id"])
            if auth is None:
                return _knob_refusal("no such e签宝 authorisation (sealAuthBizId)", 404)
            if auth.status not in statuses:
                return _knob_refusal(f"only an authorisation {what}", 409)
            fields = await _json_object(request) if await request.body() else {}
            if fields is None:
                return _knob_refusal("a JSON object, or no body", 400)
            refusal = change(auth, int(time.time() * 1000), fields)
            if refusal is not None:
                return refusal
            return JSONResponse(
                {
                    "sealAuthBizId": auth.biz_id,
                    "authorizeStatus": auth.status,
                    "expireReason": auth.reason,
                    "effectiveTime": auth.effective_ms,
                    "expireTime": auth.expire_ms,
                }
            )

        return knob

    def start(auth: EsignAuth, now_ms: int, fields: dict[str, Any]) -> Response | None:
        take_effect(sandbox, auth, now_ms)
        return None

    def nearly(auth: EsignAuth, now_ms: int, fields: dict[str, Any]) -> Response | None:
        days = fields.get("days", 7)
        if auth.long_term:
            return _knob_refusal("a long-term authorisation has no end", 409)
        if days not in (7, 1):
            return _knob_refusal('{"days": 7 or 1} (the vendor notifies then)', 400)
        near_expiry(sandbox, auth, now_ms, days)
        return None

    def end(auth: EsignAuth, now_ms: int, fields: dict[str, Any]) -> Response | None:
        if auth.long_term:
            return _knob_refusal("a long-term authorisation has no end", 409)
        expire(sandbox, auth, now_ms)
        return None

    base = "/_sandbox/esign/authorizations/{biz_id}"
    return [
        Route("/_sandbox/esign/notify-url", notify_url, methods=["GET", "PUT"]),
        Route("/_sandbox/esign/notifications", notifications, methods=["GET", "DELETE"]),
        Route("/_sandbox/esign/seals/{seal_id}/review", review, methods=["POST"]),
        Route(
            f"{base}/take-effect",
            authorization_knob((3,), start, "signed and awaiting its start (3)"),
            methods=["POST"],
        ),
        Route(
            f"{base}/nearly-expire",
            authorization_knob((1,), nearly, "in force (1)"),
            methods=["POST"],
        ),
        Route(
            f"{base}/expire",
            authorization_knob((1,), end, "in force (1)"),
            methods=["POST"],
        ),
    ]


def create_sandbox_app(sandbox: Sandbox | None = None) -> Starlette:
    sandbox = sandbox or Sandbox()
    app = Starlette(
        routes=[
            Mount("/esign", routes=esign.routes(sandbox)),
            Mount("/yunyin", routes=yunyin.routes(sandbox)),
            *_file_routes(sandbox),
            *_admin_routes(sandbox),
        ]
    )
    app.state.sandbox = sandbox
    return app
