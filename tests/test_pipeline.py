"""Guards against drift between the two executors of the one pipeline
(gateway/execution/pipeline.py): generated documents answer the same bytes through the
compiled plan and through graphql-core's executor; an operation's cost is worked out for each
request's variables, whichever executor runs it; and every stage around execution (cost limit
and `extensions.cost`, error codes, reported errors, the request event, the operation metrics,
document bounds, the method rule) acts the same on planned operations as on the others."""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from graphql import StringValueNode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import queries
from prometheus_client import REGISTRY

from gateway.domain import OrgScope, ProviderName
from gateway.execution.cost import CostModel
from gateway.execution.documents import DocumentLimits, Documents, validation_rules
from gateway.execution.pipeline import OperationRequest, Outcome, Pipeline
from gateway.execution.plan import plan_or_none
from gateway.schema import GatewayContext, build_schema, schema_sdl
from gateway.service import Limits, SealService
from gateway.settings import DEFAULTS
from tests.conftest import StartGateway
from tests.fakes import FakeProvider

E, Y = ProviderName.ESIGN, ProviderName.YUNYIN


def pipeline(*, plans: bool, max_cost: int = DEFAULTS.max_query_cost) -> Pipeline:
    schema = build_schema()._schema
    rules = validation_rules(
        max_depth=DEFAULTS.max_depth, max_aliases=DEFAULTS.max_aliases, introspection=True
    )
    limits = DocumentLimits(DEFAULTS.max_tokens, DEFAULTS.max_selections, DEFAULTS.max_repeats)
    compiler = functools.partial(plan_or_none, schema) if plans else None
    return Pipeline(
        schema,
        Documents(schema, rules, limits, compiler),
        CostModel(schema, DEFAULTS.default_page_size, DEFAULTS.max_page_size),
        max_cost,
    )


def context(providers: dict[ProviderName, FakeProvider]) -> GatewayContext:
    limits = Limits(
        default_page_size=DEFAULTS.default_page_size,
        max_page_size=DEFAULTS.max_page_size,
        max_upload_bytes=DEFAULTS.max_upload_bytes,
    )
    return GatewayContext(service=SealService(providers, OrgScope(), limits), show_cost=True)


def providers() -> dict[ProviderName, FakeProvider]:
    return {E: FakeProvider(E, 5, writes=False), Y: FakeProvider(Y, 4)}


async def answer(
    face: Pipeline, request: OperationRequest
) -> tuple[Outcome, dict[ProviderName, dict[str, int]]]:
    fakes = providers()
    outcome = await face.run(request, context(fakes))
    return outcome, {name: dict(fake.calls) for name, fake in fakes.items()}


def planned_count() -> float:
    return REGISTRY.get_sample_value("sealgw_planned_operations_total") or 0.0


# --- the same bytes through either executor -----------------------------------------------

TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: StringValueNode(value=d.replace(tzinfo=timezone(timedelta(hours=8))).isoformat())
)


def test_generated_documents_answer_the_same_bytes_through_either_executor() -> None:
    """Documents generated from the schema (hypothesis-graphql, bounded) run through a
    pipeline with plans and one without, each over its own copy of the same in-memory
    vendors: the same answer, byte for byte, and the same vendor calls."""
    sdl = schema_sdl()
    planned, standard = pipeline(plans=True), pipeline(plans=False)
    ran_planned: list[bool] = []

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        document=queries(
            sdl,
            fields=["seals", "seal", "providers"],
            custom_scalars={"DateTime": TIMES},
            allow_x00=False,
        )
    )
    def check(document: str) -> None:
        request = OperationRequest(document)

        async def both() -> None:
            before = planned_count()
            (one, one_calls), (other, other_calls) = (
                await answer(planned, request),
                await answer(standard, request),
            )
            ran_planned.append(planned_count() > before)
            assert orjson.dumps(one.body()) == orjson.dumps(other.body()), document
            assert (one.status, one.ran) == (other.status, other.ran), document
            assert one_calls == other_calls, document

        asyncio.run(both())

    check()
    # most generated documents are ones a plan covers (else this compared graphql-core with
    # itself); `nodes` and `node` select an interface, which plans leave to graphql-core
    assert sum(ran_planned) >= len(ran_planned) * 2 // 3, (sum(ran_planned), len(ran_planned))


# --- cost for each request's variables -----------------------------------------------------

PAGED = "query Page($n: Int) { seals(first: $n) { edges { node { name rejectReason } } } }"


@pytest.mark.parametrize("plans", [True, False])
def test_the_cost_is_worked_out_for_each_requests_variables(plans: bool) -> None:
    """The same document, cheap with one set of variables and over the limit with another:
    however often it ran before, each request is held to its own cost (a cost kept per
    document would let the second through)."""
    face = pipeline(plans=plans, max_cost=30)

    async def scenario() -> None:
        for _ in range(3):
            cheap, _ = await answer(face, OperationRequest(PAGED, {"n": 2}))
            assert cheap.errors is None, cheap.errors
            assert cheap.extensions == {"cost": {"requested": 4, "maximum": 30}}
        costly, calls = await answer(face, OperationRequest(PAGED, {"n": 50}))
        assert not costly.ran
        assert costly.errors is not None
        (error,) = costly.errors
        assert error.extensions == {"code": "COST_LIMIT_EXCEEDED", "cost": 52, "maximum": 30}
        assert all(not c for c in calls.values())  # refused before any vendor call
        again, _ = await answer(face, OperationRequest(PAGED, {"n": 3}))
        assert again.extensions == {"cost": {"requested": 5, "maximum": 30}}

    asyncio.run(scenario())


# --- every stage acts on planned operations too ---------------------------------------------


@pytest.mark.parametrize("plans", ["on", "off"])
def test_every_stage_acts_the_same_on_either_executor(
    start_gateway: StartGateway, plans: str, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = start_gateway(SEALGW_QUERY_PLANS=plans, SEALGW_MAX_QUERY_COST="30")
    url = f"{gateway.url}/graphql"
    cost = {"X-Query-Cost": "1"}
    query = "query Seals($n: Int) { seals(first: $n) { edges { node { name rejectReason } } } }"
    operations_before = (
        REGISTRY.get_sample_value(
            "sealgw_operations_total", {"operation": "Seals", "type": "query", "outcome": "ok"}
        )
        or 0.0
    )
    planned_before = planned_count()

    with caplog.at_level(logging.INFO, logger="gateway.request"):
        ok = gateway.client.post(url, json={"query": query, "variables": {"n": 2}}, headers=cost)
    # the answer, with its cost
    assert ok.status_code == 200
    assert len(ok.json()["data"]["seals"]["edges"]) == 2
    assert ok.json()["extensions"] == {"cost": {"requested": 4, "maximum": 30}}
    # the request event and the operation metrics
    events = [r for r in caplog.records if getattr(r, "operation", None) == "Seals"]
    assert [(e.outcome, e.type) for e in events] == [("ok", "query")]  # type: ignore[attr-defined]
    assert (
        REGISTRY.get_sample_value(
            "sealgw_operations_total", {"operation": "Seals", "type": "query", "outcome": "ok"}
        )
        == operations_before + 1
    )
    # the executor: the plan exactly when plans are on
    assert planned_count() - planned_before == (1 if plans == "on" else 0)

    # the cost limit, for these variables
    refused = gateway.client.post(url, json={"query": query, "variables": {"n": 40}}, headers=cost)
    assert refused.json()["errors"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert "data" not in refused.json()
    # errors as clients see them: a resolver's error coded, the rest of the data kept
    partial = gateway.client.post(
        url, json={"query": '{ seal(id: "not-an-id") { name } providers { provider } }'}
    )
    body = partial.json()
    assert body["data"]["seal"] is None
    assert body["data"]["providers"]
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["path"] == ["seal"]
    # document bounds and validation, the same refusals
    repeated = gateway.client.post(url, json={"query": "{" + " __typename" * 40 + "}"})
    assert repeated.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    # the method rule
    mutation = 'mutation { deleteSeal(input: {sealId: "x"}) { deletedSealId } }'
    by_get = gateway.client.get(url, params={"query": mutation})
    assert by_get.status_code == 405


def test_a_new_document_is_prepared_off_the_event_loop() -> None:
    """Parsing, bounding, validating and compiling a document the pipeline has not seen runs
    in a worker thread: the event loop's thread never does it."""
    import threading

    schema = build_schema()._schema
    seen: list[int] = []

    def compiler(tree: Any, name: str | None) -> Any:
        seen.append(threading.get_ident())
        return plan_or_none(schema, tree, name)

    documents = Documents(
        schema,
        [],
        DocumentLimits(DEFAULTS.max_tokens, DEFAULTS.max_selections, DEFAULTS.max_repeats),
        compiler,
    )

    async def scenario() -> int:
        await asyncio.gather(*(documents.get("{ providers { provider } }") for _ in range(5)))
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert len(seen) == 1  # made once for five concurrent requests
    assert seen[0] != loop_thread
