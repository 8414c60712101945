"""e签宝's seal notifications: checking one is the vendor's (`verify`) and reading it as a seal
event (`parse`). Pure functions: no I/O, no clock (the caller gives `now_ms`, `received_at`).

The rules, from e签宝's pages (docs/vendors.md, "e签宝 seal notifications"):

- The vendor POSTs JSON to the callback URL registered in its console, with the headers
  X-Tsign-Open-App-Id, X-Tsign-Open-TIMESTAMP (epoch ms), X-Tsign-Open-SIGNATURE and
  X-Tsign-Open-SIGNATURE-ALGORITHM (default hmac-sha256).
- The signature is hex(HMAC-SHA256(app secret, timestamp + the callback URL's query values,
  keys sorted by ASCII and values concatenated + the body bytes)). The vendor adds no query
  parameters of its own.
- Any 2xx answer is success; otherwise the vendor retries up to 16 times, resending the body.
- Actions are added over time: a word this module does not know is kept as OTHER.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.domain import ProviderName, SealEventDraft, SealEventSource, SealEventType

# Header names as the vendor writes them; `verify` reads them lower-cased.
HEADER_APP_ID = "X-Tsign-Open-App-Id"
HEADER_TIMESTAMP = "X-Tsign-Open-TIMESTAMP"
HEADER_SIGNATURE = "X-Tsign-Open-SIGNATURE"
HEADER_ALGORITHM = "X-Tsign-Open-SIGNATURE-ALGORITHM"
ALGORITHM = "hmac-sha256"

# The answer the receiving page recommends for a notification taken in (the vendor reads only
# the HTTP status, 200-299, and asks for no spaces in the body).
ACCEPTED_BODY = b'{"code":"200","msg":"success"}'

# Not stated by the notification pages: the gateway's own bound on a timestamp's age (the
# vendor's API requests are valid 15 minutes; the same is used here, configurable by callers).
DEFAULT_WINDOW_MS = 15 * 60 * 1000

# The actions whose pages mark `sealId` as required.
SEAL_ACTIONS = frozenset(
    {
        "SEAL_CREATE",
        "SEAL_AUDIT",
        "SEAL_DELETE",
        "SEAL_AUTH_SIGN",
        "SEAL_AUTH_EFFICTIVE",
        "SEAL_AUTH_CALCEL",
        "SEAL_AUTH_NEARLY_EXPIRED",
        "SEAL_AUTH_INEFFICTIVE",
    }
)
# The vendor's words (spellings its own) and the types they mean. SEAL_AUDIT depends on its
# auditStatus; SEAL_AUTH_SIGN says only that the letter was signed ("not necessarily in effect
# yet", its page says; SEAL_AUTH_EFFICTIVE follows when it is): OTHER.
ACTION_TYPES: dict[str, SealEventType] = {
    "SEAL_CREATE": SealEventType.CREATED,
    "SEAL_DELETE": SealEventType.DELETED,
    "SEAL_AUTH_EFFICTIVE": SealEventType.AUTHORIZATION_GRANTED,
    "SEAL_AUTH_CALCEL": SealEventType.AUTHORIZATION_REVOKED,
    "SEAL_AUTH_NEARLY_EXPIRED": SealEventType.AUTHORIZATION_EXPIRING,
    "SEAL_AUTH_INEFFICTIVE": SealEventType.AUTHORIZATION_EXPIRED,
}
AUDIT_TYPES = {"1": SealEventType.REVIEW_PASSED, "0": SealEventType.REVIEW_REJECTED}
# The fields naming the organisation whose seal it is: `orgId` (SEAL_CREATE, SEAL_AUDIT,
# SEAL_DELETE on an organisation's seal) and `authorizerOrgId` (the SEAL_AUTH_* pages: the
# organisation granting the use of its seal). `authorizedOrgId`, the organisation a seal is
# lent to, is another organisation by design and is not checked.
ORG_FIELDS = ("orgId", "authorizerOrgId")
# The plain facts kept beside the type, as the vendor gave them (never the whole body).
DETAIL_FIELDS = (
    "sealName",
    "sealBizType",
    "sealCreateMode",
    "sealStatus",
    "auditStatus",
    "statusDescription",
    "rejectReason",
    "sealAuthBizId",
    "sealAuthType",
    "authStatus",
    "authConfirmMethod",
    "authorizerOrgId",
    "authorizedPsnId",
    "authorizedOrgId",
    "orgId",
    "psnId",
    "effectiveTime",
    "expireTime",
    "signFlowId",
)
MAX_DETAIL_CHARS = 200
MAX_WORD_CHARS = 64


class NotificationRefused(Exception):
    """A notification the gateway does not take: `status` is the HTTP answer (401 not the
    vendor's, 400 not a notification, 403 another organisation's seal) and `reason` a line
    safe to log (no secret, no signature, no body)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def notification_signature(
    timestamp: str, query: Sequence[tuple[str, str]], body: bytes, app_secret: str
) -> str:
    """Lowercase hex HMAC-SHA256, keyed by the app secret, over the timestamp, the callback
    URL's query values (keys in ASCII order, values concatenated, nothing between them) and the
    body's bytes as received."""
    values = "".join(value for _, value in sorted(query, key=lambda pair: pair[0]))
    message = timestamp.encode() + values.encode() + body
    return hmac.new(app_secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    headers: Mapping[str, str],
    query: Sequence[tuple[str, str]],
    body: bytes,
    *,
    app_id: str,
    app_secret: str,
    now_ms: int,
    window_ms: int = DEFAULT_WINDOW_MS,
) -> None:
    """Returns when the notification is this app's and signed by its secret within the window;
    else raises NotificationRefused(401). `headers` has lower-cased keys; `query` is the
    callback URL's query as received (decoded values)."""
    given_app = headers.get(HEADER_APP_ID.lower())
    if not given_app:
        raise NotificationRefused(401, f"no {HEADER_APP_ID} header")
    if given_app != app_id:
        raise NotificationRefused(401, f"{HEADER_APP_ID} is not this tenant's e签宝 app")
    algorithm = headers.get(HEADER_ALGORITHM.lower())
    if algorithm is not None and algorithm.strip().lower() != ALGORITHM:
        raise NotificationRefused(401, f"{HEADER_ALGORITHM} is not {ALGORITHM}")
    stamp = headers.get(HEADER_TIMESTAMP.lower())
    if not stamp:
        raise NotificationRefused(401, f"no {HEADER_TIMESTAMP} header")
    if not (stamp.isascii() and stamp.isdigit()):
        raise NotificationRefused(401, f"{HEADER_TIMESTAMP} is not epoch milliseconds")
    age_ms = now_ms - int(stamp)
    if age_ms > window_ms:
        raise NotificationRefused(401, f"{HEADER_TIMESTAMP} is older than {window_ms} ms")
    if -age_ms > window_ms:
        raise NotificationRefused(401, f"{HEADER_TIMESTAMP} is more than {window_ms} ms ahead")
    given = headers.get(HEADER_SIGNATURE.lower())
    if not given:
        raise NotificationRefused(401, f"no {HEADER_SIGNATURE} header")
    expected = notification_signature(stamp, query, body, app_secret)
    # both sides ASCII: compare_digest takes str; non-ASCII text is refused before it
    candidate = given.strip().lower()
    if not candidate.isascii() or not hmac.compare_digest(expected, candidate):
        raise NotificationRefused(401, f"{HEADER_SIGNATURE} does not match")


def parse(body: bytes, *, org_ids: frozenset[str], received_at: datetime) -> SealEventDraft:
    """The seal event a verified notification tells of. Raises NotificationRefused(400) for a
    body that is not a JSON object with an `action` (or lacks the `sealId` its action's page
    requires) and NotificationRefused(403) for one naming an organisation not in `org_ids`.

    An action no page here knows is kept as OTHER, its seal id "" when it names none."""
    try:
        fields = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise NotificationRefused(400, "the body is not JSON") from None
    if not isinstance(fields, dict):
        raise NotificationRefused(400, "the body is not a JSON object")
    action = fields.get("action")
    if not isinstance(action, str) or not action.strip():
        raise NotificationRefused(400, "the body has no action")
    word = action.strip()[:MAX_WORD_CHARS]
    for name in ORG_FIELDS:
        org = fields.get(name)
        if org not in (None, "") and str(org) not in org_ids:
            raise NotificationRefused(403, f"{word}: {name} is not this tenant's organisation")
    seal_id = fields.get("sealId")
    if not isinstance(seal_id, str) or not seal_id:
        if word in SEAL_ACTIONS:
            raise NotificationRefused(400, f"{word} without a sealId")
        seal_id = ""
    return SealEventDraft(
        provider=ProviderName.ESIGN,
        vendor_seal_id=seal_id,
        type=event_type(word, fields),
        source=SealEventSource.VENDOR_NOTIFICATION,
        occurred_at=_occurred_at(fields, received_at),
        vendor_action=word,
        dedup_key=hashlib.sha256(body).hexdigest(),
        details=_details(fields),
    )


def event_type(action: str, fields: Mapping[str, Any]) -> SealEventType:
    """The type an action means; SEAL_AUDIT by its auditStatus (1 passed, 0 rejected; an int in
    the page's examples, a string in its table: both are read), OTHER for any other word."""
    if action == "SEAL_AUDIT":
        status = fields.get("auditStatus")
        if isinstance(status, bool) or not isinstance(status, int | str):
            return SealEventType.OTHER
        return AUDIT_TYPES.get(str(status).strip(), SealEventType.OTHER)
    return ACTION_TYPES.get(action, SealEventType.OTHER)


def _occurred_at(fields: Mapping[str, Any], received_at: datetime) -> datetime:
    """The seal pages give no time of the event itself (effectiveTime and expireTime are the
    authorisation's period, not when it changed): `received_at`, unless the body carries the
    `timestamp` (epoch ms) the vendor's other notifications carry."""
    stamp = fields.get("timestamp")
    if isinstance(stamp, int) and not isinstance(stamp, bool) and 0 < stamp < 10**14:
        return datetime.fromtimestamp(stamp / 1000, tz=UTC)
    return received_at


def _details(fields: Mapping[str, Any]) -> dict[str, str]:
    details: dict[str, str] = {}
    for name in DETAIL_FIELDS:
        value = fields.get(name)
        if isinstance(value, bool):
            details[name] = "true" if value else "false"
        elif isinstance(value, str | int | float) and value != "":
            details[name] = str(value)[:MAX_DETAIL_CHARS]
    return details
