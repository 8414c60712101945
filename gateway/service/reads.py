"""The reads of the API for one request, in plain Python: what the queries ask, answered from
the providers through the per-request loaders.

Rules that live here and nowhere else:
- every failure below this layer reaches callers as a `GatewayError` of one provider: an
  exception a provider did not expect becomes that provider's upstream error, so one vendor's
  bad answer never takes another vendor's data with it;
- `seals` walks the providers in a fixed order with cursors that remember every provider's
  position, so a provider failing mid-walk is tried again on the next page, never skipped;
- a seal the tenant has no such id for, whether the vendor says so or the id is another
  tenant's, gets one answer (UNKNOWN_SEAL), so nobody learns what other tenants hold.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from gateway.domain import (
    PROVIDER_ORDER,
    Authorization,
    AuthorizationStatusReason,
    BadInput,
    Caller,
    Capability,
    ErrorCode,
    GatewayError,
    NotFound,
    OrgScope,
    Page,
    ProviderName,
    Seal,
    SealAttr,
    SealFilter,
    SealKey,
    TemplateStyle,
    UpstreamError,
)
from gateway.providers.base import SealProvider
from gateway.service import checks, ids
from gateway.service.cache import ReadCache
from gateway.service.checks import SealQuery
from gateway.service.ids import SealCursors, SealPosition
from gateway.service.loaders import AuthorizationKey, Loaders, settle
from gateway.settings import DEFAULTS

log = logging.getLogger("gateway.service")

T = TypeVar("T")

AUTHORIZATION_CURSOR = "authorization"
# The vendor code of a failure the gateway did not expect while handling a vendor's answer.
UNHANDLED = "UNHANDLED_ANSWER"
# The one answer for a seal id that names nothing this tenant has.
UNKNOWN_SEAL = "No seal has this id."
UNKNOWN_AUTHORIZATION = "No authorisation has this id."


@dataclass(frozen=True, slots=True)
class Limits:
    default_page_size: int = DEFAULTS.default_page_size
    max_page_size: int = DEFAULTS.max_page_size
    max_upload_bytes: int = DEFAULTS.max_upload_bytes


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


# --- the reads ------------------------------------------------------------------------------


class SealReads:
    """One request's view of one tenant's seals at every provider the tenant configured:
    what the queries read, and the shared ground the writes stand on (its adapters, loaders
    and the one place that turns a failure into its provider's error)."""

    def __init__(
        self,
        adapters: Mapping[ProviderName, SealProvider],
        scope: OrgScope,
        limits: Limits,
        caller: Caller | None = None,
        cache: ReadCache | None = None,
    ) -> None:
        self.adapters = adapters
        self.scope = scope
        self.limits = limits
        self.caller = caller or Caller.anonymous()
        self.tenant = self.caller.tenant
        self.loaders = Loaders(
            adapters, scope, None if cache is None else cache.for_request(self.tenant)
        )

    # --- ids --------------------------------------------------------------------------------

    def seal_node_id(self, seal: Seal) -> str:
        """The seal's node id as issued to this tenant."""
        return ids.bind(self.tenant, seal.key.node_id())

    def authorization_node_id(self, authorization: Authorization) -> str:
        return ids.bind(self.tenant, authorization.node_id())

    # --- providers --------------------------------------------------------------------------

    def configured(self) -> list[ProviderName]:
        return [p for p in PROVIDER_ORDER if p in self.adapters]

    def operations(self, provider: ProviderName) -> list[Capability]:
        adapter = self.adapters.get(provider)
        return [] if adapter is None else [c for c in Capability if adapter.supports(c)]

    def template_styles(self, provider: ProviderName) -> tuple[TemplateStyle, ...]:
        adapter = self.adapters.get(provider)
        return () if adapter is None else adapter.template_styles

    def template_options(self, provider: ProviderName) -> frozenset[str]:
        adapter = self.adapters.get(provider)
        return frozenset() if adapter is None else adapter.template_options

    def adapter(self, provider: ProviderName) -> SealProvider:
        """The one place that answers "this provider is not configured"."""
        adapter = self.adapters.get(provider)
        if adapter is None:
            raise NotFound(f"Provider {provider.value} is not configured.", provider)
        return adapter

    async def shielded(self, provider: ProviderName, call: Awaitable[T]) -> T:
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
        self.adapter(key.provider)
        try:
            seal: Seal = await self.shielded(key.provider, self.loaders.seal_detail.load(key))
        except UpstreamError as error:
            if error.code == ErrorCode.NOT_FOUND:
                raise NotFound(UNKNOWN_SEAL, key.provider) from None
            raise
        return seal

    async def seal_by_id(self, value: str, field: str = "id") -> Seal:
        issued = ids.seal_key(value, self.tenant, field)
        self.adapter(issued.key.provider)
        if not issued.ours:
            raise NotFound(UNKNOWN_SEAL, issued.key.provider)
        return await self.seal(issued.key)

    async def node(self, value: str) -> Seal | Authorization:
        type_name, node_id = ids.parse_global_id(value)
        if type_name == ids.SEAL_TYPE:
            return await self.seal_by_id(value)
        if type_name == ids.AUTHORIZATION_TYPE:
            issued = ids.authorization_key(node_id, self.tenant)
            key = AuthorizationKey(*issued.key)
            self.adapter(key.provider)
            if not issued.ours:
                raise NotFound(UNKNOWN_AUTHORIZATION, key.provider)
            try:
                found: Authorization = await self.shielded(
                    key.provider, self.loaders.authorization.load(key)
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
        adapter = self.adapters.get(seal.key.provider)
        if adapter is None or attr not in adapter.fields:
            return None
        loaders = self.loaders
        if attr in adapter.summary_fields:  # the cheapest view that has it
            loader = loaders.seal_summary
        elif attr in adapter.detail_fields:
            loader = loaders.seal_detail
        else:
            loader = loaders.seal_listing
        other: Seal = await self.shielded(seal.key.provider, loader.load(seal.key))
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
        tenant = self.tenant
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
                page = await self.shielded(
                    provider, self.loaders.seal_page(provider, seal_filter, offset, remaining)
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
                total = await self.shielded(
                    provider, self.loaders.seal_total(provider, seal_filter)
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
            *(self.shielded(p, self.loaders.seal_total(p, page.seal_filter)) for p in asked)
        )
        errors: list[GatewayError] = []
        for total in totals:
            if isinstance(total, GatewayError):
                errors.append(total)
            elif isinstance(total, BaseException):
                raise total
        return Counted(sum(t for t in totals if isinstance(t, int)), errors)

    async def authorization_sign_url(self, authorization: Authorization) -> str | None:
        """Where the authorisation's letter is signed: asked of the vendor only while a letter
        awaits signing (the only time the link is of use)."""
        adapter = self.adapters.get(authorization.provider)
        if (
            adapter is None
            or authorization.status_reason != AuthorizationStatusReason.LETTER_NOT_SIGNED
        ):
            return None
        return await self.shielded(
            authorization.provider, adapter.authorization_sign_url(self.scope, authorization)
        )

    async def authorizations(
        self, seal: Seal, first: int | None, after: str | None
    ) -> AuthorizationPage | None:
        """A page of who may use the seal; None where its provider cannot list them."""
        provider = seal.key.provider
        adapter = self.adapters.get(provider)
        if adapter is None or not adapter.supports(Capability.LIST_AUTHORIZATIONS):
            return None
        limit = checks.page_size(first, self.limits.default_page_size, self.limits.max_page_size)
        offset = ids.parse_offset_cursor(AUTHORIZATION_CURSOR, after, self.tenant)
        page: Page[Authorization] = await self.shielded(
            provider,
            self.loaders.authorization_page(provider, seal.key.vendor_id, offset, limit),
        )
        edges = [
            AuthorizationEdge(
                ids.offset_cursor(AUTHORIZATION_CURSOR, offset + i, self.tenant), item
            )
            for i, item in enumerate(page.items)
        ]
        return AuthorizationPage(
            edges=edges,
            total=page.total,
            has_next=offset + len(edges) < page.total,
            has_previous=offset > 0,
        )
