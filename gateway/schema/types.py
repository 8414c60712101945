"""The GraphQL object types: Seal and Authorization (Relay nodes), their parts and connections.

A `Seal` wraps what one vendor call showed of a seal. A field the call did not carry is loaded
when, and only when, a query selects it: for e签宝, a v1 list row gets its v3 detail through the
per-request loader, so a page asking only v1 fields costs one vendor call.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from gateway import domain, service
from gateway.domain import GatewayError, NotFound, ProviderName, SealAttr, SealKey
from gateway.schema.context import Info
from gateway.schema.enums import (
    AuthorizationRole,
    AuthorizationScope,
    AuthorizationStatus,
    AuthorizationStatusReason,
    Provider,
    SealBizType,
    SealOperation,
    SealStatus,
    SealStyle,
    SizeUnit,
    TemplateShape,
    convert,
)

A = SealAttr

UNSUPPORTED_WHY = (
    "What is missing, and why (docs/vendors.md). On e签宝: RENAME (the vendor documents no "
    "rename of an organisation seal); PREVIEW (no preview endpoint); DISABLE (no page the "
    "gateway follows confirms a disable-seal call); AUTHORIZE, CHANGE_AUTHORIZATION_PERIOD and "
    "MANAGEMENT_URL only where a transactor (SEALGW_ESIGN_TRANSACTOR_ID) is configured, as the "
    "calls need one. On 云银签: ENABLE, DISABLE, REVOKE_AUTHORIZATION and "
    "CHANGE_AUTHORIZATION_PERIOD (its pages document no such call)."
)


@strawberry.federation.type(shareable=True, description="Where a page of a connection stands.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether a page follows this one.")
    has_previous_page: bool = strawberry.field(description="Whether a page comes before this one.")
    start_cursor: str | None = strawberry.field(description="The cursor of the first edge.")
    end_cursor: str | None = strawberry.field(
        description="The cursor of the last edge: pass it as `after` for the next page."
    )


@strawberry.type(description="A width and height, with their unit.")
class Size:
    width: float = strawberry.field(description="Width, in `unit`.")
    height: float = strawberry.field(description="Height, in `unit`.")
    unit: SizeUnit = strawberry.field(description="The unit of both numbers.")

    @classmethod
    def of(cls, size: domain.Size | None) -> Size | None:
        if size is None:
            return None
        return cls(width=size.width, height=size.height, unit=convert(SizeUnit, size.unit))


@strawberry.type(description="A link to a seal's image. Vendor links are signed and expire.")
class SealImage:
    url: str = strawberry.field(description="Where to download the PNG.")
    expires_at: datetime | None = strawberry.field(
        description="When the link stops working; null when the vendor documents no expiry."
    )
    watermarked: bool = strawberry.field(description="Whether the vendor watermarked the image.")

    @classmethod
    def of(cls, image: domain.ImageLink | None) -> SealImage | None:
        if image is None:
            return None
        return cls(url=image.url, expires_at=image.expires_at, watermarked=image.watermarked)


def operations(provider: ProviderName, info: Info) -> list[SealOperation]:
    return [convert(SealOperation, c) for c in info.context.reads.operations(provider)]


@strawberry.federation.type(
    keys=["id"],
    description=(
        "One electronic seal (电子印章) at one vendor. e签宝 seals fuse the v1 list row and the "
        "v3 detail of the same seal; fields only one of them carries are fetched when selected."
    ),
)
class Seal(relay.Node):
    node_key: relay.NodeID[str]
    record: strawberry.Private[domain.Seal]
    # The request's service, which loads the fields this view of the seal lacks: the fields
    # need no `info` then, and resolve as plain method calls (gateway/schema/lean.py).
    request_service: strawberry.Private[service.SealReads]

    @classmethod
    def of(cls, seal: domain.Seal, request_service: service.SealReads) -> Seal:
        return cls(node_key=seal.key.node_id(), record=seal, request_service=request_service)

    @classmethod
    def resolve_id(cls, root: Seal, *, info: Info) -> str:
        """The node id as issued to the caller's tenant."""
        return info.context.reads.seal_node_id(root.record)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Seal:
        """Federation entry point: a supergraph asks for seals by their id."""
        try:
            request_service = info.context.reads
            return cls.of(await request_service.seal_by_id(id), request_service)
        except domain.BadInput as error:
            raise NotFound(error.message) from None

    def _value(self, attr: SealAttr, convert_value: Callable[[Any], Any] | None = None) -> Any:
        """The attribute now, when this view of the seal carries it; else an awaitable of it,
        which the service loads through the vendor call that has it.

        Synchronous on purpose: most fields are known from the list call, and an async resolver
        costs a task per field of every seal."""
        record = self.record
        if attr in record.known:
            value = getattr(record, attr)
            return value if convert_value is None or value is None else convert_value(value)
        return self._load(attr, convert_value)

    async def _load(self, attr: SealAttr, convert_value: Callable[[Any], Any] | None) -> Any:
        value = await self.request_service.load_attribute(self.record, attr)
        return value if convert_value is None or value is None else convert_value(value)

    @strawberry.field(description="The vendor the seal lives at.")
    def provider(self) -> Provider:
        return convert(Provider, self.record.key.provider)

    @strawberry.field(
        description="The vendor's own seal id (e签宝: a UUID string; 云银签: an int64 as text)."
    )
    def vendor_id(self) -> str:
        return self.record.key.vendor_id

    @strawberry.field(
        description="The seal's name: e签宝 v1 `alias`, or v3 `sealName` where v1 gives none "
        "(then a v3 detail call); 云银签 `sealName`."
    )
    def name(self) -> str | None:
        return self._value(A.NAME)

    @strawberry.field(
        description="What the seal is for (公章, 合同专用章, ...). e签宝: v3 `sealBizType`, from "
        "the v3 seal list (20 seals a call) or a v3 detail per seal, whichever costs fewer "
        "calls; v1's own `sealBizType` does not say it. 云银签: `categoryType`, from the list."
    )
    def biz_type(self) -> SealBizType | None:
        return self._value(A.BIZ_TYPE, lambda v: convert(SealBizType, v))

    @strawberry.field(
        description="The vendor's own label for the biz type (e签宝 v3 sealBizTypeDescription: "
        "the v3 list or a v3 detail, as for `bizType`)."
    )
    def biz_type_label(self) -> str | None:
        return self._value(A.BIZ_TYPE_LABEL)

    @strawberry.field(
        description="Where the seal stands: enabled, awaiting review, ... e签宝: v3 `sealStatus` "
        "(the v3 list or a v3 detail, as for `bizType`); 云银签: `status`, from the list."
    )
    def status(self) -> SealStatus | None:
        return self._value(A.STATUS, lambda v: convert(SealStatus, v))

    @strawberry.field(
        description="The vendor's own label for the status (e签宝 v3 statusDescription: a v3 "
        "detail per seal)."
    )
    def status_label(self) -> str | None:
        return self._value(A.STATUS_LABEL)

    @strawberry.field(
        description="Why review rejected an uploaded image seal (e签宝 v3 rejectReason: a v3 "
        "detail call per seal)."
    )
    def reject_reason(self) -> str | None:
        return self._value(A.REJECT_REASON)

    @strawberry.field(description="Whether the seal was drawn from a template or uploaded.")
    def style(self) -> SealStyle | None:
        return self._value(A.STYLE, lambda v: convert(SealStyle, v))

    @strawberry.field(description="Whether this is the organisation's default seal (默认印章).")
    def is_default(self) -> bool | None:
        return self._value(A.IS_DEFAULT)

    @strawberry.field(
        description="The image's size in pixels (e签宝 v1 width/height, 云银签 sealWidth/Height)."
    )
    def image_size(self) -> Size | None:
        return self._value(A.IMAGE_SIZE, Size.of)

    @strawberry.field(
        description="The seal's size on paper in millimetres (e签宝 only: the v3 list or a v3 "
        "detail, as for `bizType`)."
    )
    def physical_size(self) -> Size | None:
        return self._value(A.PHYSICAL_SIZE, Size.of)

    @strawberry.field(
        description="The seal's image (e签宝 v1 url, valid 1 hour; 云银签 sealImageUrl)."
    )
    def image(self) -> SealImage | None:
        return self._value(A.IMAGE, SealImage.of)

    @strawberry.field(
        description="The watermarked image (e签宝 v3 sealImageDownloadUrl, valid 60 minutes: a "
        "v3 detail per seal)."
    )
    def watermarked_image(self) -> SealImage | None:
        return self._value(A.WATERMARKED_IMAGE, SealImage.of)

    @strawberry.field(description="When the seal was made.")
    def created_at(self) -> datetime | None:
        return self._value(A.CREATED_AT)

    @strawberry.field(description="The vendor's seal code, 印章编号 (云银签 sealCode).")
    def code(self) -> str | None:
        return self._value(A.CODE)

    @strawberry.field(description="Horizontal text across the seal, 横排文字 (云银签).")
    def horizontal_text(self) -> str | None:
        return self._value(A.HORIZONTAL_TEXT)

    @strawberry.field(description="Text along the bottom arc, 下弦文 / 防伪码 (云银签).")
    def bottom_text(self) -> str | None:
        return self._value(A.BOTTOM_TEXT)

    @strawberry.field(description="The company the seal belongs to (云银签 corpName).")
    def owner_name(self) -> str | None:
        return self._value(A.OWNER_NAME)

    @strawberry.field(
        description="Where the seal was made, as the vendor records it (云银签 source)."
    )
    def origin(self) -> str | None:
        return self._value(A.ORIGIN)

    @strawberry.field(description="How many authorisations the seal has (云银签 authorNum).")
    def authorization_count(self) -> int | None:
        return self._value(A.AUTHORIZATION_COUNT)

    @strawberry.field(
        description="Whether it is a seal for voiding contracts, 作废章 (e签宝 v1 `sealBizType` "
        "CANCELLATION; no extra call on a listed seal). Null where the vendor does not say."
    )
    def is_cancellation_seal(self) -> bool | None:
        return self._value(A.IS_CANCELLATION)

    @strawberry.field(
        description="Who may use or approve this seal, a page at a time. Null where the provider "
        "cannot list authorisations (see `supportedOperations`)."
    )
    async def authorizations(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="Page size (default 20).")
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="The `endCursor` of the previous page.")
        ] = None,
    ) -> AuthorizationConnection | None:
        page = await info.context.reads.authorizations(self.record, first, after)
        if page is None:
            return None
        edges = [
            AuthorizationEdge(cursor=edge.cursor, node=Authorization.of(edge.authorization))
            for edge in page.edges
        ]
        return AuthorizationConnection(
            edges=edges,
            total_count=page.total,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @strawberry.field(
        description="What this seal's provider supports, so a client can tell without trying. "
        + UNSUPPORTED_WHY
    )
    def supported_operations(self) -> list[SealOperation]:
        return [
            convert(SealOperation, c)
            for c in self.request_service.operations(self.record.key.provider)
        ]


@strawberry.type(description="A contract template an authorisation is limited to.")
class ContractTemplate:
    id: str = strawberry.field(description="The vendor's template id.")
    name: str | None = strawberry.field(description="The template's name, where given.")


@strawberry.type(
    description="A rule letting one person use (使用员) or approve (审批员) one seal: 云银签 "
    "getSealAuthorList, or e签宝 v3 internal-auth (pending until its letter is signed)."
)
class Authorization(relay.Node):
    node_key: relay.NodeID[str]
    record: strawberry.Private[domain.Authorization]

    @classmethod
    def of(cls, item: domain.Authorization) -> Authorization:
        return cls(node_key=item.node_id(), record=item)

    @classmethod
    def resolve_id(cls, root: Authorization, *, info: Info) -> str:
        """The node id as issued to the caller's tenant."""
        return info.context.reads.authorization_node_id(root.record)

    @strawberry.field(description="The vendor the authorisation lives at.")
    def provider(self) -> Provider:
        return convert(Provider, self.record.provider)

    @strawberry.field(description="The vendor's own authorisation record id.")
    def vendor_id(self) -> str:
        return self.record.vendor_id

    @strawberry.field(description="The seal this authorisation is for.")
    async def seal(self, info: Info) -> Seal | None:
        key = SealKey(self.record.provider, self.record.seal_id)
        request_service = info.context.reads
        return Seal.of(await request_service.seal(key), request_service)

    @strawberry.field(description="The authorised person's user id at the vendor.")
    def user_id(self) -> str:
        return self.record.user_id

    @strawberry.field(description="The authorised person's name.")
    def user_name(self) -> str | None:
        return self.record.user_name

    @strawberry.field(description="Use the seal, or approve its use.")
    def role(self) -> AuthorizationRole | None:
        role = self.record.role
        return None if role is None else convert(AuthorizationRole, role)

    @strawberry.field(description="All contracts, or only those from `templates`.")
    def scope(self) -> AuthorizationScope | None:
        scope = self.record.scope
        return None if scope is None else convert(AuthorizationScope, scope)

    @strawberry.field(description="The templates the authorisation is limited to, if any.")
    def templates(self) -> list[ContractTemplate]:
        return [ContractTemplate(id=t.id, name=t.name) for t in self.record.templates]

    @strawberry.field(description="When the authorisation takes effect.")
    def effective_at(self) -> datetime | None:
        return self.record.effective_at

    @strawberry.field(description="When it lapses; null means never.")
    def expires_at(self) -> datetime | None:
        return self.record.expires_at

    @strawberry.field(description="When it was granted.")
    def created_at(self) -> datetime | None:
        return self.record.created_at

    @strawberry.field(description="Whether the seal is applied automatically (autoSign).")
    def auto_sign(self) -> bool | None:
        return self.record.auto_sign

    @strawberry.field(description="Whether an examiner is notified (examinerNotify).")
    def examiner_notified(self) -> bool | None:
        return self.record.examiner_notified

    @strawberry.field(
        description="The vendor's own status code of the record: e签宝 authorizeStatus (0 "
        "lapsed, 1 in force, 3 awaiting effect); 云银签 status (its values undocumented)."
    )
    def vendor_status(self) -> int | None:
        return self.record.vendor_status

    @strawberry.field(
        description="In force, pending or lapsed (e签宝 authorizeStatus with expireReason; null "
        "on 云银签, whose page leaves its status values unconfirmed)."
    )
    def status(self) -> AuthorizationStatus | None:
        status = self.record.status
        return None if status is None else convert(AuthorizationStatus, status)

    @strawberry.field(description="Why it is not in force; null when it is, or not said.")
    def status_reason(self) -> AuthorizationStatusReason | None:
        reason = self.record.status_reason
        return None if reason is None else convert(AuthorizationStatusReason, reason)

    @strawberry.field(
        description="In force with no end (e签宝 longTermEffective; 云银签: no expireTime)."
    )
    def long_term_effective(self) -> bool | None:
        return self.record.long_term

    @strawberry.field(description="The authorisation letter's signing flow (e签宝 signFlowId).")
    def sign_flow_id(self) -> str | None:
        return self.record.sign_flow_id

    @strawberry.field(
        description="The developer apps it is limited to (e签宝 sealAuthScope applicationsIds)."
    )
    def application_ids(self) -> list[str]:
        return list(self.record.application_ids)

    @strawberry.field(
        description="Where an administrator signs the authorisation letter that puts it in "
        "force (e签宝 authorization-sign-url: a vendor call); null unless a letter awaits "
        "signing."
    )
    async def sign_url(self, info: Info) -> str | None:
        return await info.context.reads.authorization_sign_url(self.record)


@strawberry.type(description="One authorisation in a page, with its cursor.")
class AuthorizationEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this edge.")
    node: Authorization = strawberry.field(description="The authorisation.")


@strawberry.type(description="A page of a seal's authorisations.")
class AuthorizationConnection:
    edges: list[AuthorizationEdge] = strawberry.field(description="The authorisations.")
    page_info: PageInfo = strawberry.field(description="Where this page stands.")
    total_count: int = strawberry.field(description="How many authorisations the seal has.")


def _edge_cursor(root: SealEdge) -> str:
    return root.edge.cursor  # made only for a query that selects it


@strawberry.type(description="One seal in a page, with its cursor.")
class SealEdge:
    edge: strawberry.Private[service.SealEdge]
    cursor: str = strawberry.field(
        resolver=_edge_cursor, description="Pass as `after` to continue after this edge."
    )
    node: Seal = strawberry.field(description="The seal.")


@strawberry.type(description="A template a vendor draws seals from (`createTemplateSeal`).")
class TemplateStyle:
    biz_type: SealBizType = strawberry.field(description="The business type it is for.")
    shape: TemplateShape = strawberry.field(description="Its shape.")
    star: bool | None = strawberry.field(
        description="Whether it has a five-pointed star; null where the vendor does not say."
    )
    vendor_style: str = strawberry.field(
        description="The vendor's name of it (e签宝 sealTemplateStyle, 云银签 sealTemplateStyle)."
    )
    sizes: list[Size] = strawberry.field(
        description="The sizes the vendor fixes for it (the first is used); empty where it fixes "
        "none."
    )

    @classmethod
    def of(cls, style: domain.TemplateStyle) -> TemplateStyle:
        return cls(
            biz_type=convert(SealBizType, style.biz_type),
            shape=convert(TemplateShape, style.shape),
            star=style.star,
            vendor_style=style.vendor_style,
            sizes=[s for s in (Size.of(size) for size in style.sizes) if s is not None],
        )


@strawberry.type(description="A configured seal vendor and what it supports.")
class ProviderInfo:
    provider: Provider = strawberry.field(description="The vendor.")
    sandbox: bool = strawberry.field(
        description="Whether the gateway talks to its built-in emulation of this vendor."
    )
    supported_operations: list[SealOperation] = strawberry.field(
        description="The operations this vendor supports through the gateway. " + UNSUPPORTED_WHY
    )
    template_styles: list[TemplateStyle] = strawberry.field(
        description="The templates `createTemplateSeal` draws from here: a business type and "
        "shape (and star) not listed is refused."
    )
    template_options: list[str] = strawberry.field(
        description="The `TemplateSealInput` fields this vendor takes beyond name, bizType, shape "
        "and star; any other given is refused."
    )


@strawberry.type(
    description="A provider that failed to answer for a page: its seals are missing from it."
)
class ProviderFailure:
    provider: Provider = strawberry.field(description="The provider that failed.")
    code: str = strawberry.field(
        description="Why, as an error's `extensions.code` says it: `UPSTREAM_UNAVAILABLE`, "
        "`UPSTREAM_TIMEOUT`, `UPSTREAM_ERROR`, `UPSTREAM_AUTH_FAILED`, `VENDOR_RATE_LIMITED` …"
    )
    message: str = strawberry.field(description="What happened, for a person to read.")
    upstream_code: str | None = strawberry.field(
        description="The vendor's own code, or the gateway's word for the failure (`HTTP_503`, "
        "`CIRCUIT_OPEN`), where there is one."
    )
    retryable: bool = strawberry.field(description="Whether asking again later may succeed.")

    @classmethod
    def of(cls, provider: ProviderName, error: GatewayError) -> ProviderFailure:
        return cls(
            provider=convert(Provider, provider),
            code=error.code.value,
            message=error.message,
            upstream_code=getattr(error, "vendor_code", None),
            retryable=bool(getattr(error, "retryable", False)),
        )


@strawberry.type(
    description="A page of seals across providers: all of e签宝's (v1 order), then 云银签's "
    "(getSealListByPage order). Cursors carry the provider, so paging crosses from one to the next."
)
class SealConnection:
    edges: list[SealEdge] = strawberry.field(description="The seals of this page.")
    page_info: PageInfo = strawberry.field(description="Where this page stands.")
    unavailable_providers: list[Provider] = strawberry.field(
        description="Providers that failed to answer: their seals are missing from this page "
        "(`unavailable` says why). The next page (from `endCursor`) tries them again."
    )
    unavailable: list[ProviderFailure] = strawberry.field(
        description="The providers that failed to answer, with why. While another provider "
        "answered, by default (`SEALGW_PAGE_FAILURES=data`) this is the only place such a "
        "failure is told, so that clients whose default drops data beside `errors` (Apollo "
        "Client's, urql's) keep the seals that came; `errors` tells it too with `errors`, or "
        "when every provider failed."
    )
    page: strawberry.Private[service.SealPage]

    @strawberry.field(
        description="How many seals match, over every provider that answered. Costs a count call "
        "to each provider this page did not reach."
    )
    async def total_count(self, info: Info) -> int:
        counted = await info.context.reads.total_count(self.page)
        info.context.report_all(info, list(counted.errors))
        return counted.total
