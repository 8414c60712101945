"""What every emulated endpoint does before its own work: count and record the call, add the
configured latency, and answer an injected fault instead when one is set."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.sandbox.state import Fault, RecordedRequest, Sandbox

Handler = Callable[[Request, bytes], Awaitable[Response]]


def vendor_path(request: Request) -> str:
    """The request path as the vendor sees it: without the mount prefix of the sandbox."""
    path: str = request.scope["path"]
    root: str = request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def files_root(request: Request) -> str:
    """The sandbox's own root URL (one level above the vendor mount), for image links: its
    configured public URL, else the one the request was sent to."""
    public: str | None = request.app.state.sandbox.config.public_url
    if public:
        return public.rstrip("/")
    mount: str = request.scope.get("root_path", "")
    return f"{request.url.scheme}://{request.url.netloc}{mount.rsplit('/', 1)[0]}"


def fault_response(vendor: str, fault: Fault) -> Response:
    if fault.body is not None:
        return JSONResponse(fault.body, status_code=fault.status)
    if fault.code is None:
        return Response(fault.message, status_code=fault.status, media_type="text/plain")
    if vendor == "esign":
        code: object = int(fault.code) if fault.code.lstrip("-").isdigit() else fault.code
        body: dict[str, object] = {"code": code, "message": fault.message, "data": None}
    else:
        body = {"code": fault.code, "msg": fault.message, "data": None}
    return JSONResponse(body, status_code=fault.status)


def instrument(
    sandbox: Sandbox, vendor: str, name: str, handler: Handler
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        body = await request.body()
        sandbox.record(
            RecordedRequest(
                vendor=vendor,
                endpoint=name,
                method=request.method,
                path=vendor_path(request),
                query=request.scope["query_string"].decode("latin-1"),
                headers=dict(request.headers),
                body=body,
                peer=f"{request.client.host}:{request.client.port}" if request.client else "",
            )
        )
        sandbox.enter(vendor)
        try:
            if sandbox.config.latency_s:
                await asyncio.sleep(sandbox.config.latency_s)
            fault = sandbox.take_fault(vendor, name)
            if fault is not None:
                if fault.delay_s:
                    await asyncio.sleep(fault.delay_s)
                if fault.status != 200 or fault.code is not None or fault.body is not None:
                    return fault_response(vendor, fault)
            return await handler(request, body)
        finally:
            sandbox.leave(vendor)

    return endpoint
