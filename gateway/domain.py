"""The provider-neutral vocabulary of the gateway.

Plain dataclasses and enums (and one msgspec Struct, `Seal`, for speed): every layer speaks
these, and this module imports none of them.
Both vendors' spellings are mapped onto these enums by the providers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")


class ProviderName(StrEnum):
    """A seal vendor. The order of the members is the order in which `seals` lists providers."""

    ESIGN = "esign"
    YUNYIN = "yunyin"

    @property
    def label(self) -> str:
        """The vendor's own name, for messages."""
        return _PROVIDER_LABELS[self]


_PROVIDER_LABELS = {ProviderName.ESIGN: "e签宝", ProviderName.YUNYIN: "云银签"}


PROVIDER_ORDER: tuple[ProviderName, ...] = tuple(ProviderName)


class SealBizType(Enum):
    PUBLIC = "PUBLIC"
    CONTRACT = "CONTRACT"
    FINANCE = "FINANCE"
    PERSONNEL = "PERSONNEL"
    LEGAL_PERSON = "LEGAL_PERSON"
    OTHER = "OTHER"


class SealStatus(Enum):
    ENABLED = "ENABLED"
    AWAITING_REVIEW = "AWAITING_REVIEW"
    REJECTED = "REJECTED"
    SUSPENDED = "SUSPENDED"
    # Deleted after it was used: kept with its usage records (e签宝 sealStatus 6, 已吊销).
    REVOKED = "REVOKED"


class SealStyle(Enum):
    TEMPLATE = "TEMPLATE"
    IMAGE = "IMAGE"


class TemplateShape(Enum):
    ROUND = "ROUND"
    OVAL = "OVAL"
    DOUBLE_OVAL = "DOUBLE_OVAL"
    # square, text across (横排) or down (竖排)
    SQUARE = "SQUARE"
    SQUARE_VERTICAL = "SQUARE_VERTICAL"


class SealColor(Enum):
    RED = "RED"
    BLUE = "BLUE"
    BLACK = "BLACK"
    PURPLE = "PURPLE"


class SizeUnit(Enum):
    PIXEL = "PIXEL"
    MILLIMETRE = "MILLIMETRE"


class AuthorizationRole(Enum):
    USER = "USER"
    EXAMINER = "EXAMINER"


class AuthorizationScope(Enum):
    ALL_CONTRACTS = "ALL_CONTRACTS"
    LISTED_TEMPLATES = "LISTED_TEMPLATES"


class AuthorizationStatus(Enum):
    IN_FORCE = "IN_FORCE"
    PENDING = "PENDING"
    LAPSED = "LAPSED"


class AuthorizationStatusReason(Enum):
    """Why an authorisation is not in force (e签宝 `expireReason`)."""

    LETTER_NOT_SIGNED = "LETTER_NOT_SIGNED"
    NOT_YET_EFFECTIVE = "NOT_YET_EFFECTIVE"
    EXPIRED = "EXPIRED"
    ORGANIZATION_ACCOUNT_CHANGED = "ORGANIZATION_ACCOUNT_CHANGED"
    GRANTER_ACCOUNT_CHANGED = "GRANTER_ACCOUNT_CHANGED"
    GRANTEE_ACCOUNT_CHANGED = "GRANTEE_ACCOUNT_CHANGED"


class Capability(Enum):
    """An operation a provider may or may not offer."""

    LIST_AUTHORIZATIONS = "LIST_AUTHORIZATIONS"
    AUTHORIZE = "AUTHORIZE"
    CREATE_FROM_TEMPLATE = "CREATE_FROM_TEMPLATE"
    CREATE_FROM_IMAGE = "CREATE_FROM_IMAGE"
    UPLOAD_IMAGE = "UPLOAD_IMAGE"
    PREVIEW = "PREVIEW"
    RENAME = "RENAME"
    SET_DEFAULT = "SET_DEFAULT"
    DELETE = "DELETE"
    MANAGEMENT_URL = "MANAGEMENT_URL"
    ENABLE = "ENABLE"
    DISABLE = "DISABLE"
    REVOKE_AUTHORIZATION = "REVOKE_AUTHORIZATION"
    CHANGE_AUTHORIZATION_PERIOD = "CHANGE_AUTHORIZATION_PERIOD"


class SealKey(msgspec.Struct, frozen=True, gc=False):
    """Which seal: the provider and the vendor's own id. Its node id is `provider:vendorId`.

    Like `Seal` and the values it holds (`Size`, `ImageLink`), a frozen msgspec Struct: a page
    makes one of each per row, and a frozen dataclass sets each field through
    `object.__setattr__` (about 0.45 µs an object against 0.1)."""

    provider: ProviderName
    vendor_id: str

    def node_id(self) -> str:
        # a StrEnum formats as its value, without the `value` property's Python call
        return f"{self.provider}:{self.vendor_id}"

    @classmethod
    def from_node_id(cls, node_id: str) -> SealKey:
        provider, sep, vendor_id = node_id.partition(":")
        if not sep or not vendor_id:
            raise BadInput(f"Malformed seal id {node_id!r}.")
        try:
            return cls(ProviderName(provider), vendor_id)
        except ValueError:
            raise BadInput(f"Unknown provider {provider!r} in seal id.") from None


class Size(msgspec.Struct, frozen=True, gc=False):
    width: float
    height: float
    unit: SizeUnit


class ImageLink(msgspec.Struct, frozen=True, gc=False):
    url: str
    expires_at: datetime | None
    watermarked: bool = False


class SealAttr(StrEnum):
    """The attributes of a `Seal` a provider may know, named exactly as the dataclass fields
    (a test holds them equal). Code names attributes through this enum, never as strings, so a
    typo fails at import or type-check time instead of reading as a missing value."""

    NAME = "name"
    BIZ_TYPE = "biz_type"
    BIZ_TYPE_LABEL = "biz_type_label"
    STATUS = "status"
    STATUS_LABEL = "status_label"
    REJECT_REASON = "reject_reason"
    STYLE = "style"
    IS_DEFAULT = "is_default"
    IMAGE_SIZE = "image_size"
    PHYSICAL_SIZE = "physical_size"
    IMAGE = "image"
    WATERMARKED_IMAGE = "watermarked_image"
    CREATED_AT = "created_at"
    CODE = "code"
    HORIZONTAL_TEXT = "horizontal_text"
    BOTTOM_TEXT = "bottom_text"
    OWNER_NAME = "owner_name"
    ORIGIN = "origin"
    AUTHORIZATION_COUNT = "authorization_count"
    IS_CANCELLATION = "is_cancellation"


SEAL_ATTRS: frozenset[SealAttr] = frozenset(SealAttr)


class Seal(msgspec.Struct, frozen=True, gc=False):
    """One seal as far as one vendor call showed it; `known` names the attributes it carries,
    so the layers above load the rest (e.g. e签宝 v3 detail) only when a client selects it.

    A frozen msgspec Struct rather than a frozen dataclass: a page makes one per row, and its
    constructor (C) costs a tenth of the dataclass's (22 fields, each set through
    `object.__setattr__`), which was a tenth of a page's CPU (bench/RESULTS.md). It holds
    only immutable values, so it cannot be part of a reference cycle: the garbage collector
    does not track it (`gc=False`)."""

    key: SealKey
    known: frozenset[SealAttr]
    name: str | None = None
    biz_type: SealBizType | None = None
    biz_type_label: str | None = None
    status: SealStatus | None = None
    status_label: str | None = None
    reject_reason: str | None = None
    style: SealStyle | None = None
    is_default: bool | None = None
    image_size: Size | None = None
    physical_size: Size | None = None
    image: ImageLink | None = None
    watermarked_image: ImageLink | None = None
    created_at: datetime | None = None
    code: str | None = None
    horizontal_text: str | None = None
    bottom_text: str | None = None
    owner_name: str | None = None
    origin: str | None = None
    authorization_count: int | None = None
    # A seal for voiding contracts (作废章): all e签宝 v1's `sealBizType` can tell.
    is_cancellation: bool | None = None

    def merged_with(self, other: Seal) -> Seal:
        """This seal completed by what `other` (another view of the same seal) knows."""
        values = {attr.value: getattr(other, attr) for attr in other.known - self.known}
        return msgspec.structs.replace(self, known=self.known | other.known, **values)

    def value(self, attr: SealAttr) -> object:
        return getattr(self, attr)


@dataclass(frozen=True, slots=True)
class TemplateRef:
    id: str
    name: str | None


@dataclass(frozen=True, slots=True)
class Authorization:
    """A rule letting one person use (or approve the use of) a seal."""

    provider: ProviderName
    vendor_id: str
    seal_id: str
    user_id: str
    user_name: str | None
    role: AuthorizationRole | None
    scope: AuthorizationScope | None
    templates: tuple[TemplateRef, ...]
    effective_at: datetime | None
    expires_at: datetime | None
    created_at: datetime | None
    auto_sign: bool | None
    examiner_notified: bool | None
    # The vendor's own status code, as it gave it.
    vendor_status: int | None
    status: AuthorizationStatus | None = None
    status_reason: AuthorizationStatusReason | None = None
    # In force with no end (e签宝 longTermEffective).
    long_term: bool | None = None
    # The authorisation letter's signing flow (e签宝 signFlowId).
    sign_flow_id: str | None = None
    # The developer apps it is limited to (e签宝 sealAuthScope applicationsIds).
    application_ids: tuple[str, ...] = ()

    def node_id(self) -> str:
        return f"{self.provider.value}:{self.seal_id}:{self.vendor_id}"

    @staticmethod
    def parse_node_id(node_id: str) -> tuple[ProviderName, str, str]:
        """The provider, seal id and authorisation id inside `node_id()`'s text."""
        provider, _, rest = node_id.partition(":")
        seal_id, _, authorization_id = rest.partition(":")
        if not seal_id or not authorization_id:
            raise BadInput(f"Malformed authorisation id {node_id!r}.", "id")
        try:
            return ProviderName(provider), seal_id, authorization_id
        except ValueError:
            raise BadInput(f"Unknown provider {provider!r} in authorisation id.", "id") from None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A slice of a longer list, and the length of the whole list."""

    items: list[T]
    total: int


@dataclass(frozen=True, slots=True)
class SealFilter:
    """What `seals` may be narrowed by (besides the provider). Hashable: it keys loader caches.

    `include_revoked` widens rather than narrows: revoked seals (deleted after use) are left out
    of a list unless it is set, and a provider that keeps them apart lists them when asked."""

    name_contains: str | None = None
    biz_type: SealBizType | None = None
    status: SealStatus | None = None
    is_default: bool | None = None
    include_revoked: bool = False

    def active(self) -> frozenset[str]:
        """The conditions set: each reads a seal attribute (`FILTER_FIELDS`)."""
        return frozenset(
            f.name
            for f in dataclasses.fields(self)
            if f.name in FILTER_FIELDS and getattr(self, f.name) is not None
        )

    def only(self, names: frozenset[str]) -> SealFilter:
        return SealFilter(
            include_revoked=self.include_revoked,
            **{name: getattr(self, name) for name in names & self.active()},
        )

    def matches(self, seal: Seal) -> bool:
        if seal.status == SealStatus.REVOKED and not self.include_revoked:
            return False
        if self.name_contains is not None and (
            seal.name is None or self.name_contains.casefold() not in seal.name.casefold()
        ):
            return False
        if self.biz_type is not None and seal.biz_type != self.biz_type:
            return False
        if self.status is not None and seal.status != self.status:
            return False
        return self.is_default is None or seal.is_default == self.is_default


# Which Seal attribute each filter reads: a gateway-side filter needs it known. Keyed by the
# SealFilter field names (a test holds the two equal).
FILTER_FIELDS: dict[str, SealAttr] = {
    "name_contains": SealAttr.NAME,
    "biz_type": SealAttr.BIZ_TYPE,
    "status": SealAttr.STATUS,
    "is_default": SealAttr.IS_DEFAULT,
}


@dataclass(frozen=True, slots=True)
class OrgScope:
    """The caller's organisation: its account at each vendor. Every call is scoped to it."""

    accounts: dict[ProviderName, str] = field(default_factory=dict)

    def account(self, provider: ProviderName) -> str:
        return self.accounts.get(provider, "")


# --- seal events ----------------------------------------------------------------------------


class SealEventType(Enum):
    """What happened to a seal. Vendors' own words (e签宝's `action`) map onto these; a word
    no mapping knows is kept as OTHER, with the word itself in `vendor_action`."""

    CREATED = "CREATED"
    DELETED = "DELETED"
    UPDATED = "UPDATED"
    DEFAULT_CHANGED = "DEFAULT_CHANGED"
    REVIEW_PASSED = "REVIEW_PASSED"
    REVIEW_REJECTED = "REVIEW_REJECTED"
    AUTHORIZATION_GRANTED = "AUTHORIZATION_GRANTED"
    AUTHORIZATION_REVOKED = "AUTHORIZATION_REVOKED"
    AUTHORIZATION_EXPIRING = "AUTHORIZATION_EXPIRING"
    AUTHORIZATION_EXPIRED = "AUTHORIZATION_EXPIRED"
    OTHER = "OTHER"


class SealEventSource(Enum):
    """How the gateway learnt of an event."""

    # the vendor told us (e签宝's signed notifications)
    VENDOR_NOTIFICATION = "VENDOR_NOTIFICATION"
    # the gateway saw a difference between two listings (云银签 documents no notifications)
    CHANGE_DETECTED = "CHANGE_DETECTED"
    # a write made through the gateway itself
    GATEWAY_WRITE = "GATEWAY_WRITE"


@dataclass(frozen=True, slots=True)
class SealEventDraft:
    """An event as its source saw it, before the log gives it a place. `dedup_key` names the
    fact itself (a notification delivered twice has one key), so the log records it once."""

    provider: ProviderName
    vendor_seal_id: str
    type: SealEventType
    source: SealEventSource
    occurred_at: datetime
    vendor_action: str | None = None
    actor: str | None = None
    outcome: str | None = None
    request_id: str | None = None
    dedup_key: str | None = None
    # a few plain facts beside the type (a seal's name, a rejection's reason, an
    # authorisation's id), as the source gave them
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SealEvent:
    """An event in a tenant's log: its draft, the place the log gave it (`position`, ordered
    within the tenant) and when the gateway recorded it."""

    tenant: str
    position: str
    recorded_at: datetime
    draft: SealEventDraft


# --- callers --------------------------------------------------------------------------------

DEFAULT_TENANT = "default"


class Role(StrEnum):
    """What a caller may do: a viewer reads (queries, previews), an admin also writes."""

    VIEWER = "viewer"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, for which tenant, with which role. Established by the app layer from the
    request's credentials; everything below receives it as a value."""

    tenant: str
    role: Role
    # The API key's name or the token's subject, for the audit trail.
    subject: str
    request_id: str = ""
    # The 云银签 operator (userId) from the caller's token, where the tenant allows it.
    operator: str | None = None

    @classmethod
    def anonymous(cls, request_id: str = "") -> Caller:
        """The sandbox demo's caller on loopback, where no callers are configured."""
        return cls(DEFAULT_TENANT, Role.ADMIN, "anonymous", request_id)


# --- errors ---------------------------------------------------------------------------------


class ErrorCode(StrEnum):
    """The fixed set of `extensions.code` values clients branch on."""

    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    UPSTREAM_AUTH_FAILED = "UPSTREAM_AUTH_FAILED"
    UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"
    VENDOR_RATE_LIMITED = "VENDOR_RATE_LIMITED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    BAD_REQUEST = "BAD_REQUEST"
    COST_LIMIT_EXCEEDED = "COST_LIMIT_EXCEEDED"
    VENDOR_CALL_BUDGET_EXCEEDED = "VENDOR_CALL_BUDGET_EXCEEDED"
    OVERLOADED = "OVERLOADED"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IDEMPOTENCY_IN_PROGRESS = "IDEMPOTENCY_IN_PROGRESS"
    SHARED_STATE_UNAVAILABLE = "SHARED_STATE_UNAVAILABLE"


class GatewayError(Exception):
    """An error whose message is safe to show a client."""

    code: ErrorCode = ErrorCode.INTERNAL_SERVER_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(GatewayError):
    code = ErrorCode.BAD_USER_INPUT

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(GatewayError):
    code = ErrorCode.NOT_FOUND

    def __init__(self, message: str, provider: ProviderName | None = None) -> None:
        super().__init__(message)
        self.provider = provider


class Forbidden(GatewayError):
    """The caller's role does not allow this; nothing was sent to any vendor."""

    code = ErrorCode.FORBIDDEN


class NotSupported(GatewayError):
    code = ErrorCode.NOT_SUPPORTED

    def __init__(self, provider: ProviderName, what: str) -> None:
        super().__init__(f"Provider {provider.value} does not support {what}.")
        self.provider = provider


class UpstreamError(GatewayError):
    """A vendor call failed: the vendor said no, or could not be reached.

    `retryable` says whether the same call later could succeed. For a write,
    `write_may_have_happened` says whether the request may have reached the vendor (then its
    outcome is unknown: check before trying again); for a read it is None.
    """

    def __init__(
        self,
        provider: ProviderName,
        message: str,
        *,
        code: ErrorCode = ErrorCode.UPSTREAM_ERROR,
        vendor_code: str | None = None,
        retryable: bool = False,
        write_may_have_happened: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.code = code
        self.vendor_code = vendor_code
        self.retryable = retryable
        self.write_may_have_happened = write_may_have_happened


class MalformedAnswer(UpstreamError):
    """A vendor answered, but not in the shape its contract gives: a vendor fault, reported as
    an upstream error of that vendor, never as a gateway bug."""

    def __init__(self, provider: ProviderName, what: str, detail: str) -> None:
        super().__init__(
            provider,
            f"{provider.label} answered {what} in an unexpected shape ({detail}).",
            vendor_code="MALFORMED_ANSWER",
        )


# --- writes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UploadedImage:
    """An image file the vendor stored: an uploaded seal image or a generated preview."""

    file_name: str
    # Where the vendor keeps it: 云银签 fileUrl, e签宝 fileKey (what createImageSeal takes).
    storage_path: str
    # Where to download it; None where the vendor gives no link (an e签宝 upload).
    url: str | None
    page_count: int | None
    width: int | None
    height: int | None


@dataclass(frozen=True, slots=True)
class TemplateSealSpec:
    name: str
    biz_type: SealBizType
    shape: TemplateShape = TemplateShape.ROUND
    horizontal_text: str | None = None
    bottom_text: str | None = None
    color: SealColor = SealColor.RED
    opacity: float | None = None
    # With a five-pointed star (五角星); None: the star where the template offers one.
    star: bool | None = None
    # Text around the outside of a double oval (环绕文), e.g. the company's English name.
    surround_text: str | None = None
    # An aged look (做旧): `aged_variant` 1-12 picks one, None a random one.
    aged: bool = False
    aged_variant: int | None = None
    # The size on paper in millimetres, among those the template comes in (None: its first).
    width_mm: int | None = None
    height_mm: int | None = None


@dataclass(frozen=True, slots=True)
class TemplateStyle:
    """A template a provider draws seals from: for which business type, in which shape,
    with or without a star (None: the vendor does not say), its vendor name and the sizes it
    comes in (empty where the vendor fixes none)."""

    biz_type: SealBizType
    shape: TemplateShape
    star: bool | None
    vendor_style: str
    sizes: tuple[Size, ...] = ()


@dataclass(frozen=True, slots=True)
class ImageSealSpec:
    name: str
    biz_type: SealBizType
    # None: the vendor's own (云银签 round); e签宝 takes none.
    shape: TemplateShape | None = None
    # The uploaded image's storage path (`UploadedImage.storage_path`).
    image_path: str | None = None
    # The seal's size on paper, in millimetres (e签宝 requires it).
    width_mm: int | None = None
    height_mm: int | None = None
    color: SealColor | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationGrant:
    """What an authorise call answered: the new authorisations' vendor ids where the vendor
    names them, and the link where an administrator signs the authorisation letter that puts
    them in force (e签宝), if one is needed."""

    vendor_ids: tuple[str, ...] | None = None
    sign_url: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationPeriod:
    """When an authorisation is in force: from `effective_at` (None: now) to `expires_at`
    (None: with no end)."""

    effective_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationSpec:
    seal_id: str
    user_ids: tuple[str, ...]
    role: AuthorizationRole
    scope: AuthorizationScope
    templates: tuple[TemplateRef, ...] = ()
    effective_at: datetime | None = None
    expires_at: datetime | None = None


class DeleteOutcome(Enum):
    """What deleting a seal did: e签宝 removes a seal never used, and revokes one that was
    (its usage records are kept; `DELETE /v3/seals/org-seal` answers `delete` or `revoke`)."""

    DELETED = "DELETED"
    REVOKED = "REVOKED"


class Rejection(Enum):
    """Why a vendor (or the gateway, before calling one) refused a write: expected business
    failures, reported to clients as `userErrors`."""

    INVALID_INPUT = "INVALID_INPUT"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    SEAL_NOT_FOUND = "SEAL_NOT_FOUND"
    NAME_TAKEN = "NAME_TAKEN"
    IMAGE_NOT_FOUND = "IMAGE_NOT_FOUND"
    INVALID_FILE = "INVALID_FILE"
    NOT_PNG = "NOT_PNG"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    BAD_IMAGE_SIZE = "BAD_IMAGE_SIZE"
    PREVIEW_FAILED = "PREVIEW_FAILED"
    IMAGE_PROCESSING_FAILED = "IMAGE_PROCESSING_FAILED"
    AUTHORIZATION_CONFLICT = "AUTHORIZATION_CONFLICT"
    CANNOT_DELETE = "CANNOT_DELETE"
    AUTHORIZATION_NOT_FOUND = "AUTHORIZATION_NOT_FOUND"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    VENDOR_REJECTED = "VENDOR_REJECTED"


class WriteRejected(GatewayError):
    """A write refused for a reason the client can act on."""

    code = ErrorCode.BAD_USER_INPUT

    def __init__(
        self,
        reason: Rejection,
        message: str,
        *,
        field: str | None = None,
        provider: ProviderName | None = None,
        vendor_code: str | None = None,
        vendor_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field
        self.provider = provider
        self.vendor_code = vendor_code
        # the vendor's own text, as it sent it (often Chinese), where the vendor refused
        self.vendor_message = vendor_message
