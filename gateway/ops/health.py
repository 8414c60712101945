"""Readiness: whether the configured vendors answer the gateway with its credentials accepted;
ready while at least one does, the others listed as degraded.

Checked in the background every `interval_s` (one small authenticated list call per tenant and
vendor), never by a probe: `/readyz` answers from the last result, so a load balancer polling it
costs the vendors nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.domain import ErrorCode, GatewayError, OrgScope, ProviderName, SealFilter
from gateway.providers.base import SealProvider

log = logging.getLogger("gateway.health")


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    detail: str
    checked_at: float


@dataclass
class Target:
    tenant: str
    provider: ProviderName
    adapter: SealProvider
    scope: OrgScope

    @property
    def name(self) -> str:
        return f"{self.tenant}/{self.provider.value}"


class Readiness:
    def __init__(self, targets: list[Target], interval_s: float) -> None:
        self._targets = targets
        self._interval_s = interval_s
        self.results: dict[str, Check] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Checks now and every `interval_s`; an interval of 0 turns the checks off."""
        if self._interval_s > 0:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.gather(*(self._check(target) for target in self._targets))
            await asyncio.sleep(self._interval_s)

    async def _check(self, target: Target) -> None:
        try:
            await target.adapter.list_range(target.scope, SealFilter(), 0, 1)
        except GatewayError as error:
            result = Check(False, _why(error), time.time())
        except Exception:  # a check must never stop the loop; the reason goes to the log
            log.exception("readiness check of %s failed unexpectedly", target.name)
            result = Check(False, "the check failed unexpectedly", time.time())
        else:
            result = Check(True, "ok", time.time())
        previous = self.results.get(target.name)
        if previous is None or previous.ok != result.ok:
            log.log(
                logging.INFO if result.ok else logging.WARNING,
                "readiness: %s %s",
                target.name,
                "ready" if result.ok else f"not ready: {result.detail}",
            )
        self.results[target.name] = result

    def report(self, breakers: Mapping[str, str]) -> tuple[bool, list[str], dict[str, object]]:
        """Whether ready, the vendors that are not (degraded), and what /readyz shows: each
        vendor's last check and breaker. Ready while any vendor serves: a process that still
        serves one vendor's seals stays in service; taking it out would not bring the other
        vendor back, since every replica reaches the same vendors."""
        vendors: dict[str, object] = {}
        serving: list[str] = []
        degraded: list[str] = []
        for target in self._targets:
            check = self.results.get(target.name)
            if self._interval_s <= 0:
                check = Check(True, "not checked (SEALGW_READY_INTERVAL=0)", 0.0)
            (serving if check is not None and check.ok else degraded).append(target.name)
            vendors[target.name] = {
                "ready": check is not None and check.ok,
                "detail": "not checked yet" if check is None else check.detail,
                "checkedAt": None
                if check is None or not check.checked_at
                else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(check.checked_at)),
                "breaker": breakers.get(target.name, "closed"),
            }
        return bool(serving) or not self._targets, degraded, vendors


def _why(error: GatewayError) -> str:
    if error.code == ErrorCode.UPSTREAM_AUTH_FAILED:
        return "the vendor refused the gateway's credentials"
    if error.code in (ErrorCode.UPSTREAM_UNAVAILABLE, ErrorCode.UPSTREAM_TIMEOUT):
        return "the vendor could not be reached or did not answer"
    return f"the vendor answered with an error ({error.code.value})"
