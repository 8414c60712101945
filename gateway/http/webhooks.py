"""e签宝's notifications (回调通知), received at `POST /webhooks/esign` for the default tenant and
`POST /webhooks/esign/{tenant}` for the others: the address each tenant registers in its
e签宝 app's console (消息推送).

A notification is checked (gateway/events/esign_notify.py: the tenant's app id, a timestamp
within 15 minutes, the HMAC-SHA256 signature over timestamp + query values + body with the
tenant's app secret), read, and recorded in the tenant's event log before it is answered:
200 `{"code":"200","msg":"success"}` only once it is on record, so anything else makes e签宝
send it again (up to 16 times). The same notification twice is one event.

Refusals are answered in e签宝's own reply shape with a 4xx (401: not from e签宝; 400: not a
notification; 404: no such tenant; 413: too large) or 503 (the log did not take it: e签宝
retries), and logged in one line without the signature, the secret or the body."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.access.tenants import Tenant
from gateway.domain import DEFAULT_TENANT
from gateway.events import esign_notify
from gateway.events.hub import EventHub
from gateway.events.log import LogUnavailable
from gateway.ops.metrics import NOTIFICATIONS

log = logging.getLogger("gateway.webhooks")

# Far above any seal notification (a few hundred bytes), far below anything that could hurt.
MAX_NOTIFICATION_BYTES = 64 * 1024
SUCCESS = {"code": "200", "msg": "success"}


def _reply(status: int, message: str) -> Response:
    outcome = "not_recorded" if status >= 500 else f"refused_{status}"
    NOTIFICATIONS.labels("esign", outcome).inc()
    return JSONResponse({"code": str(status), "msg": message}, status_code=status)


class EsignWebhook:
    """The notification endpoint, over the tenants of the running configuration."""

    def __init__(self, tenants: Callable[[], dict[str, Tenant]], hub: EventHub) -> None:
        self.tenants = tenants
        self.hub = hub

    async def receive(self, request: Request) -> Response:
        name = request.path_params.get("tenant", DEFAULT_TENANT)
        tenant = self.tenants().get(name)
        esign = None if tenant is None else tenant.vendors.esign
        if tenant is None or esign is None:
            log.info("refused an e签宝 notification: no tenant %r with e签宝 here", name[:64])
            return _reply(404, "unknown tenant")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_NOTIFICATION_BYTES:
            log.info("refused an e签宝 notification for %s: %s bytes", name, declared)
            return _reply(413, "too large")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_NOTIFICATION_BYTES:
                log.info("refused an e签宝 notification for %s: over %d bytes", name, len(body))
                return _reply(413, "too large")
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            esign_notify.verify(
                headers,
                list(request.query_params.multi_items()),
                body,
                app_id=esign.app_id,
                app_secret=esign.app_secret,
                now_ms=int(time.time() * 1000),
            )
            draft = esign_notify.parse(
                body,
                org_ids=frozenset({tenant.vendors.esign_org_id} - {""}),
                received_at=datetime.now(UTC),
            )
        except esign_notify.NotificationRefused as refusal:
            log.info(
                "refused an e签宝 notification for %s (%d): %s",
                name,
                refusal.status,
                refusal.reason,
            )
            return _reply(refusal.status, "refused")
        try:
            event = await self.hub.record(name, draft)
        except LogUnavailable:
            log.warning("an e签宝 notification for %s was not recorded; e签宝 will retry", name)
            return _reply(503, "try again")
        NOTIFICATIONS.labels("esign", "repeated" if event is None else "recorded").inc()
        if event is None:
            log.info(
                "e签宝 notification for %s: %s of seal %s, delivered again (already recorded)",
                name,
                draft.vendor_action,
                draft.vendor_seal_id or "-",
            )
        else:
            log.info(
                "e签宝 notification for %s: %s of seal %s recorded as %s",
                name,
                draft.vendor_action,
                draft.vendor_seal_id or "-",
                draft.type.value,
            )
        return JSONResponse(SUCCESS)
