"""The vendors' rows to domain seals at their edges: empty strings are absent values (null,
never ""), empty or offset-less times, image links with and without `Expires`, and what is
not a time at all (a malformed answer, never a silent null)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from gateway.domain import MalformedAnswer, ProviderName, SealAttr
from gateway.providers import mapping
from gateway.providers.esign import mapping as esign
from gateway.providers.esign.wire import V1Seal, V3ListedSeal, V3SealInfo
from gateway.providers.yunyin import mapping as yunyin
from gateway.providers.yunyin.wire import AuthorRecord, SealRecord

CHINA = timezone(timedelta(hours=8))
SIGNED = "https://files.example/seal.png?Expires=1700000000&Signature=abc"


def test_empty_yunyin_texts_and_times_are_null() -> None:
    row = msgspec.convert(
        {
            "sealId": 7,
            "sealName": "",
            "sealCode": "",
            "sealHorizontalText": "",
            "sealBottomText": "",
            "corpName": "",
            "source": "",
            "sealImageUrl": "",
            "createTime": "",
            "categoryType": "",
        },
        SealRecord,
    )
    seal = yunyin.to_seal(row)
    for attr in ("name", "code", "horizontal_text", "bottom_text", "owner_name", "origin"):
        assert getattr(seal, attr) is None, attr
    assert seal.image is None
    assert seal.created_at is None
    assert seal.biz_type is None


def test_yunyin_texts_are_kept_as_given() -> None:
    row = SealRecord(
        sealId=7, sealName="合同专用章", sealCode="C-1", corpName="甲公司", source="API"
    )
    seal = yunyin.to_seal(row)
    assert (seal.name, seal.code, seal.owner_name, seal.origin) == (
        "合同专用章",
        "C-1",
        "甲公司",
        "API",
    )


def test_yunyin_times_without_an_offset_are_china_time() -> None:
    row = SealRecord(sealId=7, createTime="2024-01-20T10:00:00")
    assert yunyin.to_seal(row).created_at == datetime(2024, 1, 20, 10, tzinfo=CHINA)
    row = SealRecord(sealId=7, createTime="2024-01-20T10:00:00.000+0000")
    assert yunyin.to_seal(row).created_at == datetime(2024, 1, 20, 10, tzinfo=UTC)


@pytest.mark.parametrize("value", ["yesterday", "2024-13-40T10:00:00", "0"])
def test_a_time_that_is_no_time_is_a_malformed_answer(value: str) -> None:
    with pytest.raises(MalformedAnswer):
        yunyin.to_seal(SealRecord(sealId=7, createTime=value))


def test_empty_authorization_fields_are_null() -> None:
    row = AuthorRecord(
        id=1,
        sealId=7,
        userId=3,
        userName="",
        effectiveTime="",
        expireTime="",
        createTime="",
        authorRole="",
        templates="",
    )
    authorization = yunyin.to_authorization(row)
    assert authorization.user_name is None
    assert authorization.effective_at is None
    assert authorization.expires_at is None
    assert authorization.created_at is None
    assert authorization.role is None
    assert authorization.templates == ()


def test_an_image_link_without_expires_has_no_expiry_unless_the_vendor_documents_one() -> None:
    plain = mapping.image_link("https://files.example/seal.png", None)
    assert plain is not None
    assert plain.expires_at is None
    other = mapping.image_link("https://files.example/seal.png?x=1", None)
    assert other is not None
    assert other.expires_at is None
    before = time.time()
    documented = mapping.image_link("https://files.example/seal.png", 3600)
    assert documented is not None
    assert documented.expires_at is not None
    assert before + 3600 <= documented.expires_at.timestamp() <= time.time() + 3600


def test_an_image_link_with_expires_expires_then() -> None:
    link = mapping.image_link(SIGNED, 3600)
    assert link is not None
    assert link.expires_at == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    # an `Expires` that is not epoch seconds: the documented validity, not a crash
    odd = mapping.image_link("https://files.example/s.png?Expires=soon", None)
    assert odd is not None
    assert odd.expires_at is None
    mapped = yunyin.to_seal(SealRecord(sealId=7, sealImageUrl=SIGNED)).image
    assert mapped is not None
    assert mapped.expires_at == link.expires_at


def test_no_image_at_all() -> None:
    assert mapping.image_link(None, 3600) is None
    assert mapping.image_link("", 3600) is None


def test_esign_v1_rows_leave_what_they_lack_unknown() -> None:
    seal = esign.from_v1(V1Seal(sealId="s1", alias=""))
    assert SealAttr.NAME not in seal.known  # v3 completes it when asked
    assert SealAttr.CREATED_AT not in seal.known
    named = esign.from_v1(V1Seal(sealId="s1", alias="公章", url="", createDate=1_700_000_000_000))
    assert named.name == "公章"
    assert named.image is None
    assert SealAttr.IMAGE in named.known
    assert named.created_at == datetime.fromtimestamp(1_700_000_000, tz=UTC)


def test_empty_esign_v3_texts_are_null() -> None:
    detail = esign.from_v3(
        V3SealInfo(
            sealId="s1",
            sealName="",
            sealBizTypeDescription="",
            statusDescription="",
            rejectReason="",
            sealImageDownloadUrl="",
        )
    )
    assert detail.name is None
    assert detail.biz_type_label is None
    assert detail.status_label is None
    assert detail.reject_reason is None
    assert detail.watermarked_image is None
    listed = esign.from_v3_list(V3ListedSeal(sealId="s1", sealName="", sealBizTypeDescription=""))
    assert listed.name is None
    assert listed.biz_type_label is None


def test_esign_v3_image_links_expire_as_the_vendor_documents() -> None:
    before = time.time()
    detail = esign.from_v3(V3SealInfo(sealId="s1", sealImageDownloadUrl="https://x/s.png"))
    image = detail.watermarked_image
    assert image is not None
    assert image.watermarked
    assert image.expires_at is not None
    assert image.expires_at.timestamp() >= before + esign.V3_URL_VALID_S
    signed = esign.from_v3(V3SealInfo(sealId="s1", sealImageDownloadUrl=SIGNED)).watermarked_image
    assert signed is not None
    assert signed.expires_at == datetime.fromtimestamp(1_700_000_000, tz=UTC)


@pytest.mark.parametrize("value", [10**20, -(10**20)])
def test_an_epoch_no_calendar_holds_is_a_malformed_answer(value: int) -> None:
    with pytest.raises(MalformedAnswer):
        mapping.from_epoch_ms(ProviderName.ESIGN, "sealCreateTime", value)


def test_no_epoch_is_no_time() -> None:
    assert mapping.from_epoch_ms(ProviderName.ESIGN, "sealCreateTime", None) is None
    assert mapping.from_iso(ProviderName.YUNYIN, "createTime", None, CHINA) is None
    assert mapping.from_iso(ProviderName.YUNYIN, "createTime", "", CHINA) is None
