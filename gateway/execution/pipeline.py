"""The one path every GraphQL operation travels, however it came (GET or POST, a text or a
persisted document, the product's face or the subgraph's):

1. its document, parsed, bounded and validated once per text (gateway/execution/documents.py);
2. the operation it names, and whether the request's method allows it (no mutation by GET);
3. its variables, coerced;
4. its cost, worked out for these variables, against the limit (gateway/execution/cost.py);
5. its execution: through its compiled plan where one covers it (gateway/execution/plan.py),
   else through graphql-core's executor; the executor is the only thing that differs; a
   subscription (`stream`) answers once per event, each event executed like a request of its
   own (its own vendor budget, its own errors);
6. its errors as clients see them, its cost in `extensions` when asked, and its request event,
   metrics and span (gateway/execution/observe.py).

Each stage is written once, here, so that no rule can hold on one path and not on the other."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLError, GraphQLSchema, OperationType
from graphql.execution import ExecutionResult as CoreResult
from graphql.execution import (
    create_source_event_stream,
    default_field_resolver,
    get_variable_values,
    map_source_to_response_event,
)
from graphql.execution.executor import default_type_resolver
from graphql.execution.values import VariableValues
from strawberry.execution import optimized_is_awaitable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gateway.domain import ErrorCode, GatewayError
from gateway.execution.cost import CostModel
from gateway.execution.documents import Documents, Operation
from gateway.execution.errors import client_errors, log_unexpected, public_error, reported_error
from gateway.execution.observe import record_operation
from gateway.ops.metrics import PLANNED
from gateway.providers.resilience import REQUEST_BUDGET
from gateway.schema.context import GatewayContext

__all__ = ["OperationRequest", "Outcome", "Pipeline", "Stream"]

# How many (event, selection) answers are kept for subscribers that reach the event later.
SHARED_EVENT_ANSWERS = 4096

KINDS = {
    OperationType.QUERY: "Query",
    OperationType.MUTATION: "Mutation",
    OperationType.SUBSCRIPTION: "Subscription",
}


@dataclass(frozen=True, slots=True)
class OperationRequest:
    """What the transport read: the document's text, the variables and the operation name,
    and whether the transport allows only queries (a GET)."""

    query: str
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    queries_only: bool = False
    # whether the transport can stream a subscription's answers (WebSocket, SSE)
    streams: bool = False


@dataclass(slots=True)
class Outcome:
    """An operation's answer. `ran` is False for a request error (nothing ran: the answer has
    no `data` entry); `status` is the HTTP status a refusal of the request itself calls for
    (400: no operation to run; 405: a mutation by GET), else 200."""

    data: dict[str, Any] | None
    errors: list[GraphQLError] | None
    extensions: dict[str, Any] | None = None
    ran: bool = True
    status: int = 200

    def body(self) -> dict[str, Any]:
        """The GraphQL response as JSON-ready values."""
        answer: dict[str, Any] = {}
        if self.ran:
            answer["data"] = self.data
        if self.errors:
            answer["errors"] = [error.formatted for error in self.errors]
        if self.extensions:
            answer["extensions"] = self.extensions
        return answer


@dataclass(slots=True)
class Stream:
    """A subscription's answers, one Outcome per event, until the client or the source ends
    it (`aclose`)."""

    answers: AsyncIterator[Outcome]
    name: str | None

    async def aclose(self) -> None:
        closing = getattr(self.answers, "aclose", None)
        if closing is not None:
            await closing()


class Pipeline:
    """Runs operations against one schema (a face of the gateway)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        documents: Documents,
        cost_model: CostModel,
        max_cost: int,
        *,
        tracing: bool = False,
    ) -> None:
        self.schema = schema
        self.documents = documents
        self.cost_model = cost_model
        self.max_cost = max_cost
        self._tracer: Any = None
        # each event's answer to one selection, shared by every subscriber that would compute
        # the same one (gateway/execution/pipeline.py `_subscribe`)
        self._event_answers: OrderedDict[tuple[Any, ...], asyncio.Future[Any]] = OrderedDict()
        if tracing:
            from opentelemetry import trace

            self._tracer = trace.get_tracer("gateway")

    async def run(self, request: OperationRequest, context: GatewayContext) -> Outcome:
        """An operation's one answer (a subscription is refused: its transport cannot
        stream)."""
        answer = await self.start(request, context)
        assert isinstance(answer, Outcome)
        return answer

    async def start(self, request: OperationRequest, context: GatewayContext) -> Outcome | Stream:
        """An operation's answer, or for a subscription on a transport that streams, the
        stream of its answers."""
        started = time.perf_counter()
        if self._tracer is None:
            outcome, operation = await self._answer(request, context, None)
        else:
            with self._span(request) as span:
                outcome, operation = await self._answer(request, context, span)
        name = operation.name if operation is not None else request.operation_name
        kind = operation.kind.value if operation is not None else "unknown"
        if isinstance(outcome, Stream):
            record_operation(name, kind, [], True, time.perf_counter() - started, context)
            return outcome
        record_operation(
            name,
            kind,
            outcome.errors or [],
            bool(outcome.data),
            time.perf_counter() - started,
            context,
        )
        return outcome

    async def _answer(
        self, request: OperationRequest, context: GatewayContext, span: Any
    ) -> tuple[Outcome | Stream, Operation | None]:
        document = self.documents.cached(request.query) or await self.documents.get(request.query)
        if document.tree is None:
            return _refused(document.errors), None
        operation = document.operation(request.operation_name)
        if isinstance(operation, GraphQLError):
            return _refused([_coded(operation, ErrorCode.BAD_REQUEST)], status=400), None
        if span is not None:
            span.update_name(f"GraphQL {KINDS[operation.kind]}: {operation.name or '(anonymous)'}")
        # a subscription streamed by GET is allowed (EventSource): it changes nothing
        streamed = operation.kind == OperationType.SUBSCRIPTION and request.streams
        if request.queries_only and operation.kind != OperationType.QUERY and not streamed:
            kind = KINDS[operation.kind].lower()
            message = f"{kind.capitalize()}s are not allowed when using GET; use POST."
            error = GraphQLError(message, extensions={"code": ErrorCode.BAD_REQUEST.value})
            return _refused([error], status=405), operation
        if document.errors:
            return _refused(document.errors), operation
        variables = get_variable_values(
            self.schema,
            operation.node.variable_definitions or (),
            request.variables or {},
            max_errors=50,
        )
        if not isinstance(variables, VariableValues):
            return _refused(variables), operation
        cost = self._cost(operation, request.variables)
        if cost > self.max_cost:
            error = GraphQLError(
                f"This operation could cost {cost} vendor calls; the limit is "
                f"{self.max_cost}. Ask for smaller pages or fewer fields at once.",
                extensions={
                    "code": ErrorCode.COST_LIMIT_EXCEEDED.value,
                    "cost": cost,
                    "maximum": self.max_cost,
                },
            )
            return _refused([error]), operation
        if operation.kind == OperationType.SUBSCRIPTION:
            if not request.streams:
                error = GraphQLError(
                    "Subscriptions are served over WebSocket (graphql-transport-ws) or "
                    "Server-Sent Events (`Accept: text/event-stream`).",
                    extensions={"code": ErrorCode.BAD_REQUEST.value},
                )
                return _refused([error], status=405), operation
            selection = (
                request.query,
                request.operation_name,
                orjson.dumps(request.variables or {}, option=orjson.OPT_SORT_KEYS),
                context.audience,
            )
            return await self._subscribe(operation, variables, context, selection), operation
        data, errors = await self._execute(operation, variables, context)
        if errors:
            log_unexpected(errors)
        extensions = None
        if context.show_cost:
            extensions = {"cost": {"requested": cost, "maximum": self.max_cost}}
        return Outcome(data, client_errors(errors, context), extensions), operation

    def _cost(self, operation: Operation, variables: dict[str, Any] | None) -> int:
        """The operation's cost for these variables; worked out once for an operation that
        declares none (no request can change it)."""
        if operation.node.variable_definitions:
            return self.cost_model.cost(operation.fragment_definitions, operation.node, variables)
        if operation.fixed_cost is None:
            operation.fixed_cost = self.cost_model.cost(
                operation.fragment_definitions, operation.node, None
            )
        return operation.fixed_cost

    def _execute(
        self, operation: Operation, variables: VariableValues, context: GatewayContext
    ) -> Awaitable[tuple[dict[str, Any] | None, list[GraphQLError]]]:
        """The executor: the operation's plan where one covers it, else graphql-core's."""
        if operation.plan is not None:
            PLANNED.inc()
            return _planned(operation, variables, context)
        return self._standard(operation, variables, context)

    async def _subscribe(
        self,
        operation: Operation,
        variables: VariableValues,
        context: GatewayContext,
        selection: tuple[Any, ...],
    ) -> Outcome | Stream:
        """The subscription's source stream, each event executed afresh: the vendor budget
        and the reported errors are each event's own. An event is executed once for every
        subscriber of the same selection (the same document, variables, tenant and accounts:
        the same answer), the first to reach it; the others take its answer (1,000
        subscribers of one selection: one execution per event, one vendor read per `seal`)."""
        executor = self._executor(operation, variables, context)
        source: Any = create_source_event_stream(executor)
        if optimized_is_awaitable(source):
            source = await source
        if isinstance(source, CoreResult):
            errors = list(source.errors or ())
            log_unexpected(errors)
            return Outcome(None, client_errors(errors, context))
        budget = REQUEST_BUDGET.get()
        shared = self._event_answers

        async def execute(event_executor: Any) -> CoreResult:
            if budget is not None:
                REQUEST_BUDGET.set(budget.renewed())
            result: Any = event_executor.execute_operation(False)
            if optimized_is_awaitable(result):
                result = await result
            # what resolvers reported beside their data belongs to the answer every sharer gets
            errors = [
                *(result.errors or ()),
                *(reported_error(path, error) for path, error in context.reported),
            ]
            context.reported.clear()
            return CoreResult(result.data, errors or None)

        def each_event(event_executor: Any) -> Any:
            context.reported.clear()
            shared_as = getattr(event_executor.root_value, "shared_as", None)
            if shared_as is None:
                return execute(event_executor)
            key = (shared_as, *selection)
            found = shared.get(key)
            if found is None:
                found = shared[key] = asyncio.ensure_future(execute(event_executor))
                if len(shared) > SHARED_EVENT_ANSWERS:
                    shared.popitem(last=False)
            return asyncio.shield(found)

        results = map_source_to_response_event(executor, source, each_event)
        return Stream(_answers(results, context), operation.name)

    def _executor(
        self, operation: Operation, variables: VariableValues, context: GatewayContext
    ) -> StrawberryGraphQLCoreExecutionContext:
        return StrawberryGraphQLCoreExecutionContext(
            self.schema,
            operation.fragment_definitions,
            operation.fragments,
            None,
            context,
            operation.node,
            variables,
            default_field_resolver,
            default_type_resolver,
            default_field_resolver,
            is_awaitable=optimized_is_awaitable,
            operation_extensions=None,
        )

    async def _standard(
        self, operation: Operation, variables: VariableValues, context: GatewayContext
    ) -> tuple[dict[str, Any] | None, list[GraphQLError]]:
        executor = self._executor(operation, variables, context)
        result: Any = executor.execute_operation()
        if optimized_is_awaitable(result):
            result = await result
        assert isinstance(result, CoreResult)
        return result.data, list(result.errors or ())

    @contextmanager
    def _span(self, request: OperationRequest) -> Iterator[Any]:
        """The operation's span (tracing on), its vendor calls' spans beneath it."""
        from opentelemetry.trace import SpanKind

        name = f"GraphQL Query: {request.operation_name}" if request.operation_name else "GraphQL"
        with self._tracer.start_as_current_span(
            name, kind=SpanKind.SERVER, attributes={"component": "graphql"}
        ) as span:
            yield span


async def _answers(results: AsyncIterator[Any], context: GatewayContext) -> AsyncIterator[Outcome]:
    """Each event's answer as clients see it. A source that fails with an error a client
    may see (a cursor that is not one, the event log away) ends the stream with it."""
    try:
        async for result in results:
            errors = list(result.errors or ())
            log_unexpected(errors)
            yield Outcome(result.data, client_errors(errors, context))
    except GatewayError as error:
        yield Outcome(None, [public_error(GraphQLError(error.message, original_error=error))])
    finally:
        closing = getattr(results, "aclose", None)
        if closing is not None:
            await closing()


async def _planned(
    operation: Operation, variables: VariableValues, context: GatewayContext
) -> tuple[dict[str, Any] | None, list[GraphQLError]]:
    assert operation.plan is not None
    ran = await operation.plan.run(context, variables)
    return ran.data, ran.errors


def _refused(errors: list[GraphQLError], status: int = 200) -> Outcome:
    """A request error: nothing ran, and every error carries its code."""
    return Outcome(None, [public_error(error) for error in errors], ran=False, status=status)


def _coded(error: GraphQLError, code: ErrorCode) -> GraphQLError:
    return GraphQLError(error.message, extensions={"code": code.value})
