"""The service layer in-process, against in-memory providers (tests/fakes.py): paging across
providers with failures, cursors, every write outcome, and vendor failures of every kind kept
to their provider. No server: these are the rules, tested where they live."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from gateway.domain import (
    AuthorizationRole,
    AuthorizationScope,
    AuthorizationStatusReason,
    BadInput,
    Capability,
    DeleteOutcome,
    GatewayError,
    MalformedAnswer,
    OrgScope,
    ProviderName,
    Rejection,
    SealBizType,
    TemplateSealSpec,
    UpstreamError,
)
from gateway.service import AuthorizationRequest, Limits, SealQuery, SealService, ids
from tests.fakes import FakeProvider, outage, refusal

E, Y = ProviderName.ESIGN, ProviderName.YUNYIN
T = TypeVar("T")


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    """Runs the scenario inside a fresh event loop (services must be made inside one)."""

    async def main() -> T:
        return await scenario()

    return asyncio.run(main())


def service(fakes: dict[ProviderName, FakeProvider], page: int = 20) -> SealService:
    """A fresh service (one request); made inside the running loop, as the loaders need."""
    return SealService(fakes, OrgScope(), Limits(default_page_size=page, max_page_size=50))


def fakes(esign: int = 5, yunyin: int = 4) -> dict[ProviderName, FakeProvider]:
    return {E: FakeProvider(E, esign, writes=False), Y: FakeProvider(Y, yunyin)}


async def walk(
    providers: dict[ProviderName, FakeProvider], first: int, query: SealQuery | None = None
) -> tuple[list[str], list[ProviderName]]:
    """Every page, following end_cursor, each page a new request; names seen, failures met."""
    names: list[str] = []
    failed: list[ProviderName] = []
    after = None
    for _ in range(50):
        page = await service(providers).reads.seal_page(first, after, query or SealQuery())
        names.extend(edge.seal.name or "" for edge in page.edges)
        failed.extend(page.unavailable)
        if not page.has_next:
            return names, failed
        after = page.end_cursor
    raise AssertionError("paging did not end")


ALL = [f"esign-{i}" for i in range(1, 6)] + [f"yunyin-{i}" for i in range(1, 5)]


# --- paging ---------------------------------------------------------------------------------


@pytest.mark.parametrize("first", [1, 2, 3, 5, 9, 20])
def test_pages_cross_providers_in_order(first: int) -> None:
    providers = fakes()
    names, failed = run(lambda: walk(providers, first))
    assert names == ALL
    assert failed == []


def test_a_page_ending_at_a_boundary_asks_the_next_provider_only_for_its_count() -> None:
    providers = fakes()

    async def scenario() -> Any:
        return await service(providers).reads.seal_page(5, None, SealQuery())

    page = run(scenario)
    assert page.has_next is True
    assert providers[Y].calls["list"] == 1  # one count call: does anything follow?
    empty = fakes(yunyin=0)
    assert run(lambda: service(empty).reads.seal_page(5, None, SealQuery())).has_next is False


@pytest.mark.parametrize(
    ("failing", "on_call"),
    [(E, 1), (E, 2), (E, 3), (Y, 1), (Y, 2)],
)
def test_a_provider_failing_mid_walk_loses_no_seal(failing: ProviderName, on_call: int) -> None:
    providers = fakes()
    fake = providers[failing]
    original = fake.list_range
    calls = {"n": 0}

    async def flaky(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == on_call:
            raise outage(failing)()
        return await original(*args)

    fake.list_range = flaky  # type: ignore[method-assign]
    names, failed = run(lambda: walk(providers, 2))
    assert sorted(names) == sorted(ALL)
    assert len(names) == len(ALL)
    assert failed == [failing]


def test_a_provider_down_for_good_keeps_the_walk_honest() -> None:
    providers = fakes()
    providers[E].fail("list", *[outage(E)] * 100)

    async def scenario() -> tuple[Any, Any]:
        first = await service(providers).reads.seal_page(20, None, SealQuery())
        second = await service(providers).reads.seal_page(20, first.end_cursor, SealQuery())
        return first, second

    first, second = run(scenario)
    assert [e.seal.name for e in first.edges] == ALL[5:]
    assert first.unavailable == [E]
    assert first.has_next is True  # e签宝's seals are still owed
    assert second.edges == []
    assert second.has_next is True
    assert second.end_cursor is not None


def test_cursors_are_checked() -> None:
    providers = fakes()

    async def scenario() -> None:
        page = await service(providers).reads.seal_page(2, None, SealQuery())
        cursor = page.end_cursor
        assert cursor is not None
        other = SealQuery(biz_type=SealBizType.FINANCE)
        with pytest.raises(BadInput, match="another filter"):
            await service(providers).reads.seal_page(2, cursor, other)
        with pytest.raises(BadInput, match="another filter"):
            await service(providers).reads.seal_page(2, cursor, SealQuery(providers=(Y,)))
        for bad in ["nonsense", ids.global_id("Seal", "esign:1"), "c2VhbHM6eDp5"]:
            with pytest.raises(BadInput, match="not a cursor") as caught:
                await service(providers).reads.seal_page(2, bad, SealQuery())
            assert caught.value.field == "after"
        for first in (0, 51, -1):
            with pytest.raises(BadInput, match="between 1 and 50"):
                await service(providers).reads.seal_page(first, None, SealQuery())

    run(scenario)


def test_total_counts_what_answered() -> None:
    providers = fakes()
    providers[Y].fail("list", outage(Y), outage(Y))

    async def scenario() -> Any:
        svc = service(providers)
        page = await svc.reads.seal_page(2, None, SealQuery())
        return await svc.reads.total_count(page)

    counted = run(scenario)
    assert counted.total == 5
    assert [e.provider for e in counted.errors] == [Y]  # type: ignore[attr-defined]


# --- vendor failures stay with their vendor -------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        KeyError("sealId"),
        AttributeError("'list' object has no attribute 'get'"),
        ValueError("invalid literal"),
        MalformedAnswer(Y, "the list", "Expected `array`, got `object`"),
    ],
)
def test_any_failure_below_is_that_providers_upstream_error(failure: Exception) -> None:
    providers = fakes()
    providers[Y].fail("list", lambda: failure)
    page = run(lambda: service(providers).reads.seal_page(20, None, SealQuery()))
    assert [e.seal.name for e in page.edges] == ALL[:5]
    assert page.unavailable == [Y]
    (error,) = page.errors
    assert isinstance(error, UpstreamError)
    assert error.provider == Y
    assert "sealId" not in error.message
    assert "literal" not in error.message


def test_a_detail_failure_is_that_seals_error() -> None:
    providers = fakes()
    providers[Y].fail("detail", lambda: TypeError("boom"))
    with pytest.raises(UpstreamError) as caught:
        run(lambda: service(providers).reads.seal_by_id(ids.global_id("Seal", "yunyin:1")))
    assert caught.value.vendor_code == "UNHANDLED_ANSWER"


def test_nodes_fail_one_by_one_and_share_calls() -> None:
    providers = fakes()
    good = ids.global_id("Seal", "yunyin:2")
    found = run(
        lambda: service(providers).reads.nodes([good, "bad-id", good, ids.global_id("Seal", "x:1")])
    )
    assert [type(f).__name__ for f in found] == ["Seal", "BadInput", "Seal", "BadInput"]
    assert providers[Y].calls["detail"] == 1


def test_unconfigured_provider_is_not_found() -> None:
    providers = {Y: FakeProvider(Y, 2)}
    with pytest.raises(GatewayError, match="not configured"):
        run(lambda: service(providers).reads.seal_by_id(ids.global_id("Seal", "esign:1")))  # type: ignore[arg-type]


# --- writes ---------------------------------------------------------------------------------

SPEC = TemplateSealSpec(name="  新章  ", biz_type=SealBizType.CONTRACT)


def test_a_write_succeeds_and_reads_back_fresh() -> None:
    providers = fakes()

    async def scenario() -> Any:
        svc = service(providers)
        before = await svc.reads.seal_by_id(ids.global_id("Seal", "yunyin:1"))
        result = await svc.writes.rename_seal(ids.global_id("Seal", "yunyin:1"), "  改名  ")
        return before, result

    before, result = run(scenario)
    assert before.name == "yunyin-1"
    assert result.rejection is None
    assert result.problems == []
    assert result.value.name == "改名"  # trimmed, and read after the write, not from cache
    assert providers[Y].calls["rename"] == 1


@pytest.mark.parametrize(
    ("seal_id", "name", "reason", "field", "sent"),
    [
        (ids.global_id("Seal", "esign:1"), "x", Rejection.NOT_SUPPORTED, None, 0),
        (ids.global_id("Seal", "yunyin:1"), " ", Rejection.INVALID_INPUT, "name", 0),
        (ids.global_id("Seal", "yunyin:1"), "a\x00b", Rejection.INVALID_INPUT, "name", 0),
        ("garbage", "x", Rejection.INVALID_INPUT, "sealId", 0),
        (ids.global_id("Seal", "yunyin:99"), "x", Rejection.SEAL_NOT_FOUND, "sealId", 1),
    ],
)
def test_refusals_are_user_errors(
    seal_id: str, name: str, reason: Rejection, field: str | None, sent: int
) -> None:
    providers = fakes()
    result = run(lambda: service(providers).writes.rename_seal(seal_id, name))
    assert result.value is None
    assert result.rejection is not None
    assert (result.rejection.reason, result.rejection.field) == (reason, field)
    assert providers[Y].calls["rename"] == sent


def test_unknown_vendor_code_is_vendor_rejected_with_the_code() -> None:
    providers = fakes()
    providers[Y].fail("create", refusal(Y, "SOMETHING_NEW"))
    result = run(lambda: service(providers).writes.create_template_seal(Y, SPEC))
    assert result.rejection is not None
    assert result.rejection.reason == Rejection.VENDOR_REJECTED
    assert result.rejection.vendor_code == "SOMETHING_NEW"


def test_known_vendor_code_is_its_user_error() -> None:
    providers = fakes()
    run(lambda: service(providers).writes.create_template_seal(Y, SPEC))
    again = run(lambda: service(providers).writes.create_template_seal(Y, SPEC))
    assert again.rejection is not None
    assert (again.rejection.reason, again.rejection.field) == (Rejection.NAME_TAKEN, "name")


def test_an_outage_during_a_write_is_an_error_that_says_what_may_have_happened() -> None:
    providers = fakes()
    providers[Y].fail("create", outage(Y, write=True))
    with pytest.raises(UpstreamError) as caught:
        run(lambda: service(providers).writes.create_template_seal(Y, SPEC))
    assert caught.value.write_may_have_happened is True
    providers[Y].fail("create", lambda: ValueError("unreadable answer"))
    with pytest.raises(UpstreamError) as unhandled:
        run(lambda: service(providers).writes.create_template_seal(Y, SPEC))
    assert unhandled.value.write_may_have_happened is True


def test_a_failed_read_before_the_write_sends_nothing() -> None:
    providers = fakes()
    providers[Y].fail("list", outage(Y))
    with pytest.raises(UpstreamError) as caught:
        run(lambda: service(providers).writes.set_default_seal(ids.global_id("Seal", "yunyin:3")))
    assert caught.value.write_may_have_happened is False
    assert providers[Y].calls["set_default"] == 0


def test_a_failed_read_back_keeps_the_write() -> None:
    providers = fakes()
    request = AuthorizationRequest(
        seal_id=ids.global_id("Seal", "yunyin:2"),
        user_ids=("7", "8", "7"),
        role=AuthorizationRole.USER,
        scope=AuthorizationScope.ALL_CONTRACTS,
    )
    done = run(lambda: service(providers).writes.authorize_seal(request))
    assert done.rejection is None
    assert done.value is not None
    assert done.value.authorizations is not None
    assert [a.user_id for a in done.value.authorizations] == ["7", "8"]

    # the list before passes, the list after fails: the write stands, the error says so
    original = providers[Y].list_authorizations
    calls = {"n": 0}

    async def after_fails(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 1:
            raise outage(Y)()
        return await original(*args)

    providers[Y].list_authorizations = after_fails  # type: ignore[method-assign]
    again = AuthorizationRequest(
        seal_id=request.seal_id,
        user_ids=("9",),
        role=AuthorizationRole.EXAMINER,
        scope=AuthorizationScope.ALL_CONTRACTS,
    )
    result = run(lambda: service(providers).writes.authorize_seal(again))
    assert result.rejection is None
    assert result.value is not None
    assert result.value.authorizations is None
    assert result.value.seal is not None
    (problem,) = result.problems
    assert getattr(problem, "write_succeeded", False) is True
    assert providers[Y].calls["authorize"] == 2
    assert [a.user_id for a in providers[Y].authorizations] == ["7", "8", "9"]


def test_set_default_reports_the_previous_default() -> None:
    providers = fakes()
    result = run(
        lambda: service(providers).writes.set_default_seal(ids.global_id("Seal", "yunyin:3"))
    )
    assert result.value is not None
    assert result.value.seal is not None
    assert result.value.seal.is_default is True
    assert result.value.previous is not None
    assert result.value.previous.key.vendor_id == "1"
    assert result.value.previous.is_default is False


def test_delete_and_management_url() -> None:
    providers = fakes()
    deleted = run(lambda: service(providers).writes.delete_seal(ids.global_id("Seal", "yunyin:4")))
    assert deleted.value is not None
    assert deleted.value.seal_id == ids.global_id("Seal", "yunyin:4")
    assert deleted.value.outcome == DeleteOutcome.DELETED
    assert [s.key.vendor_id for s in providers[Y].seals] == ["1", "2", "3"]
    url = run(lambda: service(providers).writes.management_url(Y))
    assert url.value is not None
    assert url.value.startswith("https://")
    unsupported = run(lambda: service(providers).writes.management_url(E))
    assert unsupported.rejection is not None
    assert unsupported.rejection.reason == Rejection.NOT_SUPPORTED
    missing = run(lambda: service({Y: providers[Y]}).writes.management_url(E))  # type: ignore[arg-type]
    assert missing.rejection is not None
    assert missing.rejection.field == "provider"


def test_every_capability_is_offered_or_refused_by_the_service() -> None:
    providers = fakes()

    async def scenario() -> None:
        svc = service(providers)
        assert svc.reads.operations(E) == []
        assert svc.reads.operations(Y) == list(Capability)
        assert svc.reads.configured() == [E, Y]

    run(scenario)


def authorized(providers: dict[ProviderName, FakeProvider]) -> str:
    """Authorises one person on 云银签 seal 1; answers the authorisation's global id."""
    request = AuthorizationRequest(
        ids.global_id("Seal", "yunyin:1"),
        ("7",),
        AuthorizationRole.USER,
        AuthorizationScope.ALL_CONTRACTS,
    )
    result = run(lambda: service(providers).writes.authorize_seal(request))
    assert result.value is not None
    assert result.value.authorizations is not None
    (made,) = result.value.authorizations
    return ids.global_id("Authorization", made.node_id())


def test_revoke_reads_the_authorisation_first() -> None:
    providers = fakes()
    made = authorized(providers)
    gone = ids.global_id("Authorization", "yunyin:1:404")
    missing = run(lambda: service(providers).writes.revoke_authorization(gone))
    assert missing.rejection is not None
    assert (missing.rejection.reason, missing.rejection.field) == (
        Rejection.AUTHORIZATION_NOT_FOUND,
        "authorizationId",
    )
    assert providers[Y].calls["revoke_authorization"] == 0
    for bad in ("garbage", ids.global_id("Seal", "yunyin:1")):
        refused = run(lambda bad=bad: service(providers).writes.revoke_authorization(bad))
        assert refused.rejection is not None
        assert refused.rejection.field == "authorizationId"
    revoked = run(lambda: service(providers).writes.revoke_authorization(made))
    assert (revoked.rejection, revoked.value) == (None, made)
    assert providers[Y].authorizations == []
    unsupported = run(
        lambda: service(providers).writes.revoke_authorization(
            ids.global_id("Authorization", "esign:1:1")
        )
    )
    assert unsupported.rejection is not None
    assert unsupported.rejection.reason == Rejection.NOT_SUPPORTED


def test_a_new_period_is_checked_then_read_back_under_its_new_id() -> None:
    providers = fakes()
    made = authorized(providers)
    calls = sum(providers[Y].calls.values())
    past = datetime(2020, 1, 1, tzinfo=UTC)
    refused = run(lambda: service(providers).writes.change_authorization_period(made, None, past))
    assert refused.rejection is not None
    assert refused.rejection.field == "expiresAt"
    assert sum(providers[Y].calls.values()) == calls  # checked before any call
    until = datetime(2031, 1, 1, tzinfo=UTC)
    changed = run(lambda: service(providers).writes.change_authorization_period(made, None, until))
    assert changed.value is not None
    assert changed.value.authorization is not None
    assert changed.value.authorization.vendor_id.endswith("-renewed")
    assert changed.value.authorization.expires_at == until
    assert changed.value.sign_url == "https://vendor.example/letter"


def test_enable_reads_the_seal_back() -> None:
    providers = fakes()
    result = run(lambda: service(providers).writes.enable_seal(ids.global_id("Seal", "yunyin:2")))
    assert result.value is not None
    assert result.value.key.vendor_id == "2"
    assert providers[Y].calls["enable"] == 1


def test_no_second_letter_while_one_awaits_signing() -> None:
    providers = fakes()
    authorized(providers)
    (made,) = providers[Y].authorizations
    providers[Y].authorizations = [
        replace(made, status_reason=AuthorizationStatusReason.LETTER_NOT_SIGNED)
    ]
    request = AuthorizationRequest(
        ids.global_id("Seal", "yunyin:1"),
        ("7", "8"),
        AuthorizationRole.EXAMINER,
        AuthorizationScope.ALL_CONTRACTS,
    )
    result = run(lambda: service(providers).writes.authorize_seal(request))
    assert result.rejection is not None
    assert (result.rejection.reason, result.rejection.field) == (
        Rejection.AUTHORIZATION_CONFLICT,
        "userIds",
    )
    assert providers[Y].calls["authorize"] == 1  # the first grant only
