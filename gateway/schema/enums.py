"""GraphQL enums for the domain's vocabularies, each value described with the vendors' terms."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

import strawberry

E = TypeVar("E", bound=Enum)


# Each enum's members by name, read without `EnumType.__getitem__` and the `name` property
# (two Python-level calls per conversion, and a page of seals converts a few per seal).
_MEMBERS: dict[type[Enum], dict[str, Enum]] = {}


def convert(target: type[E], value: Enum) -> E:
    """The same-named member of another enum (schema <-> domain)."""
    members = _MEMBERS.get(target)
    if members is None:
        members = _MEMBERS[target] = dict(target.__members__)
    member: E = members[value._name_]  # type: ignore[assignment]
    return member


@strawberry.enum(description="The vendor a seal lives at.")
class Provider(Enum):
    ESIGN = strawberry.enum_value(
        "esign", description="e签宝 (eSign): listed through open API v1, detailed through v3."
    )
    YUNYIN = strawberry.enum_value("yunyin", description="云银签 (YunYinSign): the /seal/* API.")


@strawberry.enum(description="What a seal is for (e签宝 v3 sealBizType, 云银签 categoryType).")
class SealBizType(Enum):
    PUBLIC = strawberry.enum_value("PUBLIC", description="Official company seal, 公章.")
    CONTRACT = strawberry.enum_value("CONTRACT", description="Contract seal, 合同专用章.")
    FINANCE = strawberry.enum_value("FINANCE", description="Finance seal, 财务专用章.")
    PERSONNEL = strawberry.enum_value(
        "PERSONNEL", description="Personnel/HR seal, 人事专用章 (e签宝 PERSONNEL, 云银签 HR)."
    )
    LEGAL_PERSON = strawberry.enum_value(
        "LEGAL_PERSON", description="Legal representative's seal, 法定代表人章."
    )
    OTHER = strawberry.enum_value(
        "OTHER", description="Any other seal, 其他 (e签宝 COMMON, 云银签 OTHER)."
    )


@strawberry.enum(
    description="Where a seal stands in its life (both vendors use codes 1-4; e签宝 adds 6)."
)
class SealStatus(Enum):
    ENABLED = strawberry.enum_value("ENABLED", description="In use, 已启用 (1).")
    AWAITING_REVIEW = strawberry.enum_value(
        "AWAITING_REVIEW", description="Uploaded image seal waiting for review, 待审核 (2)."
    )
    REJECTED = strawberry.enum_value(
        "REJECTED", description="Review rejected, 审核不通过 (3); see `rejectReason`."
    )
    SUSPENDED = strawberry.enum_value(
        "SUSPENDED", description="Suspended or disabled, 挂起 / 已停用 (4)."
    )
    REVOKED = strawberry.enum_value(
        "REVOKED",
        description="Deleted after it was used, its usage records kept, 已吊销 (e签宝 6). "
        "Listed only when `seals(filter: {includeRevoked: true})` asks for them.",
    )


@strawberry.enum(description="How a seal was made.")
class SealStyle(Enum):
    TEMPLATE = strawberry.enum_value(
        "TEMPLATE", description="Drawn by the vendor from a template, 模板章."
    )
    IMAGE = strawberry.enum_value("IMAGE", description="Made from an uploaded image, 图片章.")


@strawberry.enum(description="The shape of a template seal.")
class TemplateShape(Enum):
    ROUND = strawberry.enum_value("ROUND", description="Round, 圆形.")
    OVAL = strawberry.enum_value("OVAL", description="Oval, 椭圆.")
    DOUBLE_OVAL = strawberry.enum_value(
        "DOUBLE_OVAL", description="Double oval, 双椭圆 (e签宝 PUBLIC_TWO_OVAL, COMMON_TWO_OVAL)."
    )
    SQUARE = strawberry.enum_value(
        "SQUARE", description="Square, text across, 横排正方形 (e签宝 FINANCE_SQUARE_HORIZONTAL)."
    )
    SQUARE_VERTICAL = strawberry.enum_value(
        "SQUARE_VERTICAL",
        description="Square, text downwards, 竖排正方形 (e签宝 FINANCE_SQUARE_VERTICAL).",
    )


@strawberry.enum(description="Seal ink colour.")
class SealColor(Enum):
    RED = strawberry.enum_value("RED", description="Red, 红色.")
    BLUE = strawberry.enum_value("BLUE", description="Blue, 蓝色.")
    BLACK = strawberry.enum_value("BLACK", description="Black, 黑色.")
    PURPLE = strawberry.enum_value("PURPLE", description="Purple, 紫色.")


@strawberry.enum(description="The unit of a size.")
class SizeUnit(Enum):
    PIXEL = strawberry.enum_value("PIXEL", description="Image pixels.")
    MILLIMETRE = strawberry.enum_value("MILLIMETRE", description="Millimetres on paper.")


@strawberry.enum(description="What an authorised person may do with a seal.")
class AuthorizationRole(Enum):
    USER = strawberry.enum_value("USER", description="May use the seal, 使用员 (SEAL_USER).")
    EXAMINER = strawberry.enum_value(
        "EXAMINER", description="Approves its use, 审批员 (SEAL_EXAMINER)."
    )


@strawberry.enum(description="Which contracts an authorisation covers.")
class AuthorizationScope(Enum):
    ALL_CONTRACTS = strawberry.enum_value(
        "ALL_CONTRACTS", description="Every contract, 全部合同 (authorRange 0)."
    )
    LISTED_TEMPLATES = strawberry.enum_value(
        "LISTED_TEMPLATES",
        description="Only contracts from the listed templates, 指定模板 (authorRange 1).",
    )


@strawberry.enum(description="An operation a provider may support. Ask before offering it in a UI.")
class SealOperation(Enum):
    LIST_AUTHORIZATIONS = strawberry.enum_value(
        "LIST_AUTHORIZATIONS", description="List who is authorised to use a seal."
    )
    AUTHORIZE = strawberry.enum_value("AUTHORIZE", description="Authorise people to use a seal.")
    CREATE_FROM_TEMPLATE = strawberry.enum_value(
        "CREATE_FROM_TEMPLATE", description="Create a seal from a template."
    )
    CREATE_FROM_IMAGE = strawberry.enum_value(
        "CREATE_FROM_IMAGE", description="Create a seal from an uploaded image."
    )
    UPLOAD_IMAGE = strawberry.enum_value("UPLOAD_IMAGE", description="Upload a seal image.")
    PREVIEW = strawberry.enum_value("PREVIEW", description="Preview a seal before creating it.")
    RENAME = strawberry.enum_value("RENAME", description="Rename a seal.")
    SET_DEFAULT = strawberry.enum_value("SET_DEFAULT", description="Make a seal the default.")
    DELETE = strawberry.enum_value("DELETE", description="Delete a seal.")
    MANAGEMENT_URL = strawberry.enum_value(
        "MANAGEMENT_URL", description="Get a link to the vendor's seal management page."
    )
    ENABLE = strawberry.enum_value("ENABLE", description="Enable a disabled seal again.")
    DISABLE = strawberry.enum_value("DISABLE", description="Disable (stop) a seal.")
    REVOKE_AUTHORIZATION = strawberry.enum_value(
        "REVOKE_AUTHORIZATION", description="Revoke an authorisation."
    )
    CHANGE_AUTHORIZATION_PERIOD = strawberry.enum_value(
        "CHANGE_AUTHORIZATION_PERIOD", description="Change when an authorisation is in force."
    )


@strawberry.enum(description="What deleting a seal did.")
class DeleteOutcome(Enum):
    DELETED = strawberry.enum_value(
        "DELETED", description="The seal is gone (e签宝 `delete`: it was never used; 云银签)."
    )
    REVOKED = strawberry.enum_value(
        "REVOKED",
        description="The seal was used before: revoked, its usage records kept (e签宝 "
        "`revoke`, 已吊销); still listed with `includeRevoked`.",
    )


@strawberry.enum(description="Whether an authorisation lets its holder use the seal now.")
class AuthorizationStatus(Enum):
    IN_FORCE = strawberry.enum_value(
        "IN_FORCE", description="In force, 正常 (e签宝 authorizeStatus 1)."
    )
    PENDING = strawberry.enum_value(
        "PENDING",
        description="Not yet in force: its letter awaits signing (e签宝 expireReason NOT_SIGN) "
        "or its start is ahead, 待生效 (authorizeStatus 3). See `statusReason`.",
    )
    LAPSED = strawberry.enum_value(
        "LAPSED", description="No longer in force, 失效 (authorizeStatus 0). See `statusReason`."
    )


@strawberry.enum(description="Why an authorisation is not in force (e签宝 expireReason).")
class AuthorizationStatusReason(Enum):
    LETTER_NOT_SIGNED = strawberry.enum_value(
        "LETTER_NOT_SIGNED",
        description="Saved, but the authorisation letter is not signed yet (NOT_SIGN): see "
        "`signUrl`.",
    )
    NOT_YET_EFFECTIVE = strawberry.enum_value(
        "NOT_YET_EFFECTIVE", description="Its start is ahead (WAIT_EFFECTIVE)."
    )
    EXPIRED = strawberry.enum_value("EXPIRED", description="Its period is over (EXPIRED).")
    ORGANIZATION_ACCOUNT_CHANGED = strawberry.enum_value(
        "ORGANIZATION_ACCOUNT_CHANGED",
        description="The granting organisation's account changed (GRANT_ORG_ACCOUNT_UPDATE).",
    )
    GRANTER_ACCOUNT_CHANGED = strawberry.enum_value(
        "GRANTER_ACCOUNT_CHANGED",
        description="The granting person's account changed (GRANTER_ACCOUNT_UPDATE).",
    )
    GRANTEE_ACCOUNT_CHANGED = strawberry.enum_value(
        "GRANTEE_ACCOUNT_CHANGED",
        description="The authorised person's account changed (GRANTED_ACCOUNT_UPDATE).",
    )


@strawberry.enum(description="What happened to a seal (`sealEvents`).")
class SealEventType(Enum):
    CREATED = strawberry.enum_value(
        "CREATED", description="A seal was made (e签宝 SEAL_CREATE; a new 云银签 seal)."
    )
    DELETED = strawberry.enum_value(
        "DELETED", description="A seal was deleted (e签宝 SEAL_DELETE; gone from 云银签's list)."
    )
    UPDATED = strawberry.enum_value(
        "UPDATED",
        description="A seal changed: its name, its status (enabled, disabled), or one of its "
        "authorisations' periods. `details` says what.",
    )
    DEFAULT_CHANGED = strawberry.enum_value(
        "DEFAULT_CHANGED", description="The seal became, or stopped being, the default seal."
    )
    REVIEW_PASSED = strawberry.enum_value(
        "REVIEW_PASSED",
        description="An image seal passed e签宝's review (SEAL_AUDIT, auditStatus 1): 已启用.",
    )
    REVIEW_REJECTED = strawberry.enum_value(
        "REVIEW_REJECTED",
        description="An image seal failed e签宝's review (SEAL_AUDIT, auditStatus 0); "
        "`details` has the reason (rejectReason).",
    )
    AUTHORIZATION_GRANTED = strawberry.enum_value(
        "AUTHORIZATION_GRANTED",
        description="An authorisation to use the seal was made or took effect "
        "(e签宝 SEAL_AUTH_EFFICTIVE, after the letter is signed).",
    )
    AUTHORIZATION_REVOKED = strawberry.enum_value(
        "AUTHORIZATION_REVOKED",
        description="An authorisation was cancelled (e签宝 SEAL_AUTH_CALCEL).",
    )
    AUTHORIZATION_EXPIRING = strawberry.enum_value(
        "AUTHORIZATION_EXPIRING",
        description="An authorisation nears its end (e签宝 SEAL_AUTH_NEARLY_EXPIRED).",
    )
    AUTHORIZATION_EXPIRED = strawberry.enum_value(
        "AUTHORIZATION_EXPIRED",
        description="An authorisation is no longer in force (e签宝 SEAL_AUTH_INEFFICTIVE).",
    )
    OTHER = strawberry.enum_value(
        "OTHER",
        description="Something the gateway has no type for (a vendor action added after this "
        "release): `vendorAction` has the vendor's word.",
    )


@strawberry.enum(description="How the gateway learnt of a seal event.")
class SealEventSource(Enum):
    VENDOR_NOTIFICATION = strawberry.enum_value(
        "VENDOR_NOTIFICATION",
        description="The vendor told it: a signed e签宝 notification (回调通知).",
    )
    CHANGE_DETECTED = strawberry.enum_value(
        "CHANGE_DETECTED",
        description="It saw the difference between two listings of the vendor's seals "
        "(云银签, which sends no notifications; every SEALGW_CHANGE_POLL_SECONDS).",
    )
    GATEWAY_WRITE = strawberry.enum_value(
        "GATEWAY_WRITE",
        description="A write through this gateway; `actor`, `outcome` and `requestId` say "
        "who, how it ended and which request.",
    )
