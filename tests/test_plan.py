"""Compiled query plans (gateway/execution/plan.py) answer byte for byte what the standard
executor answers: every query document the tests use, the benchmark's, and one reading every
field of every sandbox seal, with two sets of variables, sent to a gateway with plans and to
one without, over the same sandbox; then the same with vendors failing (partial answers,
reported errors, errors on non-null fields), and by GET, `documentId` and APQ hash. Status,
media type and cache headers are held equal too, and the planned gateway must have answered
most of them through a plan (a plan path that always fell back would pass the comparison and
prove nothing)."""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse
from prometheus_client import REGISTRY

from gateway.execution.documents import DocumentLimits, Documents, Operation
from gateway.execution.plan import Plan, compile_plan, plan_or_none
from gateway.http.persisted import sha256
from gateway.sandbox import Sandbox
from gateway.sandbox.state import Fault
from gateway.schema import build_schema
from gateway.settings import DEFAULTS
from tests.conftest import Gateway, StartGateway
from tests.test_lean import VARIABLES, VOLATILE, query_documents
from tests.test_read_path import global_id

FAULTS = [
    # one vendor refusing every call: the other's seals with an error beside them (a refusal,
    # not an outage: an outage's retries are jittered, so which of two concurrent calls meets
    # the opened breaker first is chance, with or without plans)
    Fault("yunyin", "*", status=200, code="ILLEGAL_ARGUMENT", message="参数错误"),
    # e签宝's v3 detail failing: seal fields only v3 has fail one by one
    Fault("esign", "v3.detail", status=200, code="10000001", message="系统错误"),
    # a malformed answer for the v3 list
    Fault("esign", "v3.list", status=200, body={"code": 0, "data": "not an object"}),
]


def planned_count() -> float:
    return REGISTRY.get_sample_value("sealgw_planned_operations_total") or 0.0


def compare(
    gateways: tuple[Gateway, Gateway], document: str, variables: dict[str, Any], **headers: str
) -> None:
    body = {"query": document, "variables": variables}
    answers = [
        g.client.post(f"{g.url}/graphql", json=body, headers={"X-Query-Cost": "1", **headers})
        for g in gateways
    ]
    planned, plain = answers
    assert planned.status_code == plain.status_code, document
    assert planned.headers["content-type"] == plain.headers["content-type"], document
    assert VOLATILE.sub(rb"\1~", planned.content) == VOLATILE.sub(rb"\1~", plain.content), (
        document,
        variables,
        planned.text[:600],
        plain.text[:600],
    )


def test_plans_answer_the_same_bytes_as_the_executor(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateways = (start_gateway(), start_gateway(SEALGW_QUERY_PLANS="off"))
    documents = query_documents()
    assert len(documents) >= 15
    before = planned_count()
    for document in documents:
        for variables in VARIABLES:
            compare(gateways, document, variables)
    planned = planned_count() - before
    # the rest needed graphql-core's executor (mutations' documents are not among them; a
    # variable missing for a document, interfaces under `node`, directives)
    assert planned >= len(documents), planned
    # GraphQL over HTTP's media type, and a second run of each document (its plan kept)
    for document in documents:
        compare(gateways, document, VARIABLES[1], Accept="application/graphql-response+json")


@pytest.mark.parametrize("fault", FAULTS, ids=["yunyin-refuses", "v3-detail-error", "v3-malformed"])
def test_plans_answer_vendor_failures_the_same(
    start_gateway: StartGateway, sandbox: Sandbox, fault: Fault
) -> None:
    gateways = (start_gateway(), start_gateway(SEALGW_QUERY_PLANS="off"))
    before = planned_count()
    documents = query_documents()
    for document in documents:
        sandbox.faults[:] = [fault]
        compare(gateways, document, VARIABLES[1])
    assert planned_count() - before >= len(documents) // 2


def test_bad_ids_and_non_null_errors_match(start_gateway: StartGateway, sandbox: Sandbox) -> None:
    """Errors raised by root resolvers, list items nulled one by one, and an error under a
    non-null field that nulls its parent."""
    gateways = (start_gateway(), start_gateway(SEALGW_QUERY_PLANS="off"))
    documents = [
        '{ seal(id: "not-an-id") { name } }',
        '{ a: seal(id: "U2VhbDp5dW55aW46OTk5OTk=") { name } b: seal(id: "'
        + global_id("Seal", "yunyin:50003")
        + '") { name } }',
        # `edges` and `node` are non-null: a failing detail field nulls only its own seal field
        "{ seals(first: 30) { edges { cursor node { id statusLabel rejectReason } } } }",
        "{ seals(first: 5) { totalCount pageInfo { endCursor } edges { node { ...S } } } }"
        " fragment S on Seal { vendorId name image { url expiresAt } __typename }",
    ]
    for fault in (None, *FAULTS):
        for document in documents:
            sandbox.faults[:] = [] if fault is None else [fault]
            compare(gateways, document, {})


def documents(maxsize: int = 256) -> Documents:
    """The product face's documents, compiled as the gateway compiles them."""
    schema = build_schema()._schema
    return Documents(
        schema,
        [],
        DocumentLimits(DEFAULTS.max_tokens, DEFAULTS.max_selections, DEFAULTS.max_repeats),
        functools.partial(plan_or_none, schema),
        maxsize=maxsize,
    )


def plan_of(known: Documents, text: str, name: str | None = None) -> Plan | None:
    document = asyncio.run(known.get(text))
    operation = document.operation(name)
    if document.errors or not isinstance(operation, Operation):
        return None
    return operation.plan


def test_what_a_plan_does_not_cover_is_left_to_graphql_core() -> None:
    """Documents a plan does not cover get no plan: graphql-core's executor runs them."""
    known = documents()
    covered = "{ seals(first: 2) { edges { node { id name } } } }"
    assert plan_of(known, covered) is not None
    assert plan_of(known, covered) is plan_of(known, covered)  # compiled once
    not_covered = [
        '{ node(id: "x") { id } }',  # an interface
        "query Q($on: Boolean!) { seals { edges { node { id @include(if: $on) } } } }",
        "{ __schema { types { name } } }",
        'mutation { renameSeal(input: {id: "x", name: "y"}) { seal { id } } }',
        "{ seals { nope } }",  # does not validate
        "{ seals {",  # does not parse
        "query A { providers { provider } } query B { providers { sandbox } }",  # no name given
    ]
    for document in not_covered:
        assert plan_of(known, document) is None, document
    # a named operation of several is covered
    plan = plan_of(
        known, "query A { providers { provider } } query B { providers { sandbox } }", "B"
    )
    assert plan is not None
    assert plan.name == "B"
    # the cache is bounded
    small = documents(maxsize=2)
    for n in range(3):
        asyncio.run(small.get("{ providers { provider } }" + " " * n))
    assert len(small._documents) == 2
    # compile_plan alone refuses an unknown operation name
    with pytest.raises(Exception, match="no such operation"):
        compile_plan(build_schema()._schema, parse("query A { providers { provider } }"), "B")


def test_bad_variables_are_refused_before_any_executor(gateway: Gateway) -> None:
    """Variables that do not coerce are refused on the one path, whichever executor would
    have run; members of the body GraphQL over HTTP does not name are ignored."""
    document = "query S($first: Int) { seals(first: $first) { edges { node { name } } } }"
    url = f"{gateway.url}/graphql"
    before = planned_count()
    wrong = gateway.client.post(url, json={"query": document, "variables": {"first": "x"}})
    assert wrong.status_code == 200
    assert wrong.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "data" not in wrong.json()
    assert planned_count() == before
    unknown_member = gateway.client.post(url, json={"query": document, "other": 1})
    assert unknown_member.status_code == 200
    assert "data" in unknown_member.json()
    good = gateway.client.post(url, json={"query": document, "variables": {"first": 2}})
    assert len(good.json()["data"]["seals"]["edges"]) == 2
    assert planned_count() == before + 2


def test_plans_batch_detail_calls_like_the_executor(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    """Fields loaded per seal are batched the same way: the same vendor calls either way."""
    document = "{ seals(first: 10) { edges { node { name statusLabel rejectReason } } } }"
    counts = []
    for gateway in (start_gateway(), start_gateway(SEALGW_QUERY_PLANS="off")):
        gateway.data(document)  # tokens fetched
        sandbox.reset_counts()
        gateway.data(document)
        counts.append(dict(sandbox.calls))
    assert counts[0] == counts[1]
    assert counts[0]


def test_a_client_leaving_mid_plan_leaves_no_error(start_gateway: StartGateway) -> None:
    """A client that goes while its planned query waits on a vendor: the gateway goes on
    serving others."""
    gateway = start_gateway()
    document = "{ seals(first: 3) { edges { node { name } } } }"

    async def leave() -> None:
        async with httpx.AsyncClient(headers=dict(gateway.client.headers)) as client:
            with pytest.raises(httpx.TimeoutException):
                await client.post(
                    f"{gateway.url}/graphql", json={"query": document}, timeout=0.0001
                )

    asyncio.run(leave())
    assert gateway.data(document)["seals"]["edges"]


def test_get_and_persisted_documents_run_through_plans_the_same(
    start_gateway: StartGateway, sandbox: Sandbox, tmp_path: Path
) -> None:
    """A GET, a trusted document named by `documentId` (in the body or the query string) and
    an APQ hash all run through the plan of the document's text, with graphql-core's
    status, headers and bytes; the GraphiQL page is still served."""
    known = documents()
    texts = [d for d in query_documents() if plan_of(known, d) is not None][:8]
    assert len(texts) == 8
    manifest = tmp_path / "persisted-documents.json"
    manifest.write_text(json.dumps({sha256(d): d for d in texts}), encoding="utf-8")
    settings = {"SEALGW_TRUSTED_DOCUMENTS": str(manifest)}
    gateways = (start_gateway(**settings), start_gateway(SEALGW_QUERY_PLANS="off", **settings))
    accept = {"Accept": "application/json", "X-Query-Cost": "1"}
    variables = json.dumps(VARIABLES[1])
    before = planned_count()
    for document in texts:
        digest = sha256(document)
        apq = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
        requests: list[tuple[str, dict[str, Any]]] = [
            ("GET", {"params": {"query": document, "variables": variables}}),
            ("GET", {"params": {"documentId": digest, "variables": variables}}),
            ("POST", {"json": {"documentId": digest, "variables": VARIABLES[1]}}),
            # APQ: the text with its hash registers it; then the hash alone
            ("POST", {"json": {"query": document, "extensions": apq}}),
            ("POST", {"json": {"extensions": apq, "variables": VARIABLES[1]}}),
        ]
        for method, arguments in requests:
            planned, plain = (
                g.client.request(method, f"{g.url}/graphql", headers=accept, **arguments)
                for g in gateways
            )
            assert planned.status_code == plain.status_code, (method, arguments)
            for name in ("content-type", "cache-control", "vary"):
                assert planned.headers.get(name) == plain.headers.get(name), name
            assert VOLATILE.sub(rb"\1~", planned.content) == VOLATILE.sub(rb"\1~", plain.content), (
                method,
                arguments,
                planned.text[:300],
            )
    # most ran a plan: the rest are documents whose required variables a request left out
    assert planned_count() - before >= len(texts) * 4
    page = gateways[0].client.get(f"{gateways[0].url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]


def test_the_awaitable_test_learnt_per_type_answers_as_graphql_core() -> None:
    """The plan learns which types are never awaitable and answers for them at once; every
    value gets graphql-core's answer, asked twice (learnt the first time)."""
    import types
    from datetime import UTC, datetime

    from graphql.pyutils import is_awaitable

    from gateway.domain import ProviderName, SealKey
    from gateway.execution import plan

    class Awaitable:
        def __await__(self) -> Any:
            yield None

    class Answers:
        """Instances that make their attributes up: another one might answer `__await__`."""

        def __init__(self, awaitable: bool) -> None:
            self.awaitable = awaitable

        def __getattr__(self, name: str) -> Any:
            if name == "__await__" and self.awaitable:
                return lambda: iter(())
            raise AttributeError(name)

    async def native() -> None:
        return None

    @types.coroutine
    def based() -> Any:
        yield None

    def plain() -> Any:
        yield None

    loop = asyncio.new_event_loop()
    coroutine = native()
    values: list[Any] = [
        "text",
        7,
        None,
        {"a": 1},
        ProviderName.YUNYIN,
        SealKey(ProviderName.YUNYIN, "1"),
        datetime.now(UTC),
        Awaitable(),
        loop.create_future(),
        coroutine,
        based(),
        plain(),
        Answers(False),
        Answers(True),
    ]
    try:
        for value in values * 2:
            assert plan._is_awaitable(value) == is_awaitable(value), value
        assert {SealKey, datetime, ProviderName} <= plan._NEVER_AWAITABLE
        assert Answers not in plan._NEVER_AWAITABLE
        assert types.GeneratorType not in plan._NEVER_AWAITABLE
    finally:
        coroutine.close()
        loop.close()
