"""An in-memory provider: a working implementation of the provider contract (lists, details,
writes with the vendor's refusals), with switches to make calls fail, for the service tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace as replace_dataclass
from types import MappingProxyType

from msgspec.structs import replace

from gateway.domain import (
    SEAL_ATTRS,
    Authorization,
    AuthorizationGrant,
    AuthorizationPeriod,
    AuthorizationSpec,
    Capability,
    DeleteOutcome,
    ErrorCode,
    OrgScope,
    Page,
    ProviderName,
    Rejection,
    Seal,
    SealBizType,
    SealFilter,
    SealKey,
    TemplateSealSpec,
    UpstreamError,
)
from gateway.providers.base import SealProvider

Failure = Callable[[], BaseException]


def outage(provider: ProviderName, *, write: bool = False) -> Failure:
    return lambda: UpstreamError(
        provider,
        f"{provider.value} could not be reached.",
        code=ErrorCode.UPSTREAM_UNAVAILABLE,
        vendor_code="HTTP_503",
        retryable=True,
        write_may_have_happened=True if write else None,
    )


def refusal(provider: ProviderName, code: str) -> Failure:
    return lambda: UpstreamError(
        provider, f"refused: {code}", vendor_code=code, write_may_have_happened=False
    )


class FakeProvider(SealProvider):
    """Seals in a list; authorisations in a list; every call counted by operation name."""

    max_page_size = 4
    rejections = MappingProxyType(
        {
            "NAME_EXISTS": (Rejection.NAME_TAKEN, "name"),
            "NO_SUCH_SEAL": (Rejection.SEAL_NOT_FOUND, "sealId"),
        }
    )

    def __init__(self, name: ProviderName, count: int, *, writes: bool = True) -> None:
        self.name = name
        self.listing_fields = frozenset(SEAL_ATTRS)
        self.detail_fields = frozenset(SEAL_ATTRS)
        self.capabilities = frozenset(Capability) if writes else frozenset()
        self.seals = [self._seal(str(i + 1), f"{name.value}-{i + 1}") for i in range(count)]
        self.authorizations: list[Authorization] = []
        self.calls: Counter[str] = Counter()
        # operation name -> failures to raise on its next calls, in order
        self.failures: dict[str, list[Failure]] = {}

    def _seal(self, vendor_id: str, name: str) -> Seal:
        return Seal(
            key=SealKey(self.name, vendor_id),
            known=frozenset(SEAL_ATTRS),
            name=name,
            biz_type=SealBizType.CONTRACT,
            is_default=vendor_id == "1",
        )

    def fail(self, operation: str, *failures: Failure) -> None:
        self.failures.setdefault(operation, []).extend(failures)

    def _enter(self, operation: str) -> None:
        self.calls[operation] += 1
        pending = self.failures.get(operation)
        if pending:
            raise pending.pop(0)()

    def _find(self, vendor_id: str) -> Seal:
        for seal in self.seals:
            if seal.key.vendor_id == vendor_id:
                return seal
        raise UpstreamError(
            self.name, "no such seal", code=ErrorCode.NOT_FOUND, vendor_code="NO_SUCH_SEAL"
        )

    async def list_range(
        self, scope: OrgScope, seal_filter: SealFilter, offset: int, limit: int
    ) -> Page[Seal]:
        self._enter("list")
        return Page(self.seals[offset : offset + limit], len(self.seals))

    async def get_seal(self, scope: OrgScope, vendor_id: str) -> Seal:
        self._enter("detail")
        return self._find(vendor_id)

    async def create_template_seal(self, scope: OrgScope, spec: TemplateSealSpec) -> str:
        self._enter("create")
        if any(seal.name == spec.name for seal in self.seals):
            raise refusal(self.name, "NAME_EXISTS")()
        seal = self._seal(str(len(self.seals) + 1), spec.name)
        self.seals.append(seal)
        return seal.key.vendor_id

    async def rename_seal(self, scope: OrgScope, seal_id: str, name: str) -> None:
        self._enter("rename")
        try:
            seal = self._find(seal_id)
        except UpstreamError:
            raise refusal(self.name, "NO_SUCH_SEAL")() from None
        self.seals[self.seals.index(seal)] = replace(seal, name=name)

    async def set_default_seal(self, scope: OrgScope, seal_id: str) -> None:
        self._enter("set_default")
        self.seals = [replace(s, is_default=s.key.vendor_id == seal_id) for s in self.seals]

    async def delete_seal(self, scope: OrgScope, seal_id: str) -> DeleteOutcome:
        self._enter("delete")
        self.seals.remove(self._find(seal_id))
        return DeleteOutcome.DELETED

    async def authorize(self, scope: OrgScope, spec: AuthorizationSpec) -> AuthorizationGrant:
        self._enter("authorize")
        for user in spec.user_ids:
            self.authorizations.append(
                Authorization(
                    self.name,
                    str(len(self.authorizations) + 1),
                    spec.seal_id,
                    user,
                    None,
                    spec.role,
                    spec.scope,
                    spec.templates,
                    spec.effective_at,
                    spec.expires_at,
                    None,
                    None,
                    None,
                    1,
                )
            )
        return AuthorizationGrant()

    async def list_authorizations(
        self, scope: OrgScope, seal_id: str, offset: int, limit: int
    ) -> Page[Authorization]:
        self._enter("authorizations")
        mine = [a for a in self.authorizations if a.seal_id == seal_id]
        return Page(mine[offset : offset + limit], len(mine))

    async def enable_seal(self, scope: OrgScope, seal_id: str) -> None:
        self._enter("enable")
        self._find(seal_id)

    async def revoke_authorization(self, scope: OrgScope, authorization: Authorization) -> None:
        self._enter("revoke_authorization")
        self.authorizations.remove(authorization)

    async def change_authorization_period(
        self, scope: OrgScope, authorization: Authorization, period: AuthorizationPeriod
    ) -> AuthorizationGrant:
        """Like e签宝: the new period is a new record, under a new id."""
        self._enter("change_authorization_period")
        renewed = replace_dataclass(
            authorization,
            vendor_id=f"{authorization.vendor_id}-renewed",
            effective_at=period.effective_at,
            expires_at=period.expires_at,
        )
        self.authorizations[self.authorizations.index(authorization)] = renewed
        return AuthorizationGrant((renewed.vendor_id,), "https://vendor.example/letter")

    async def management_url(self, scope: OrgScope) -> str:
        self._enter("management_url")
        return "https://vendor.example/manage?session=1"
