"""e签宝's answers as typed models, field by field as the seed pages give them (UPSTREAMS.md).

Every field but the ids is optional, as the pages mark them; an id is required and non-empty,
so a row without one is a malformed answer, not a seal called "None"."""

from __future__ import annotations

import msgspec

from gateway.providers.wire import Filled


class V1Seal(msgspec.Struct, frozen=True):
    """A row of `GET /v1/organizations/{orgId}/seals`."""

    sealId: Filled
    alias: str | None = None
    createDate: int | None = None
    defaultFlag: bool | None = None
    fileKey: str | None = None
    width: int | None = None
    height: int | None = None
    sealType: int | None = None
    url: str | None = None
    # v1's own vocabulary: COMMON or CANCELLATION only (not v3's business types).
    sealBizType: str | None = None
    status: int | None = None
    reason: str | None = None
    sealUserFlag: bool | None = None


class V1SealPage(msgspec.Struct, frozen=True):
    total: int = 0
    seals: list[V1Seal] | None = None


class V3SealInfo(msgspec.Struct, frozen=True):
    """`data` of `GET /v3/seals/org-seal-info`."""

    sealId: Filled
    sealName: str | None = None
    sealCreateTime: int | None = None
    defaultSealFlag: bool | None = None
    sealWidth: float | None = None
    sealHeight: float | None = None
    sealBizType: str | None = None
    sealBizTypeDescription: str | None = None
    sealStyle: int | None = None
    sealStatus: int | None = None
    statusDescription: str | None = None
    rejectReason: str | None = None
    sealImageDownloadUrl: str | None = None


class AccessToken(msgspec.Struct, frozen=True):
    """`data` of `GET /v1/oauth2/access_token`; `expiresIn` is epoch ms, as text or a number."""

    token: Filled
    expiresIn: int
    refreshToken: str | None = None


class CreatedSeal(msgspec.Struct, frozen=True):
    """`data` of `POST /v3/seals/org-seals/create-by-template` and `create-by-image`: the new
    seal's id (when absent, the seal is found by its unique name)."""

    sealId: str | None = None


class DeletedSeal(msgspec.Struct, frozen=True):
    """`data` of `DELETE /v3/seals/org-seal`: `delete` (never used, removed) or `revoke` (used
    before: revoked, its usage records kept)."""

    sealStatus: str | None = None


class FileKey(msgspec.Struct, frozen=True):
    """`data` of `POST /v3/files/file-key`: the image's key, and where to PUT its bytes (valid
    60 minutes)."""

    fileKey: Filled
    fileUploadUrl: Filled


class FileUploaded(msgspec.Struct, frozen=True):
    """The answer of the PUT to `fileUploadUrl`: `errCode` 0 for success."""

    errCode: int
    msg: str | None = None


class ManageUrl(msgspec.Struct, frozen=True):
    """`data` of `POST /v3/seals/org-seals-manage-url` (valid 30 minutes)."""

    orgSealManageUrl: Filled


class AuthTemplate(msgspec.Struct, frozen=True):
    """`sealAuthScope.template`: a template id (or ALL), or developer app ids."""

    templateId: str | None = None
    applicationsIds: str | None = None


class AuthScope(msgspec.Struct, frozen=True):
    template: AuthTemplate | None = None
    autoSign: bool | None = None


class InternalAuth(msgspec.Struct, frozen=True):
    """A row of `GET /v3/seals/org-seals/internal-auth`, the fields its page shows."""

    sealId: Filled
    sealAuthBizId: Filled
    authorizedPsnId: Filled
    authorizerPsnId: str | None = None
    sealRole: str | None = None
    # 0 lapsed, 1 in force, 3 awaiting effect
    authorizeStatus: int | None = None
    statusDescription: str | None = None
    # NOT_EXPIRE, NOT_SIGN, WAIT_EFFECTIVE, EXPIRED, *_ACCOUNT_UPDATE
    expireReason: str | None = None
    expireReasonDescription: str | None = None
    longTermEffective: bool | None = None
    effectiveTime: int | None = None
    expireTime: int | None = None
    signFlowId: str | None = None
    sealAuthScope: AuthScope | None = None


class AuthBizInfo(msgspec.Struct, frozen=True):
    authorizedPsnId: str | None = None
    sealAuthBizId: str | None = None


class Authorized(msgspec.Struct, frozen=True):
    """`data` of `POST /v3/seals/org-seals/internal-auth`."""

    sealAuthBizIds: list[str] | None = None
    sealAuthBizInfos: list[AuthBizInfo] | None = None
    authorizationSignShortUrl: str | None = None
    authorizationSignUrl: str | None = None
    # the transactor's role: 1 administrator or legal representative, 2 member
    sealAuthorizeType: int | None = None


class Reauthorized(msgspec.Struct, frozen=True):
    """`data` of `POST /v3/seals/org-seals/reauthorization`: the old id no longer stands."""

    newSealAuthBizId: Filled
    authorizationSignShortUrl: str | None = None
    authorizationSignUrl: str | None = None


class SignUrl(msgspec.Struct, frozen=True):
    """`data` of `GET /v3/seals/org-seals/authorization-sign-url`."""

    authorizationSignShortUrl: str | None = None
    authorizationSignUrl: str | None = None


class InternalAuthPage(msgspec.Struct, frozen=True):
    total: int = 0
    sealAuthorizedInfos: list[InternalAuth] | None = None


class V3ListedSeal(msgspec.Struct, frozen=True):
    """A row of `GET /v3/seals/org-own-seal-list`: the fields its page shows."""

    sealId: Filled
    sealName: str | None = None
    sealCreateTime: int | None = None
    defaultSealFlag: bool | None = None
    sealHeight: float | None = None
    sealWidth: float | None = None
    sealBizType: str | None = None
    sealBizTypeDescription: str | None = None
    sealStyle: int | None = None
    sealStatus: int | None = None
    statusDescription: str | None = None
    rejectReason: str | None = None
    sealImageDownloadUrl: str | None = None


class V3SealPage(msgspec.Struct, frozen=True):
    total: int = 0
    seals: list[V3ListedSeal] | None = None
