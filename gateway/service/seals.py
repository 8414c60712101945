"""The use cases of the API for one request, in plain Python: what the schema asks, answered
from the providers through the per-request loaders.

Rules that live here and nowhere else:
- every failure below this layer reaches callers as a `GatewayError` of one provider: an
  exception a provider did not expect becomes that provider's upstream error, so one vendor's
  bad answer never takes another vendor's data with it;
- `seals` walks the providers in a fixed order with cursors that remember every provider's
  position, so a provider failing mid-walk is tried again on the next page, never skipped;
- every write runs one path: target and capability checked, input checked, vendor call,
  vendor refusal mapped to a user error, read-back. A failed read-back never hides a write
  that happened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from gateway.domain import (
    PROVIDER_ORDER,
    Authorization,
    BadInput,
    Capability,
    ErrorCode,
    GatewayError,
    ImageSealSpec,
    MalformedAnswer,
    NotFound,
    OrgScope,
    Page,
    ProviderName,
    Rejection,
    Seal,
    SealAttr,
    SealColor,
    SealFilter,
    SealKey,
    TemplateSealSpec,
    UploadedImage,
    UpstreamError,
    WriteRejected,
)
from gateway.loaders import AuthorizationKey, Loaders
from gateway.providers.base import SealProvider
from gateway.service import checks, ids
from gateway.service.checks import AuthorizationRequest, SealQuery
from gateway.service.ids import SealPosition

log = logging.getLogger("gateway.service")

T = TypeVar("T")

AUTHORIZATION_CURSOR = "authorization"
# The vendor code of a failure the gateway did not expect while handling a vendor's answer.
UNHANDLED = "UNHANDLED_ANSWER"


@dataclass(frozen=True, slots=True)
class Limits:
    default_page_size: int = 20
    max_page_size: int = 100
    max_upload_bytes: int = 2 * 1024 * 1024


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SealEdge:
    cursor: str
    seal: Seal


@dataclass(frozen=True, slots=True)
class SealPage:
    """A page of `seals`, with the providers that failed to answer (their errors beside)."""

    edges: list[SealEdge]
    has_next: bool
    has_previous: bool
    # Where to continue: the last edge's cursor, or, on a page without edges that still has
    # more to come (every provider it reached failed), the position to try again from.
    end_cursor: str | None
    unavailable: list[ProviderName]
    errors: list[GatewayError]
    providers: tuple[ProviderName, ...]
    seal_filter: SealFilter


@dataclass(frozen=True, slots=True)
class Counted:
    total: int
    errors: list[GatewayError]


@dataclass(frozen=True, slots=True)
class AuthorizationEdge:
    cursor: str
    authorization: Authorization


@dataclass(frozen=True, slots=True)
class AuthorizationPage:
    edges: list[AuthorizationEdge]
    total: int
    has_next: bool
    has_previous: bool


@dataclass(frozen=True, slots=True)
class DefaultChange:
    seal: Seal | None
    previous: Seal | None


@dataclass(frozen=True, slots=True)
class Authorized:
    seal: Seal | None
    # None when reading them back failed (the error beside says the write happened).
    authorizations: list[Authorization] | None


@dataclass(slots=True)
class WriteResult(Generic[T]):
    """A write's outcome: its value, or the user error it was refused with. `problems` are
    failures after the write succeeded (reading the result back): the write stands, and each
    problem says so (`write_succeeded`)."""

    value: T | None = None
    rejection: WriteRejected | None = None
    problems: list[GatewayError] = field(default_factory=list)


class ReadBackFailed(UpstreamError):
    """Reading a write's result back failed; the write itself happened."""

    def __init__(self, cause: GatewayError, provider: ProviderName) -> None:
        super().__init__(
            provider,
            f"The change was made, but reading it back failed: {cause.message}",
            code=cause.code,
            vendor_code=getattr(cause, "vendor_code", None),
            retryable=getattr(cause, "retryable", False),
        )
        self.write_succeeded = True


# --- the service ----------------------------------------------------------------------------


class SealService:
    """One request's view of the organisation's seals at every configured provider."""

    def __init__(
        self,
        adapters: Mapping[ProviderName, SealProvider],
        scope: OrgScope,
        limits: Limits,
    ) -> None:
        self._adapters = adapters
        self._scope = scope
        self.limits = limits
        self._loaders = Loaders(adapters, scope)

    # --- providers --------------------------------------------------------------------------

    def configured(self) -> list[ProviderName]:
        return [p for p in PROVIDER_ORDER if p in self._adapters]

    def operations(self, provider: ProviderName) -> list[Capability]:
        adapter = self._adapters.get(provider)
        return [] if adapter is None else [c for c in Capability if adapter.supports(c)]

    def _adapter(self, provider: ProviderName) -> SealProvider:
        """The one place that answers "this provider is not configured"."""
        adapter = self._adapters.get(provider)
        if adapter is None:
            raise NotFound(f"Provider {provider.value} is not configured.", provider)
        return adapter

    async def _shielded(self, provider: ProviderName, call: Awaitable[T]) -> T:
        """The call's result; any failure as a GatewayError of `provider`."""
        try:
            return await call
        except GatewayError:
            raise
        except Exception as error:
            log.error("unexpected failure handling %s", provider.value, exc_info=error)
            raise UpstreamError(
                provider,
                f"{provider.label}'s answer could not be handled.",
                vendor_code=UNHANDLED,
            ) from None

    # --- single objects ---------------------------------------------------------------------

    async def seal(self, key: SealKey) -> Seal:
        self._adapter(key.provider)
        seal: Seal = await self._shielded(key.provider, self._loaders.seal_detail.load(key))
        return seal

    async def seal_by_id(self, value: str, field: str = "id") -> Seal:
        return await self.seal(ids.seal_key(value, field))

    async def node(self, value: str) -> Seal | Authorization:
        type_name, node_id = ids.parse_global_id(value)
        if type_name == ids.SEAL_TYPE:
            return await self.seal(ids.seal_key(value))
        if type_name == ids.AUTHORIZATION_TYPE:
            key = AuthorizationKey(*ids.authorization_key(node_id))
            self._adapter(key.provider)
            found: Authorization = await self._shielded(
                key.provider, self._loaders.authorization.load(key)
            )
            return found
        raise BadInput(f"{value!r} is not an id this API issued.", "id")

    async def nodes(self, values: Sequence[str]) -> list[Seal | Authorization | GatewayError]:
        """Each id's object, or the error that id alone failed with, in order."""
        maximum = self.limits.max_page_size
        if len(values) > maximum:
            raise BadInput(f"`ids` may hold at most {maximum} ids.", "ids")

        async def resolve(value: str) -> Seal | Authorization | GatewayError:
            try:
                return await self.node(value)
            except GatewayError as error:
                return error

        # Concurrently, so the loaders batch and de-duplicate the ids' vendor calls.
        return list(await asyncio.gather(*(resolve(v) for v in values)))

    async def load_attribute(self, seal: Seal, attr: SealAttr) -> object:
        """An attribute this view of the seal lacks, through the vendor call that carries it
        (e签宝: v3 detail for a listed seal, the v1 list for one fetched by id); None where the
        provider has no such attribute."""
        adapter = self._adapters.get(seal.key.provider)
        if adapter is None or attr not in adapter.fields:
            return None
        loaders = self._loaders
        loader = loaders.seal_detail if attr in adapter.detail_fields else loaders.seal_listing
        other: Seal = await self._shielded(seal.key.provider, loader.load(seal.key))
        return other.value(attr)

    # --- seals across providers -------------------------------------------------------------

    def _selected(self, wanted: tuple[ProviderName, ...] | None) -> tuple[ProviderName, ...]:
        names = self.configured()
        if wanted is not None:
            names = [p for p in names if p in wanted]
        return tuple(names)

    async def seal_page(self, first: int | None, after: str | None, query: SealQuery) -> SealPage:
        """A page of seals over every selected provider, in PROVIDER_ORDER."""
        limit = checks.page_size(first, self.limits.default_page_size, self.limits.max_page_size)
        seal_filter = checks.seal_filter(query)
        providers = self._selected(query.providers)
        start = (
            SealPosition.parse(after, seal_filter, providers)
            if after is not None
            else SealPosition.start(providers)
        )
        offsets: dict[ProviderName, int | None] = dict(start.offsets)
        edges: list[SealEdge] = []
        errors: list[GatewayError] = []
        unavailable: list[ProviderName] = []
        reached: set[ProviderName] = set()

        for provider in providers:
            offset = offsets[provider]
            remaining = limit - len(edges)
            if offset is None or remaining == 0:
                continue
            try:
                page = await self._shielded(
                    provider, self._loaders.seal_page(provider, seal_filter, offset, remaining)
                )
            except GatewayError as error:
                errors.append(error)
                unavailable.append(provider)
                continue
            reached.add(provider)
            for index, seal in enumerate(page.items):
                position = offset + index + 1
                offsets[provider] = None if position >= page.total else position
                edges.append(SealEdge(SealPosition(offsets).cursor(seal_filter, providers), seal))
            if not page.items or offset + len(page.items) >= page.total:
                offsets[provider] = None

        has_next = await self._more_follow(offsets, reached, unavailable, errors, seal_filter)
        end_cursor = edges[-1].cursor if edges else None
        if not edges and has_next:
            end_cursor = SealPosition(offsets).cursor(seal_filter, providers)
        return SealPage(
            edges=edges,
            has_next=has_next,
            has_previous=after is not None,
            end_cursor=end_cursor,
            unavailable=unavailable,
            errors=errors,
            providers=providers,
            seal_filter=seal_filter,
        )

    async def _more_follow(
        self,
        offsets: dict[ProviderName, int | None],
        reached: set[ProviderName],
        unavailable: list[ProviderName],
        errors: list[GatewayError],
        seal_filter: SealFilter,
    ) -> bool:
        """Whether a page follows: some provider still has seals to serve. A provider the page
        did not reach costs a count call, and only when no earlier one settles the question."""
        for provider, offset in offsets.items():
            if offset is None:
                continue
            if provider in reached or provider in unavailable:
                return True
            try:
                total = await self._shielded(
                    provider, self._loaders.seal_total(provider, seal_filter)
                )
            except GatewayError as error:
                errors.append(error)
                unavailable.append(provider)
                return True
            if total > offset:
                return True
            offsets[provider] = None
        return False

    async def total_count(self, page: SealPage) -> Counted:
        """How many seals match, over every provider of the page that answers."""
        asked = [p for p in page.providers if p not in page.unavailable]
        totals = await asyncio.gather(
            *(self._shielded(p, self._loaders.seal_total(p, page.seal_filter)) for p in asked),
            return_exceptions=True,
        )
        errors: list[GatewayError] = []
        for total in totals:
            if isinstance(total, GatewayError):
                errors.append(total)
            elif isinstance(total, BaseException):
                raise total
        return Counted(sum(t for t in totals if isinstance(t, int)), errors)

    async def authorizations(
        self, seal: Seal, first: int | None, after: str | None
    ) -> AuthorizationPage | None:
        """A page of who may use the seal; None where its provider cannot list them."""
        provider = seal.key.provider
        adapter = self._adapters.get(provider)
        if adapter is None or not adapter.supports(Capability.LIST_AUTHORIZATIONS):
            return None
        limit = checks.page_size(first, self.limits.default_page_size, self.limits.max_page_size)
        offset = ids.parse_offset_cursor(AUTHORIZATION_CURSOR, after)
        page: Page[Authorization] = await self._shielded(
            provider,
            self._loaders.authorization_page(provider, seal.key.vendor_id, offset, limit),
        )
        edges = [
            AuthorizationEdge(ids.offset_cursor(AUTHORIZATION_CURSOR, offset + i), item)
            for i, item in enumerate(page.items)
        ]
        return AuthorizationPage(
            edges=edges,
            total=page.total,
            has_next=offset + len(edges) < page.total,
            has_previous=offset > 0,
        )

    # --- the write path ---------------------------------------------------------------------

    def _write_target(self, provider: ProviderName, capability: Capability) -> SealProvider:
        """The provider a write goes to, checked to be configured and to support it."""
        try:
            adapter = self._adapter(provider)
        except NotFound as error:
            raise WriteRejected(
                Rejection.NOT_SUPPORTED, error.message, field="provider", provider=provider
            ) from None
        if not adapter.supports(capability):
            what = capability.value.lower().replace("_", " ")
            raise WriteRejected(
                Rejection.NOT_SUPPORTED,
                f"Provider {provider.value} does not support this operation ({what}).",
                provider=provider,
            )
        return adapter

    def _seal_target(self, seal_id: str, capability: Capability) -> tuple[SealProvider, SealKey]:
        """The seal a write is about, and its provider, checked to support the write."""
        try:
            key = ids.seal_key(seal_id, "sealId")
        except BadInput as error:
            raise checks.invalid("sealId", error.message) from None
        return self._write_target(key.provider, capability), key

    async def _before(self, provider: ProviderName, read: Awaitable[T]) -> T:
        """A read a write needs before it is sent: its failure means nothing was written."""
        try:
            return await self._shielded(provider, read)
        except UpstreamError as error:
            error.write_may_have_happened = False
            raise

    async def _send(self, adapter: SealProvider, call: Awaitable[T]) -> T:
        """The vendor call of a write. A refusal the vendor's table knows becomes that user
        error, an unknown business code VENDOR_REJECTED; outages stay upstream errors saying
        whether the write may have happened. Never retried: it may have arrived."""
        try:
            result = await self._shielded(adapter.name, call)
        except BadInput as error:  # the provider found an id malformed: nothing was sent
            field = "sealId" if error.field in (None, "id") else error.field
            raise checks.invalid(field, error.message) from None
        except UpstreamError as error:
            raise _refusal(adapter, error) from None
        self._loaders.forget()  # reads from now on must see the write's effect
        return result

    async def _read_back(
        self, provider: ProviderName, read: Awaitable[T], result: WriteResult[Any]
    ) -> T | None:
        """A read after a successful write: its failure is a problem beside the result."""
        try:
            return await self._shielded(provider, read)
        except GatewayError as error:
            result.problems.append(ReadBackFailed(error, provider))
            return None

    # --- the writes -------------------------------------------------------------------------

    async def _write(
        self, steps: Callable[[WriteResult[T]], Awaitable[T | None]]
    ) -> WriteResult[T]:
        """Runs a write's steps (each made of the helpers above); a refusal at any step is the
        result's user error."""
        result: WriteResult[T] = WriteResult()
        try:
            result.value = await steps(result)
        except WriteRejected as rejection:
            result.rejection = rejection
        return result

    async def _create(
        self,
        provider: ProviderName,
        capability: Capability,
        send: Callable[[SealProvider], Awaitable[str]],
        result: WriteResult[Seal],
    ) -> Seal | None:
        """Creates a seal through `send` (which answers its vendor id) and reads it back."""
        adapter = self._write_target(provider, capability)
        vendor_id = await self._send(adapter, send(adapter))
        return await self._read_back(provider, self.seal(SealKey(provider, vendor_id)), result)

    async def upload_image(
        self, provider: ProviderName, file_name: str, data: bytes, color: SealColor | None
    ) -> WriteResult[UploadedImage]:
        async def steps(result: WriteResult[UploadedImage]) -> UploadedImage:
            adapter = self._write_target(provider, Capability.UPLOAD_IMAGE)
            checks.seal_image(data, self.limits.max_upload_bytes)
            name = file_name.rsplit("/", 1)[-1] or "seal.png"
            return await self._send(adapter, adapter.upload_image(self._scope, name, data, color))

        return await self._write(steps)

    async def create_template_seal(
        self, provider: ProviderName, spec: TemplateSealSpec
    ) -> WriteResult[Seal]:
        async def steps(result: WriteResult[Seal]) -> Seal | None:
            checked = checks.template_spec(spec)
            return await self._create(
                provider,
                Capability.CREATE_FROM_TEMPLATE,
                lambda adapter: adapter.create_template_seal(self._scope, checked),
                result,
            )

        return await self._write(steps)

    async def create_image_seal(
        self, provider: ProviderName, spec: ImageSealSpec
    ) -> WriteResult[Seal]:
        async def steps(result: WriteResult[Seal]) -> Seal | None:
            checked = checks.image_spec(spec)
            return await self._create(
                provider,
                Capability.CREATE_FROM_IMAGE,
                lambda adapter: adapter.create_image_seal(self._scope, checked),
                result,
            )

        return await self._write(steps)

    async def preview_template_seal(
        self, provider: ProviderName, spec: TemplateSealSpec
    ) -> WriteResult[UploadedImage]:
        async def steps(result: WriteResult[UploadedImage]) -> UploadedImage:
            adapter = self._write_target(provider, Capability.PREVIEW)
            checked = checks.template_spec(spec)
            return await self._send(adapter, adapter.preview_template_seal(self._scope, checked))

        return await self._write(steps)

    async def preview_image_seal(
        self,
        provider: ProviderName,
        file_name: str,
        url: str,
        color: SealColor | None,
        opacity: float | None,
    ) -> WriteResult[UploadedImage]:
        async def steps(result: WriteResult[UploadedImage]) -> UploadedImage:
            adapter = self._write_target(provider, Capability.PREVIEW)
            name, link = checks.upload_ref(file_name, url)
            upload = UploadedImage(name, "", link, None, None, None)
            alpha = checks.opacity(opacity)
            return await self._send(
                adapter, adapter.preview_image_seal(self._scope, upload, color, alpha)
            )

        return await self._write(steps)

    async def rename_seal(self, seal_id: str, name: str) -> WriteResult[Seal]:
        async def steps(result: WriteResult[Seal]) -> Seal | None:
            adapter, key = self._seal_target(seal_id, Capability.RENAME)
            new_name = checks.name(name)
            await self._send(adapter, adapter.rename_seal(self._scope, key.vendor_id, new_name))
            return await self._read_back(key.provider, self.seal(key), result)

        return await self._write(steps)

    async def set_default_seal(self, seal_id: str) -> WriteResult[DefaultChange]:
        async def steps(result: WriteResult[DefaultChange]) -> DefaultChange:
            adapter, key = self._seal_target(seal_id, Capability.SET_DEFAULT)
            defaults = await self._before(
                key.provider,
                self._loaders.seal_page(key.provider, SealFilter(is_default=True), 0, 1),
            )
            previous = next((s.key for s in defaults.items if s.key != key), None)
            await self._send(adapter, adapter.set_default_seal(self._scope, key.vendor_id))
            seal = await self._read_back(key.provider, self.seal(key), result)
            if previous is None:
                return DefaultChange(seal, None)
            return DefaultChange(
                seal, await self._read_back(key.provider, self.seal(previous), result)
            )

        return await self._write(steps)

    async def delete_seal(self, seal_id: str) -> WriteResult[str]:
        """Answers the deleted seal's id."""

        async def steps(result: WriteResult[str]) -> str:
            adapter, key = self._seal_target(seal_id, Capability.DELETE)
            await self._send(adapter, adapter.delete_seal(self._scope, key.vendor_id))
            return seal_id

        return await self._write(steps)

    async def authorize_seal(self, request: AuthorizationRequest) -> WriteResult[Authorized]:
        async def steps(result: WriteResult[Authorized]) -> Authorized:
            adapter, key = self._seal_target(request.seal_id, Capability.AUTHORIZE)
            spec = checks.authorization_spec(request, key.vendor_id)

            def listing() -> Awaitable[list[Authorization]]:
                return self._loaders.all_authorizations(key.provider, key.vendor_id)

            # The vendor answers no ids: the new rules are those absent before the call.
            before = {a.vendor_id for a in await self._before(key.provider, listing())}
            await self._send(adapter, adapter.authorize(self._scope, spec))
            after = await self._read_back(key.provider, listing(), result)
            created = None
            if after is not None:
                created = [
                    a
                    for a in after
                    if a.vendor_id not in before
                    and a.user_id in spec.user_ids
                    and a.role == spec.role
                ]
            return Authorized(await self._read_back(key.provider, self.seal(key), result), created)

        return await self._write(steps)

    async def management_url(self, provider: ProviderName) -> WriteResult[str]:
        async def steps(result: WriteResult[str]) -> str:
            adapter = self._write_target(provider, Capability.MANAGEMENT_URL)
            return await self._send(adapter, adapter.management_url(self._scope))

        return await self._write(steps)


def _refusal(adapter: SealProvider, error: UpstreamError) -> GatewayError:
    """A failed write call as the client should see it: the user error the vendor's code
    names, VENDOR_REJECTED for a business code the table lacks, else the upstream error."""
    code = error.vendor_code or ""
    if code in adapter.rejections:
        reason, field = adapter.rejections[code]
        return WriteRejected(
            reason, error.message, field=field, provider=adapter.name, vendor_code=code
        )
    if (
        error.code == ErrorCode.UPSTREAM_ERROR
        and error.write_may_have_happened is False
        and code
        and not code.startswith("HTTP_")
    ):
        return WriteRejected(
            Rejection.VENDOR_REJECTED,
            f"{adapter.name.label} refused the request: {error.message}",
            provider=adapter.name,
            vendor_code=code,
        )
    if isinstance(error, MalformedAnswer) or error.vendor_code == UNHANDLED:
        # the vendor answered, so the write arrived; what it did is unknown
        error.write_may_have_happened = True
    elif error.write_may_have_happened is None:
        # it failed before the write was sent (fetching a token)
        error.write_may_have_happened = False
    return error
