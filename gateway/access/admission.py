"""Admission: how many requests one process serves at once, for all callers, for each tenant
and for each caller. A caller's (or a tenant's) requests can never take the whole process's
capacity, so a client that holds connections open (sending its body one byte at a time) slows
only itself: every other tenant is still served.

Counted from the moment the caller is known (its credentials are in the request's headers),
before its body is read, until its answer is sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from gateway.domain import Caller

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    process: int
    tenant: int
    caller: int


class Full(Exception):
    """No room for this request; `whose` says which limit is reached."""

    def __init__(self, whose: str) -> None:
        super().__init__(whose)
        self.whose = whose  # process | tenant | caller


class Admission:
    def __init__(self, limits: AdmissionLimits) -> None:
        self.limits = limits
        self.in_flight = 0
        self._tenants: dict[str, int] = {}
        self._callers: dict[tuple[str, str], int] = {}

    def enter(self, caller: Caller) -> Ticket:
        """A ticket for one request of `caller`; Full when a limit is reached."""
        tenant = self._tenants.get(caller.tenant, 0)
        key = (caller.tenant, caller.subject)
        own = self._callers.get(key, 0)
        if own >= self.limits.caller:
            raise Full("caller")
        if tenant >= self.limits.tenant:
            raise Full("tenant")
        if self.in_flight >= self.limits.process:
            raise Full("process")
        self.in_flight += 1
        self._tenants[caller.tenant] = tenant + 1
        self._callers[key] = own + 1
        return Ticket(self, caller.tenant, key)

    def _leave(self, tenant: str, key: tuple[str, str]) -> None:
        self.in_flight -= 1
        _decrement(self._tenants, tenant)
        _decrement(self._callers, key)


def _decrement(counts: dict[K, int], key: K) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]  # no entry per caller once it has nothing in progress


class Ticket:
    __slots__ = ("_admission", "_key", "_tenant")

    def __init__(self, admission: Admission, tenant: str, key: tuple[str, str]) -> None:
        self._admission: Admission | None = admission
        self._tenant = tenant
        self._key = key

    def release(self) -> None:
        if self._admission is not None:
            self._admission._leave(self._tenant, self._key)
            self._admission = None
