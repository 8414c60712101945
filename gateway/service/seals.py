"""The use cases of the API for one request, in plain Python: what the schema asks, answered
from the providers through the per-request loaders.

Rules that live here and nowhere else:
- every failure below this layer reaches callers as a `GatewayError` of one provider: an
  exception a provider did not expect becomes that provider's upstream error, so one vendor's
  bad answer never takes another vendor's data with it;
- `seals` walks the providers in a fixed order with cursors that remember every provider's
  position, so a provider failing mid-walk is tried again on the next page, never skipped;
- every write runs one path: the caller's role checked, target and capability checked, input
  checked, the target's tenant checked, vendor call, vendor refusal mapped to a user error,
  read-back, one audit event. A failed read-back never hides a write that happened;
- a seal the tenant has no such id for, whether the vendor says so or the id is another
  tenant's, gets one answer (UNKNOWN_SEAL), so nobody learns what other tenants hold.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from gateway.domain import (
    PROVIDER_ORDER,
    Authorization,
    BadInput,
    Caller,
    Capability,
    ErrorCode,
    Forbidden,
    GatewayError,
    ImageSealSpec,
    MalformedAnswer,
    NotFound,
    OrgScope,
    Page,
    ProviderName,
    Rejection,
    Role,
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
from gateway.providers.base import SealProvider
from gateway.service import checks, ids
from gateway.service.checks import AuthorizationRequest, SealQuery
from gateway.service.ids import SealCursors, SealPosition
from gateway.service.loaders import AuthorizationKey, Loaders, settle

log = logging.getLogger("gateway.service")
audit_log = logging.getLogger("gateway.audit")

T = TypeVar("T")

AUTHORIZATION_CURSOR = "authorization"
# The vendor code of a failure the gateway did not expect while handling a vendor's answer.
UNHANDLED = "UNHANDLED_ANSWER"
# The one answer for a seal id that names nothing this tenant has.
UNKNOWN_SEAL = "No seal has this id."
UNKNOWN_AUTHORIZATION = "No authorisation has this id."


@dataclass(frozen=True, slots=True)
class Limits:
    default_page_size: int = 20
    max_page_size: int = 100
    max_upload_bytes: int = 2 * 1024 * 1024


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SealEdge:
    seal: Seal
    # the walk's position after this seal, one offset per provider
    position: tuple[int | None, ...]
    cursors: SealCursors

    @property
    def cursor(self) -> str:
        """Made when asked for: a page's edges' cursors are seldom all read."""
        return self.cursors.cursor(self.position)


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


@dataclass(frozen=True, slots=True)
class Target:
    """What a write is aimed at: its provider, the seal (for writes on one), and whether the
    seal's id was issued to the calling tenant."""

    adapter: SealProvider
    key: SealKey | None = None
    ours: bool = True


class SealService:
    """One request's view of one tenant's seals at every provider the tenant configured."""

    def __init__(
        self,
        adapters: Mapping[ProviderName, SealProvider],
        scope: OrgScope,
        limits: Limits,
        caller: Caller | None = None,
        *,
        reconcile: bool = False,
    ) -> None:
        self._adapters = adapters
        self._scope = scope
        self.limits = limits
        self.caller = caller or Caller.anonymous()
        # This request repeats a write whose outcome was unknown (same Idempotency-Key): a
        # create first looks for the seal the earlier attempt may have made.
        self._reconcile = reconcile
        self._tenant = self.caller.tenant
        self._loaders = Loaders(adapters, scope)

    # --- ids --------------------------------------------------------------------------------

    def seal_node_id(self, seal: Seal) -> str:
        """The seal's node id as issued to this tenant."""
        return ids.bind(self._tenant, seal.key.node_id())

    def authorization_node_id(self, authorization: Authorization) -> str:
        return ids.bind(self._tenant, authorization.node_id())

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
        try:
            seal: Seal = await self._shielded(key.provider, self._loaders.seal_detail.load(key))
        except UpstreamError as error:
            if error.code == ErrorCode.NOT_FOUND:
                raise NotFound(UNKNOWN_SEAL, key.provider) from None
            raise
        return seal

    async def seal_by_id(self, value: str, field: str = "id") -> Seal:
        issued = ids.seal_key(value, self._tenant, field)
        self._adapter(issued.key.provider)
        if not issued.ours:
            raise NotFound(UNKNOWN_SEAL, issued.key.provider)
        return await self.seal(issued.key)

    async def node(self, value: str) -> Seal | Authorization:
        type_name, node_id = ids.parse_global_id(value)
        if type_name == ids.SEAL_TYPE:
            return await self.seal_by_id(value)
        if type_name == ids.AUTHORIZATION_TYPE:
            issued = ids.authorization_key(node_id, self._tenant)
            key = AuthorizationKey(*issued.key)
            self._adapter(key.provider)
            if not issued.ours:
                raise NotFound(UNKNOWN_AUTHORIZATION, key.provider)
            try:
                found: Authorization = await self._shielded(
                    key.provider, self._loaders.authorization.load(key)
                )
            except UpstreamError as error:
                if error.code == ErrorCode.NOT_FOUND:
                    raise NotFound(UNKNOWN_AUTHORIZATION, key.provider) from None
                raise
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
        """An attribute this view of the seal lacks, through the cheapest vendor call that
        carries it (e签宝: the v3 list or v3 detail for a listed seal, the v1 list for one
        fetched by id); None where the provider has no such attribute."""
        adapter = self._adapters.get(seal.key.provider)
        if adapter is None or attr not in adapter.fields:
            return None
        loaders = self._loaders
        if attr in adapter.summary_fields:  # the cheapest view that has it
            loader = loaders.seal_summary
        elif attr in adapter.detail_fields:
            loader = loaders.seal_detail
        else:
            loader = loaders.seal_listing
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
        tenant = self._tenant
        start = (
            SealPosition.parse(after, seal_filter, providers, tenant)
            if after is not None
            else SealPosition.start(providers)
        )
        offsets: dict[ProviderName, int | None] = dict(start.offsets)
        edges: list[SealEdge] = []
        errors: list[GatewayError] = []
        unavailable: list[ProviderName] = []
        reached: set[ProviderName] = set()
        cursors = SealCursors.of(seal_filter, providers, tenant)

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
                edges.append(SealEdge(seal, tuple(offsets[p] for p in providers), cursors))
            if not page.items or offset + len(page.items) >= page.total:
                offsets[provider] = None

        has_next = await self._more_follow(offsets, reached, unavailable, errors, seal_filter)
        end_cursor = edges[-1].cursor if edges else None
        if not edges and has_next:
            end_cursor = cursors.cursor(tuple(offsets[p] for p in providers))
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
        totals = await settle(
            *(self._shielded(p, self._loaders.seal_total(p, page.seal_filter)) for p in asked)
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
        offset = ids.parse_offset_cursor(AUTHORIZATION_CURSOR, after, self._tenant)
        page: Page[Authorization] = await self._shielded(
            provider,
            self._loaders.authorization_page(provider, seal.key.vendor_id, offset, limit),
        )
        edges = [
            AuthorizationEdge(
                ids.offset_cursor(AUTHORIZATION_CURSOR, offset + i, self._tenant), item
            )
            for i, item in enumerate(page.items)
        ]
        return AuthorizationPage(
            edges=edges,
            total=page.total,
            has_next=offset + len(edges) < page.total,
            has_previous=offset > 0,
        )

    # --- the write path ---------------------------------------------------------------------

    def _write_target(self, provider: ProviderName, capability: Capability) -> Target:
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
        return Target(adapter)

    def _seal_target(self, seal_id: str, capability: Capability) -> Target:
        """The seal a write is about, and its provider, checked to support the write. Whether
        the id is this tenant's is checked at the first vendor call, after the input: a
        foreign id then fails exactly where an unknown one would."""
        try:
            issued = ids.seal_key(seal_id, self._tenant, "sealId")
        except BadInput as error:
            raise checks.invalid("sealId", error.message) from None
        target = self._write_target(issued.key.provider, capability)
        return Target(target.adapter, issued.key, issued.ours)

    def _unknown_seal(self, target: Target) -> WriteRejected:
        return WriteRejected(
            Rejection.SEAL_NOT_FOUND, UNKNOWN_SEAL, field="sealId", provider=target.adapter.name
        )

    def _vendor_call(self, target: Target, call: Awaitable[T]) -> Awaitable[T]:
        if target.ours:
            return self._shielded(target.adapter.name, call)
        getattr(call, "close", lambda: None)()  # never sent: another tenant's seal
        raise self._unknown_seal(target)

    async def _before(self, target: Target, read: Awaitable[T]) -> T:
        """A read a write needs before it is sent: its failure means nothing was written."""
        try:
            return await self._vendor_call(target, read)
        except UpstreamError as error:
            if error.code == ErrorCode.NOT_FOUND:
                raise self._unknown_seal(target) from None
            error.write_may_have_happened = False
            raise

    async def _send(self, target: Target, call: Awaitable[T]) -> T:
        """The vendor call of a write. A refusal the vendor's table knows becomes that user
        error, an unknown business code VENDOR_REJECTED; outages stay upstream errors saying
        whether the write may have happened. Never retried: it may have arrived."""
        try:
            result = await self._vendor_call(target, call)
        except BadInput as error:  # the provider found an id malformed: nothing was sent
            field = "sealId" if error.field in (None, "id") else error.field
            raise checks.invalid(field, error.message) from None
        except UpstreamError as error:
            refusal = _refusal(target.adapter, error)
            if isinstance(refusal, WriteRejected) and refusal.reason == Rejection.SEAL_NOT_FOUND:
                raise self._unknown_seal(target) from None
            raise refusal from None
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

    async def _write(
        self,
        operation: str,
        steps: Callable[[WriteResult[T]], Awaitable[T | None]],
        *,
        seal_id: str | None = None,
        changes: bool = True,
    ) -> WriteResult[T]:
        """Runs a write's steps (each made of the helpers above); a refusal at any step is the
        result's user error. Only admins change anything (`changes`); previews, which change
        nothing, are open to viewers. Every attempt is one audit event."""
        result: WriteResult[T] = WriteResult()
        try:
            if changes and self.caller.role != Role.ADMIN:
                raise Forbidden("Your role may not change seals; an admin may.")
            result.value = await steps(result)
        except WriteRejected as rejection:
            result.rejection = rejection
        except GatewayError as error:
            self._audit(operation, seal_id, error)
            raise
        self._audit(operation, seal_id, result.rejection)
        return result

    def _audit(self, operation: str, seal_id: str | None, failure: GatewayError | None) -> None:
        """One structured event per write attempt: who, for which tenant, what, the outcome.
        Never a secret, a token or file content: only the fields below."""
        if isinstance(failure, Forbidden):
            outcome = "forbidden"
        elif isinstance(failure, WriteRejected):
            outcome = "refused"
        elif failure is not None:
            outcome = "failed"
        else:
            outcome = "ok"
        event = {
            "event": "write",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tenant": self.caller.tenant,
            "subject": self.caller.subject,
            "role": self.caller.role.value,
            "operation": operation,
            "sealId": seal_id,
            "outcome": outcome,
            "code": getattr(failure, "reason", failure.code if failure else None),
            "vendorCode": getattr(failure, "vendor_code", None),
            "requestId": self.caller.request_id,
        }
        code = event["code"]
        event["code"] = getattr(code, "value", code)
        audit_log.info(json.dumps(event, ensure_ascii=False, separators=(",", ":")))

    # --- the writes -------------------------------------------------------------------------

    async def _create(
        self,
        provider: ProviderName,
        capability: Capability,
        name: str,
        send: Callable[[SealProvider], Awaitable[str]],
        result: WriteResult[Seal],
    ) -> Seal | None:
        """Creates a seal named `name` through `send` (which answers its vendor id) and reads
        it back. Repeating a create whose outcome was unknown, the seal that attempt made,
        if any, is the answer (names are unique at both vendors)."""
        target = self._write_target(provider, capability)
        if self._reconcile:
            made = await self._before(target, self._seal_named(provider, name))
            if made is not None:
                log.info("a repeated create found the seal its first attempt made")
                return await self._read_back(provider, self.seal(made.key), result)
        vendor_id = await self._send(target, send(target.adapter))
        return await self._read_back(provider, self.seal(SealKey(provider, vendor_id)), result)

    async def _seal_named(self, provider: ProviderName, name: str) -> Seal | None:
        found = await self._loaders.seal_page(
            provider, SealFilter(name_contains=name), 0, self.limits.max_page_size
        )
        return next((seal for seal in found.items if seal.name == name), None)

    async def upload_image(
        self, provider: ProviderName, file_name: str, data: bytes, color: SealColor | None
    ) -> WriteResult[UploadedImage]:
        async def steps(result: WriteResult[UploadedImage]) -> UploadedImage:
            target = self._write_target(provider, Capability.UPLOAD_IMAGE)
            checks.seal_image(data, self.limits.max_upload_bytes)
            name = file_name.rsplit("/", 1)[-1] or "seal.png"
            return await self._send(
                target, target.adapter.upload_image(self._scope, name, data, color)
            )

        return await self._write("uploadSealImage", steps)

    async def create_template_seal(
        self, provider: ProviderName, spec: TemplateSealSpec
    ) -> WriteResult[Seal]:
        async def steps(result: WriteResult[Seal]) -> Seal | None:
            checked = checks.template_spec(spec)
            return await self._create(
                provider,
                Capability.CREATE_FROM_TEMPLATE,
                checked.name,
                lambda adapter: adapter.create_template_seal(self._scope, checked),
                result,
            )

        return await self._write("createTemplateSeal", steps)

    async def create_image_seal(
        self, provider: ProviderName, spec: ImageSealSpec
    ) -> WriteResult[Seal]:
        async def steps(result: WriteResult[Seal]) -> Seal | None:
            checked = checks.image_spec(spec)
            return await self._create(
                provider,
                Capability.CREATE_FROM_IMAGE,
                checked.name,
                lambda adapter: adapter.create_image_seal(self._scope, checked),
                result,
            )

        return await self._write("createImageSeal", steps)

    async def preview_template_seal(
        self, provider: ProviderName, spec: TemplateSealSpec
    ) -> WriteResult[UploadedImage]:
        async def steps(result: WriteResult[UploadedImage]) -> UploadedImage:
            target = self._write_target(provider, Capability.PREVIEW)
            checked = checks.template_spec(spec)
            return await self._send(
                target, target.adapter.preview_template_seal(self._scope, checked)
            )

        return await self._write("previewTemplateSeal", steps, changes=False)

    async def preview_image_seal(
        self,
        provider: ProviderName,
        file_name: str,
        url: str,
        color: SealColor | None,
        opacity: float | None,
    ) -> WriteResult[UploadedImage]:
        async def steps(result: WriteResult[UploadedImage]) -> UploadedImage:
            target = self._write_target(provider, Capability.PREVIEW)
            name, link = checks.upload_ref(file_name, url)
            upload = UploadedImage(name, "", link, None, None, None)
            alpha = checks.opacity(opacity)
            return await self._send(
                target, target.adapter.preview_image_seal(self._scope, upload, color, alpha)
            )

        return await self._write("previewImageSeal", steps, changes=False)

    async def rename_seal(self, seal_id: str, name: str) -> WriteResult[Seal]:
        async def steps(result: WriteResult[Seal]) -> Seal | None:
            target = self._seal_target(seal_id, Capability.RENAME)
            key = _key(target)
            new_name = checks.name(name)
            await self._send(
                target, target.adapter.rename_seal(self._scope, key.vendor_id, new_name)
            )
            return await self._read_back(key.provider, self.seal(key), result)

        return await self._write("renameSeal", steps, seal_id=seal_id)

    async def set_default_seal(self, seal_id: str) -> WriteResult[DefaultChange]:
        async def steps(result: WriteResult[DefaultChange]) -> DefaultChange:
            target = self._seal_target(seal_id, Capability.SET_DEFAULT)
            key = _key(target)
            defaults = await self._before(
                target, self._loaders.seal_page(key.provider, SealFilter(is_default=True), 0, 1)
            )
            previous = next((s.key for s in defaults.items if s.key != key), None)
            await self._send(target, target.adapter.set_default_seal(self._scope, key.vendor_id))
            seal = await self._read_back(key.provider, self.seal(key), result)
            if previous is None:
                return DefaultChange(seal, None)
            return DefaultChange(
                seal, await self._read_back(key.provider, self.seal(previous), result)
            )

        return await self._write("setDefaultSeal", steps, seal_id=seal_id)

    async def delete_seal(self, seal_id: str) -> WriteResult[str]:
        """Answers the deleted seal's id."""

        async def steps(result: WriteResult[str]) -> str:
            target = self._seal_target(seal_id, Capability.DELETE)
            key = _key(target)
            await self._send(target, target.adapter.delete_seal(self._scope, key.vendor_id))
            return seal_id

        return await self._write("deleteSeal", steps, seal_id=seal_id)

    async def authorize_seal(self, request: AuthorizationRequest) -> WriteResult[Authorized]:
        async def steps(result: WriteResult[Authorized]) -> Authorized:
            target = self._seal_target(request.seal_id, Capability.AUTHORIZE)
            key = _key(target)
            spec = checks.authorization_spec(request, key.vendor_id)

            def listing() -> Awaitable[list[Authorization]]:
                return self._loaders.all_authorizations(key.provider, key.vendor_id)

            # The vendor answers no ids: the new rules are those absent before the call.
            before = {a.vendor_id for a in await self._before(target, listing())}
            await self._send(target, target.adapter.authorize(self._scope, spec))
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

        return await self._write("authorizeSeal", steps, seal_id=request.seal_id)

    async def management_url(self, provider: ProviderName) -> WriteResult[str]:
        async def steps(result: WriteResult[str]) -> str:
            target = self._write_target(provider, Capability.MANAGEMENT_URL)
            return await self._send(target, target.adapter.management_url(self._scope))

        return await self._write("sealManagementUrl", steps)


def _key(target: Target) -> SealKey:
    assert target.key is not None, "a seal target names its seal"
    return target.key


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
