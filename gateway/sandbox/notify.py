"""The emulated e签宝 notification service: seal notifications POSTed to the callback URL
"registered in the console" (`SandboxConfig.esign_notify_url`), in the shapes of the vendor's
notify3 pages, signed as its receiving page says, delivered in the background and retried on
a non-2xx answer or a failed connection; every attempt is recorded for tests to read.

Written from the vendor's pages, sharing no code with the gateway's checker
(gateway.events.esign_notify): a mistake on either side then fails the end-to-end tests.

The signature is lowercase hex HMAC-SHA256, keyed by the app secret, over the timestamp
(epoch ms, also sent as X-Tsign-Open-TIMESTAMP), the callback URL's query values (keys in
ASCII order, values concatenated) and the body's bytes."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import httpx

if TYPE_CHECKING:
    from gateway.sandbox.state import EsignAuth, EsignSeal, SandboxConfig

log = logging.getLogger(__name__)

ALGORITHM = "hmac-sha256"
# Every seal notification's `bodyVersion` ("默认V3，开发者可忽略").
BODY_VERSION = "V3"
# sealCreateMode by v3 sealStyle: 1 an organisation template, 3 an uploaded image.
CREATE_MODES = {1: "template", 3: "file"}
# The receiving page asks for an answer within 5 seconds.
ANSWER_WITHIN_S = 5.0


@dataclass
class NotificationAttempt:
    """One POST of one notification: `attempt` counts from 1; `status` is the HTTP status the
    receiver answered, None when no answer came (`error` then says why)."""

    id: int
    action: str
    url: str
    body: bytes
    attempt: int
    status: int | None
    error: str | None
    sent_ms: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "url": self.url,
            "body": json.loads(self.body),
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error,
            "sentAt": self.sent_ms,
        }


@dataclass
class _Pending:
    id: int
    action: str
    url: str
    body: bytes
    generation: int
    attempts: int = 0


def signature(timestamp: str, url: str, body: bytes, secret: str) -> str:
    """The X-Tsign-Open-SIGNATURE of `body` sent at `timestamp` to `url`."""
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    values = "".join(value for _, value in sorted(query, key=lambda pair: pair[0]))
    data = f"{timestamp}{values}".encode() + body
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


class Notifier:
    """Delivers notifications in the order they were made, each retried after a delay while
    others go on; one worker thread, started at the first notification."""

    def __init__(self, config: Callable[[], SandboxConfig]) -> None:
        self._config = config
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, _Pending]] = []
        self._ids = itertools.count(1)
        self._generation = 0
        # the notification being delivered now
        self._current: _Pending | None = None
        self._thread: threading.Thread | None = None
        self._attempts: list[NotificationAttempt] = []

    # --- what the emulated vendor calls ---------------------------------------------------------

    def push(self, action: str, fields: dict[str, Any]) -> None:
        """Sends `action` with `fields` (in the page's order) to the callback URL, if one is
        set; returns at once."""
        url = self._config().esign_notify_url
        if not url:
            return
        body = json.dumps({"action": action, **fields}, ensure_ascii=False, separators=(",", ":"))
        with self._cond:
            pending = _Pending(next(self._ids), action, url, body.encode(), self._generation)
            heapq.heappush(self._queue, (time.monotonic(), pending.id, pending))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sandbox-esign-notify", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    # --- what tests and the knobs read --------------------------------------------------------

    def attempts(self) -> list[NotificationAttempt]:
        with self._cond:
            return list(self._attempts)

    def pending(self) -> int:
        """Notifications not yet answered with a 2xx that will still be tried."""
        with self._cond:
            current = self._current is not None and self._current.generation == self._generation
            return len(self._queue) + current

    def reset(self) -> None:
        """Forgets every attempt and drops what was still to be delivered."""
        with self._cond:
            self._generation += 1
            self._queue.clear()
            self._attempts.clear()

    # --- the worker -----------------------------------------------------------------------------

    def _run(self) -> None:
        limits = httpx.Limits(keepalive_expiry=2.0)
        with httpx.Client(timeout=ANSWER_WITHIN_S, limits=limits, trust_env=False) as client:
            while True:
                with self._cond:
                    while not self._queue or self._queue[0][0] > time.monotonic():
                        wait = self._queue[0][0] - time.monotonic() if self._queue else None
                        self._cond.wait(wait)
                    _, _, pending = heapq.heappop(self._queue)
                    if pending.generation != self._generation:
                        continue
                    self._current = pending
                try:
                    self._deliver(client, pending)
                finally:
                    with self._cond:
                        self._current = None

    def _deliver(self, client: httpx.Client, pending: _Pending) -> None:
        config = self._config()
        app_id, secret = config.esign_app
        pending.attempts += 1
        sent_ms = int(time.time() * 1000)
        stamp = str(sent_ms)
        headers = {
            "X-Tsign-Open-App-Id": app_id,
            "X-Tsign-Open-TIMESTAMP": stamp,
            "X-Tsign-Open-SIGNATURE": signature(stamp, pending.url, pending.body, secret),
            "X-Tsign-Open-SIGNATURE-ALGORITHM": ALGORITHM,
            "Content-Type": "application/json",
        }
        status: int | None = None
        error: str | None = None
        try:
            status = client.post(pending.url, content=pending.body, headers=headers).status_code
        except httpx.HTTPError as failure:
            error = type(failure).__name__
        delivered = status is not None and 200 <= status < 300
        with self._cond:
            if pending.generation != self._generation:
                return
            self._attempts.append(
                NotificationAttempt(
                    pending.id,
                    pending.action,
                    pending.url,
                    pending.body,
                    pending.attempts,
                    status,
                    error,
                    sent_ms,
                )
            )
            # the first try, then up to `esign_notify_retries` more
            if not delivered and pending.attempts <= config.esign_notify_retries:
                due = time.monotonic() + config.esign_notify_retry_delay_s
                heapq.heappush(self._queue, (due, pending.id, pending))
            elif not delivered:
                log.info(
                    "sandbox e签宝 gave up notifying %s (%s) after %d attempts",
                    pending.action,
                    pending.id,
                    pending.attempts,
                )


# --- the bodies, field by field as the pages show them ---------------------------------------


def seal_created(seal: EsignSeal) -> dict[str, Any]:
    """SEAL_CREATE (notify3 qgn8c6): an organisation's seal; `customBizNum` is "" for a seal
    created through the API, as the page says."""
    return {
        "bodyVersion": BODY_VERSION,
        "customBizNum": "",
        "orgId": seal.org_id,
        "sealBizType": seal.biz_type,
        "sealCreateMode": CREATE_MODES[seal.style],
        "sealId": seal.seal_id,
        "sealName": seal.name,
    }


def seal_audited(seal: EsignSeal, passed: bool) -> dict[str, Any]:
    """SEAL_AUDIT (notify3 fygpxq): an image seal's review; auditStatus 1 passed, 0 rejected
    (a number in the page's examples)."""
    return {
        "auditStatus": 1 if passed else 0,
        "bodyVersion": BODY_VERSION,
        "orgId": seal.org_id,
        "rejectReason": seal.reject_reason,
        "sealBizType": seal.biz_type,
        "sealId": seal.seal_id,
        "sealName": seal.name,
        "statusDescription": "通过" if passed else "驳回",
    }


def seal_deleted(seal: EsignSeal, outcome: str) -> dict[str, Any]:
    """SEAL_DELETE (notify3 aupwbb): `sealStatus` delete (never used) or revoke (used)."""
    return {
        "bodyVersion": BODY_VERSION,
        "orgId": seal.org_id,
        "sealBizType": seal.biz_type,
        "sealCreateMode": CREATE_MODES[seal.style],
        "sealId": seal.seal_id,
        "sealName": seal.name,
        "sealStatus": outcome,
    }


def authorization(auth: EsignAuth, org_id: str, auth_status: int) -> dict[str, Any]:
    """The SEAL_AUTH_* bodies of an internal (member) authorisation: the fields the pages of
    SEAL_AUTH_EFFICTIVE (cwpqgv), SEAL_AUTH_CALCEL (wohggc) and SEAL_AUTH_NEARLY_EXPIRED
    (qg1ayb) share; authStatus 1 in force, 0 lapsed, 2 deleted, 3 awaiting effect. A long-term
    authorisation has no period: effectiveTime and expireTime are null, as the v3 list gives
    them (the pages show no long-term example)."""
    return {
        "authStatus": auth_status,
        "authorizedPsnId": auth.authorized,
        "authorizerOrgId": org_id,
        "bodyVersion": BODY_VERSION,
        "effectiveTime": auth.effective_ms,
        "expireTime": auth.expire_ms,
        "sealAuthBizId": auth.biz_id,
        "sealAuthType": "SINGLE_SEAL",
        "sealId": auth.seal_id,
    }


def authorization_signed(auth: EsignAuth, org_id: str, auth_status: int) -> dict[str, Any]:
    """SEAL_AUTH_SIGN (notify3 cxx87o): the letter signed (authConfirmMethod 1), the
    authorisation in force (1) or awaiting its start (3)."""
    return {
        "authConfirmMethod": 1,
        **authorization(auth, org_id, auth_status),
        "signFlowId": auth.sign_flow,
    }
