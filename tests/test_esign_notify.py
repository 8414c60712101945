"""e签宝 seal notifications, checked and read (gateway.events.esign_notify): the signature over
timestamp + query values + body, every refusal, and each action's own page example (transcribed
below, from the pages docs/vendors.md lists under "e签宝 seal notifications")."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.domain import ProviderName, SealEventSource, SealEventType
from gateway.events import esign_notify
from gateway.events.esign_notify import NotificationRefused, notification_signature, parse, verify

# The receiving page's own Java example (notify3 "回调通知接收说明": appSecret, timestamp, the
# query values "pinjie001", the body and the signature it expects) does NOT verify: the
# secret and the signature on the page are redacted (runs of "1111" stand in for characters),
# and HMAC-SHA256 of its inputs is dc0cfb43… where the page prints 1a6d2568…. The vector below
# is computed instead, independently of this code, with
#   printf '%s' "1764201600000seal-events-7$BODY" | openssl dgst -sha256 -hmac test-secret
# for a callback URL ending in ?tenant=7&channel=seal-events- (keys in ASCII order: channel,
# tenant; their values concatenated).
PAGE_JAVA_SECRET = "cfbcbb11112e1195655cd70caf3094b8"
PAGE_JAVA_TIMESTAMP = "1729489875363"
PAGE_JAVA_BODY = (
    '{"action":"SIGN_MISSON_COMPLETE","timestamp":1729489875359,'
    '"signFlowId":"903f7ebee9411105b7f01d0b97a5ebf5","customBizNum":"自定义编码001",'
    '"signOrder":1,"operateTime":1729489875000,"signResult":2,"resultDescription":"签署完成",'
    '"organization":{"orgId":"eb75d38e61111c8e964aa308edaa7904","orgName":"霁林测试有限公司"}}'
).encode()
PAGE_JAVA_SIGNATURE = "1a6d2568604be05b1111433e53d59a7337fcd081029950911a347e0b2f4dbef8"

SECRET = "test-secret"
APP = "7438000001"
STAMP = "1764201600000"
NOW = int(STAMP)
QUERY = [("tenant", "7"), ("channel", "seal-events-")]
BODY = (
    '{"action":"SEAL_CREATE","bodyVersion":"V3","customBizNum":"",'
    '"orgId":"c7e0071f8a3b4e5d9c2a6b1f0d4e41e7","sealBizType":"CONTRACT",'
    '"sealCreateMode":"template","sealId":"96977756-0000-4000-8000-f1d5da34b8db",'
    '"sealName":"合同专用章"}'
).encode()
SIGNATURE = "1258f8c4c10ccf76019c60171dacbe15fc0807e7de6f33c1e6410d3460201308"
SIGNATURE_NO_QUERY = "6f1eb37b634d5f07e4eb1e5ac46d3d7ac5e4129d6430f63cd5419163244e8753"

ORG = "0c5bd42***8bfbf"
RECEIVED = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def headers(**changes: str | None) -> dict[str, str]:
    sent = {
        "x-tsign-open-app-id": APP,
        "x-tsign-open-timestamp": STAMP,
        "x-tsign-open-signature": SIGNATURE,
        "x-tsign-open-signature-algorithm": "hmac-sha256",
    }
    for name, value in changes.items():
        key = "x-tsign-open-" + name.replace("_", "-")
        if value is None:
            sent.pop(key)
        else:
            sent[key] = value
    return sent


def check(sent: dict[str, str], *, now: int = NOW, body: bytes = BODY) -> None:
    verify(sent, QUERY, body, app_id=APP, app_secret=SECRET, now_ms=now)


def test_the_page_example_does_not_verify_and_a_computed_vector_does() -> None:
    page = notification_signature(
        PAGE_JAVA_TIMESTAMP, [("orderNo", "001"), ("belong", "pinjie")], PAGE_JAVA_BODY,
        PAGE_JAVA_SECRET,
    )  # fmt: skip
    assert page != PAGE_JAVA_SIGNATURE  # redacted on the page (see above)
    assert notification_signature(STAMP, QUERY, BODY, SECRET) == SIGNATURE
    assert notification_signature(STAMP, [], BODY, SECRET) == SIGNATURE_NO_QUERY
    # the query's order as sent does not matter, its keys' order does
    assert notification_signature(STAMP, QUERY[::-1], BODY, SECRET) == SIGNATURE


def test_a_good_notification_verifies() -> None:
    check(headers())
    check(headers(signature=SIGNATURE.upper()))  # the .NET example's hex is upper case
    check(headers(signature_algorithm=None))  # the default algorithm
    check(headers(signature_algorithm="HMAC-SHA256"))
    verify(
        headers(signature=SIGNATURE_NO_QUERY), [], BODY, app_id=APP, app_secret=SECRET, now_ms=NOW
    )
    # at the window's edges, on either side
    check(headers(), now=NOW + 15 * 60 * 1000)
    check(headers(), now=NOW - 15 * 60 * 1000)


@pytest.mark.parametrize(
    ("sent", "now", "body", "why"),
    [
        (headers(app_id=None), NOW, BODY, "no X-Tsign-Open-App-Id"),
        (headers(app_id="another-app"), NOW, BODY, "not this tenant's"),
        (headers(app_id=""), NOW, BODY, "no X-Tsign-Open-App-Id"),
        (headers(timestamp=None), NOW, BODY, "no X-Tsign-Open-TIMESTAMP"),
        (headers(timestamp="yesterday"), NOW, BODY, "not epoch milliseconds"),
        (headers(timestamp="-5"), NOW, BODY, "not epoch milliseconds"),
        (headers(timestamp="١٧٦٤"), NOW, BODY, "not epoch milliseconds"),
        (headers(), NOW + 15 * 60 * 1000 + 1, BODY, "older than"),
        (headers(), NOW - 15 * 60 * 1000 - 1, BODY, "ahead"),
        (headers(signature=None), NOW, BODY, "no X-Tsign-Open-SIGNATURE"),
        (headers(signature="0" * 64), NOW, BODY, "does not match"),
        (headers(signature="签名"), NOW, BODY, "does not match"),
        (headers(signature=SIGNATURE_NO_QUERY), NOW, BODY, "does not match"),
        (headers(), NOW, BODY + b" ", "does not match"),
        (headers(signature_algorithm="hmac-sha1"), NOW, BODY, "is not hmac-sha256"),
    ],
)
def test_refusals_are_401_with_a_safe_reason(
    sent: dict[str, str], now: int, body: bytes, why: str
) -> None:
    with pytest.raises(NotificationRefused) as refused:
        check(sent, now=now, body=body)
    assert refused.value.status == 401
    assert why in refused.value.reason
    for secret in (SECRET, SIGNATURE, BODY.decode()):
        assert secret not in refused.value.reason
        assert secret not in str(refused.value)


def test_the_secret_is_the_tenants() -> None:
    with pytest.raises(NotificationRefused) as refused:
        verify(headers(), QUERY, BODY, app_id=APP, app_secret="another-secret", now_ms=NOW)
    assert refused.value.status == 401


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[str, str]] = []

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(esign_notify.hmac, "compare_digest", spy)
    check(headers())
    with pytest.raises(NotificationRefused):
        check(headers(signature="f" * 64))
    assert compared == [(SIGNATURE, SIGNATURE), (SIGNATURE, "f" * 64)]


# --- reading: each action's page example --------------------------------------------------

# (the page, its example body, the type, the seal id); the org ids are the examples' own.
PAGE_EXAMPLES: list[tuple[str, dict[str, Any], SealEventType]] = [
    (
        "SEAL_CREATE (qgn8c6), an organisation's template seal",
        {
            "action": "SEAL_CREATE",
            "bodyVersion": "V3",
            "customBizNum": "这是一串开发者内部系统自定义的编号",
            "orgId": "0c5bd42***8bfbf",
            "sealBizType": "CONTRACT",
            "sealCreateMode": "template",
            "sealId": "96977756-xx-xx-xx-f1d5da34b8db",
            "sealName": "xx企业合同专用章",
        },
        SealEventType.CREATED,
    ),
    (
        "SEAL_CREATE (qgn8c6), a person's template seal",
        {
            "action": "SEAL_CREATE",
            "bodyVersion": "V3",
            "customBizNum": "这是一串开发者内部系统自定义的编号",
            "psnId": "c7e0029***541e7",
            "sealBizType": "COMMON",
            "sealCreateMode": "template",
            "sealId": "407ebea9-xx-xx-xx-6edd90bace74",
            "sealName": "个人自定义印章",
        },
        SealEventType.CREATED,
    ),
    (
        "SEAL_AUDIT (fygpxq), passed",
        {
            "action": "SEAL_AUDIT",
            "auditStatus": 1,
            "bodyVersion": "V3",
            "psnId": "c7e00294**41e7",
            "rejectReason": "",
            "sealBizType": "COMMON",
            "sealId": "af80ba0f-xx-xx-xx-a2da292d7f7f",
            "sealName": "赵四的图片印章",
            "statusDescription": "通过",
        },
        SealEventType.REVIEW_PASSED,
    ),
    (
        "SEAL_AUDIT (fygpxq), rejected",
        {
            "action": "SEAL_AUDIT",
            "auditStatus": 0,
            "bodyVersion": "V3",
            "psnId": "c7e00294***41e7",
            "rejectReason": "印章内容不符合要求，请重新修改。",
            "sealBizType": "COMMON",
            "sealId": "61af34af-xx-xx-xx-7039b6c110a5",
            "sealName": "赵四的图片印章2",
            "statusDescription": "驳回",
        },
        SealEventType.REVIEW_REJECTED,
    ),
    (
        "SEAL_DELETE (aupwbb)",
        {
            "action": "SEAL_DELETE",
            "bodyVersion": "V3",
            "orgId": "3c4047cc32b24ca111445940279134e7",
            "sealBizType": "PERSONNEL",
            "sealCreateMode": "template",
            "sealId": "146530fe-816d-1111-b3ba-3a9616f70833",
            "sealName": "测试人事专用章",
            "sealStatus": "delete",
        },
        SealEventType.DELETED,
    ),
    (
        "SEAL_AUTH_SIGN (cxx87o), a member's letter signed",
        {
            "action": "SEAL_AUTH_SIGN",
            "authConfirmMethod": 0,
            "authStatus": 1,
            "authorizedPsnId": "c92520ec*****62246bd9b50f",
            "authorizerOrgId": "4851f8*****965a694d37c3de60",
            "bodyVersion": "V3",
            "effectiveTime": 1731168000000,
            "expireTime": 1733846399000,
            "sealAuthBizId": "b41fb868-****-43c6-b9ba-97f0ab520f5b",
            "sealAuthType": "SINGLE_SEAL",
            "sealId": "cbcb084b-fe9d-****-b2a8-759c6dac8e98",
        },
        SealEventType.OTHER,
    ),
    (
        "SEAL_AUTH_EFFICTIVE (cwpqgv), a member",
        {
            "action": "SEAL_AUTH_EFFICTIVE",
            "authStatus": 1,
            "authorizedPsnId": "7ffcaed8***f0a8f6",
            "authorizerOrgId": "0c5bd492**5648bfbf",
            "effectiveTime": 1636473600000,
            "expireTime": 1668095999000,
            "bodyVersion": "V3",
            "sealAuthBizId": "df2d861b-xx-xx-xx-21f34da000fd",
            "sealAuthType": "SINGLE_SEAL",
            "sealId": "a1ccfad7-xx-xx-xx-84c51bf3a7e4",
        },
        SealEventType.AUTHORIZATION_GRANTED,
    ),
    (
        "SEAL_AUTH_EFFICTIVE (cwpqgv), every seal to the transactor (PLATFORM_BATCH)",
        {
            "action": "SEAL_AUTH_EFFICTIVE",
            "authStatus": 1,
            "authorizedPsnId": "c92520e*****bd9b50f",
            "authorizerOrgId": "3c4047*******79134e7",
            "bodyVersion": "V3",
            "effectiveTime": 1697040000000,
            "expireTime": 1728662399000,
            "sealAuthBizId": "OF-2a7*****5a",
            "sealAuthType": "PLATFORM_BATCH",
            "sealId": "CURRENT_ALL",
        },
        SealEventType.AUTHORIZATION_GRANTED,
    ),
    (
        "SEAL_AUTH_CALCEL (wohggc), a member",
        {
            "action": "SEAL_AUTH_CALCEL",
            "authStatus": 2,
            "authorizedPsnId": "50d5eda394***b1bd29c",
            "authorizerOrgId": "0c5bd49***1d5648bfbf",
            "effectiveTime": 1636473600000,
            "expireTime": 1668095999000,
            "bodyVersion": "V3",
            "sealAuthBizId": "04e589b8-xx-xx-xx-ba8f1f689d3e",
            "sealAuthType": "SINGLE_SEAL",
            "sealId": "a1ccfad7-xx-xx-xx-84c51bf3a7e4",
        },
        SealEventType.AUTHORIZATION_REVOKED,
    ),
    (
        "SEAL_AUTH_NEARLY_EXPIRED (qg1ayb), another organisation",
        {
            "action": "SEAL_AUTH_NEARLY_EXPIRED",
            "authStatus": 1,
            "authorizedOrgId": "a3d101cc***ad28582e",
            "authorizerOrgId": "0c5bd492***5648bfbf",
            "effectiveTime": 1636473600000,
            "expireTime": 1668095999000,
            "bodyVersion": "V3",
            "sealAuthBizId": "e636c8b7-xx-xx-xx-54449757c4cd",
            "sealAuthType": "SINGLE_SEAL",
            "sealId": "f4942dd1-xx-xx-xx-a3623c32b84b",
        },
        SealEventType.AUTHORIZATION_EXPIRING,
    ),
    (
        # uwge4w's own text was not available: its siblings' fields, authStatus 0 (失效)
        "SEAL_AUTH_INEFFICTIVE (uwge4w; shape unconfirmed)",
        {
            "action": "SEAL_AUTH_INEFFICTIVE",
            "authStatus": 0,
            "authorizedPsnId": "50d5eda394***b1bd29c",
            "authorizerOrgId": "0c5bd49***1d5648bfbf",
            "effectiveTime": 1636473600000,
            "expireTime": 1668095999000,
            "bodyVersion": "V3",
            "sealAuthBizId": "04e589b8-xx-xx-xx-ba8f1f689d3e",
            "sealAuthType": "SINGLE_SEAL",
            "sealId": "a1ccfad7-xx-xx-xx-84c51bf3a7e4",
        },
        SealEventType.AUTHORIZATION_EXPIRED,
    ),
]
# every organisation the examples name, as if they were the tenant's
EXAMPLE_ORGS = frozenset(
    str(example[name])
    for _, example, _ in PAGE_EXAMPLES
    for name in ("orgId", "authorizerOrgId")
    if name in example
)


@pytest.mark.parametrize(
    ("page", "example", "expected"), PAGE_EXAMPLES, ids=[p[0] for p in PAGE_EXAMPLES]
)
def test_each_page_example_reads_as_its_type(
    page: str, example: dict[str, Any], expected: SealEventType
) -> None:
    raw = json.dumps(example, ensure_ascii=False, indent=4).encode()
    draft = parse(raw, org_ids=EXAMPLE_ORGS, received_at=RECEIVED)
    assert draft.type is expected, page
    assert draft.provider is ProviderName.ESIGN
    assert draft.source is SealEventSource.VENDOR_NOTIFICATION
    assert draft.vendor_seal_id == example["sealId"]
    assert draft.vendor_action == example["action"]
    # the seal pages give no time of the event: the time it was received
    assert draft.occurred_at == RECEIVED
    assert draft.dedup_key == hashlib.sha256(raw).hexdigest()
    assert all(isinstance(v, str) for v in draft.details.values())
    for name in ("sealName", "rejectReason", "sealAuthBizId", "authorizedPsnId", "sealStatus"):
        if example.get(name):
            assert draft.details[name] == example[name]
    assert "bodyVersion" not in draft.details
    assert "action" not in draft.details


def test_audit_status_as_text_or_number() -> None:
    def audit(status: object) -> SealEventType:
        body = {"action": "SEAL_AUDIT", "sealId": "S1", "orgId": ORG, "auditStatus": status}
        return parse(json.dumps(body).encode(), org_ids=frozenset({ORG}), received_at=RECEIVED).type

    assert audit(1) is audit("1") is SealEventType.REVIEW_PASSED
    assert audit(0) is audit("0") is SealEventType.REVIEW_REJECTED
    # anything else is kept, as the vendor's word
    assert audit(2) is audit(None) is audit(True) is SealEventType.OTHER


def test_an_unknown_action_is_kept_as_other() -> None:
    body = b'{"action":"SEAL_SUSPEND","sealId":"S9","orgId":"' + ORG.encode() + b'"}'
    draft = parse(body, org_ids=frozenset({ORG}), received_at=RECEIVED)
    assert (draft.type, draft.vendor_action, draft.vendor_seal_id) == (
        SealEventType.OTHER,
        "SEAL_SUSPEND",
        "S9",
    )
    # with no seal named at all: kept, its seal id empty
    draft = parse(b'{"action":"ORG_RENAMED"}', org_ids=frozenset(), received_at=RECEIVED)
    assert (draft.type, draft.vendor_action, draft.vendor_seal_id) == (
        SealEventType.OTHER,
        "ORG_RENAMED",
        "",
    )


def test_a_body_timestamp_is_the_time_it_happened() -> None:
    body = b'{"action":"SEAL_DELETE","sealId":"S1","timestamp":1731050570000}'
    draft = parse(body, org_ids=frozenset(), received_at=RECEIVED)
    assert draft.occurred_at == datetime(2024, 11, 8, 7, 22, 50, tzinfo=UTC)
    assert draft.occurred_at.tzinfo is not None


def test_a_retry_is_the_same_event() -> None:
    orgs = frozenset({"c7e0071f8a3b4e5d9c2a6b1f0d4e41e7"})
    first = parse(BODY, org_ids=orgs, received_at=RECEIVED)
    again = parse(BODY, org_ids=orgs, received_at=datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
    assert first.dedup_key == again.dedup_key == hashlib.sha256(BODY).hexdigest()


@pytest.mark.parametrize(
    ("body", "status", "why"),
    [
        (b"", 400, "not JSON"),
        (b"action=SEAL_CREATE", 400, "not JSON"),
        (b"\xff\xfe{}", 400, "not JSON"),
        (b"[1, 2]", 400, "not a JSON object"),
        (b'"SEAL_CREATE"', 400, "not a JSON object"),
        (b'{"sealId":"S1"}', 400, "no action"),
        (b'{"action":"","sealId":"S1"}', 400, "no action"),
        (b'{"action":7,"sealId":"S1"}', 400, "no action"),
        (b'{"action":"SEAL_CREATE","orgId":"O1"}', 400, "without a sealId"),
        (b'{"action":"SEAL_AUTH_CALCEL","authorizerOrgId":"O1","sealId":""}', 400, "sealId"),
        (b'{"action":"SEAL_DELETE","orgId":"O1","sealId":12}', 400, "without a sealId"),
        (b'{"action":"SEAL_CREATE","orgId":"O2","sealId":"S1"}', 403, "orgId"),
        (b'{"action":"SEAL_AUTH_SIGN","authorizerOrgId":"O2","sealId":"S"}', 403, "authorizer"),
        (b'{"action":"NEW_THING","orgId":"O2"}', 403, "orgId"),
    ],
)  # fmt: skip
def test_bodies_refused(body: bytes, status: int, why: str) -> None:
    with pytest.raises(NotificationRefused) as refused:
        parse(body, org_ids=frozenset({"O1"}), received_at=RECEIVED)
    assert refused.value.status == status
    assert why in refused.value.reason
    if body:  # the reason never repeats the body
        assert body.decode(errors="replace") not in refused.value.reason


def test_a_lent_seal_names_the_borrower_without_refusal() -> None:
    """authorizedOrgId is the organisation a seal is lent to: another one, by design."""
    body = (
        b'{"action":"SEAL_AUTH_EFFICTIVE","authorizerOrgId":"O1","authorizedOrgId":"O2",'
        b'"sealId":"S1","authStatus":1}'
    )
    draft = parse(body, org_ids=frozenset({"O1"}), received_at=RECEIVED)
    assert draft.details["authorizedOrgId"] == "O2"
