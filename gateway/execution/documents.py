"""Query documents: each text parsed, bounded and validated once, then kept (most recent
first) with what every later request of it needs: its operations, their fragments, and their
compiled plans (gateway/execution/plan.py), made on first use.

Validation is bounded before it runs. graphql-core's rule that fields of the same response
name can merge compares every pair of them, and their sub-selections: 300 copies of
`providers { provider }` in one document (7 KB, far under the token limit) held the event loop
for half a second. So the document is first walked once, cheaply: it may hold at most
`max_selections` selections, and no response name may be selected more than `max_repeats`
times in one selection set (fragments' fields counted where they are spread). What passes
validates within milliseconds (bench/RESULTS.md, "validation bound")."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
)
from graphql.execution.collect_fields import FragmentDetails
from graphql.validation import ASTValidationRule, specified_rules
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.schema.schema import validate_document

from gateway.domain import ErrorCode
from gateway.execution.plan import Plan

__all__ = ["Document", "DocumentLimits", "Documents", "Operation"]


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """What a document may hold (gateway/settings.py declares each bound)."""

    max_tokens: int
    max_selections: int
    max_repeats: int


class TooComplex(GraphQLError):
    """A document over the selection bounds: refused before validation."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": ErrorCode.GRAPHQL_VALIDATION_FAILED.value})


@dataclass(eq=False, slots=True)
class Operation:
    """One operation of a valid document, with what executing it needs."""

    node: OperationDefinitionNode
    fragment_definitions: dict[str, FragmentDefinitionNode]
    fragments: dict[str, FragmentDetails]
    # Its compiled plan, where one covers it (queries; gateway/execution/plan.py).
    plan: Plan | None = None
    # Its cost when no variable can change it, worked out on first use.
    fixed_cost: int | None = None

    @property
    def name(self) -> str | None:
        return self.node.name.value if self.node.name else None

    @property
    def kind(self) -> OperationType:
        return self.node.operation


@dataclass(eq=False, slots=True)
class Document:
    """A document's text, its tree (None when it does not parse or is over the bounds), its
    request errors (nothing of it may run while there are any) and its operations."""

    text: str
    tree: DocumentNode | None
    errors: list[GraphQLError]
    operations: tuple[Operation, ...] = ()

    def operation(self, name: str | None) -> Operation | GraphQLError:
        """The operation `name` picks (the only one, when no name is given), or graphql-core's
        error for a name that picks none."""
        if name is None:
            if len(self.operations) == 1:
                return self.operations[0]
            if self.operations:
                return GraphQLError(
                    "Must provide operation name if query contains multiple operations."
                )
            return GraphQLError("Must provide an operation.")
        for operation in self.operations:
            if operation.name == name:
                return operation
        return GraphQLError(f"Unknown operation named '{name}'.")


# One thread prepares new documents for the whole process: however many arrive at once, the
# event loop competes with one other thread for the interpreter, never several.
PREPARING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="documents")
# The interpreter hands itself between threads every millisecond (5 by default), so that the
# event loop waits at most that long while a document is prepared.
SWITCH_INTERVAL_S = 0.001

# Compiles the plan of one operation of a valid document, or None where no plan covers it.
Compiler = Callable[[DocumentNode, str | None], "Plan | None"]


class Documents:
    """One schema's documents by text, each made once and kept for the most recent `maxsize`
    texts (frontends send the same few). A new text is parsed, bounded, validated and
    compiled in a worker thread, so that even the largest document the limits allow never
    holds the event loop for more than the interpreter's switch interval (5 ms)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        rules: Sequence[type[ASTValidationRule]],
        limits: DocumentLimits,
        compiler: Compiler | None = None,
        *,
        maxsize: int = 256,
    ) -> None:
        self.schema = schema
        self.rules = (*specified_rules, *rules)
        self.limits = limits
        self.compiler = compiler
        self.maxsize = maxsize
        self._documents: OrderedDict[str, Document] = OrderedDict()
        self._making: dict[str, asyncio.Future[Document]] = {}

    def cached(self, text: str) -> Document | None:
        found = self._documents.get(text)
        if found is not None:
            self._documents.move_to_end(text)
        return found

    async def get(self, text: str) -> Document:
        """The document of `text`, made now (once, however many ask at the same time)."""
        found = self.cached(text)
        if found is not None:
            return found
        making = self._making.get(text)
        if making is None:
            loop = asyncio.get_running_loop()
            making = asyncio.ensure_future(loop.run_in_executor(PREPARING, self.make, text))
            self._making[text] = making
            making.add_done_callback(lambda done: self._keep(text, done))
        return await asyncio.shield(making)

    def _keep(self, text: str, done: asyncio.Future[Document]) -> None:
        del self._making[text]
        if done.cancelled() or done.exception() is not None:
            return
        self._documents[text] = done.result()
        if len(self._documents) > self.maxsize:
            self._documents.popitem(last=False)

    def make(self, text: str) -> Document:
        """The document of `text`, made here and now (no cache)."""
        try:
            tree = parse(text, max_tokens=self.limits.max_tokens)
        except GraphQLError as error:
            return Document(text, None, [error])
        problem = bounds_problem(tree, self.limits)
        if problem is not None:
            return Document(text, None, [TooComplex(problem)])
        errors = validate_document(self.schema, tree, self.rules)
        return Document(text, tree, errors, self._operations(tree, compile_plans=not errors))

    def _operations(self, tree: DocumentNode, *, compile_plans: bool) -> tuple[Operation, ...]:
        definitions = {
            d.name.value: d for d in tree.definitions if isinstance(d, FragmentDefinitionNode)
        }
        fragments = {name: FragmentDetails(d, None) for name, d in definitions.items()}
        operations = []
        for node in tree.definitions:
            if isinstance(node, OperationDefinitionNode):
                operation = Operation(node, definitions, fragments)
                if (
                    compile_plans
                    and self.compiler is not None
                    and node.operation == OperationType.QUERY
                ):
                    operation.plan = self.compiler(tree, operation.name)
                operations.append(operation)
        return tuple(operations)


def bounds_problem(tree: DocumentNode, limits: DocumentLimits) -> str | None:
    """Why the document is too large to validate, or None. Fields of one response name are
    merged, and validation compares them pairwise, recursively: so the document is walked
    merged, as validation sees it (fragments expanded where spread), and each merged field
    may stand for at most `max_repeats` fields of the text, each selection set may spread at
    most `max_repeats` × 4 fragments, and the walk may visit at most 4 × `max_selections`
    selections."""
    fragments = {d.name.value: d for d in tree.definitions if isinstance(d, FragmentDefinitionNode)}
    roots = [
        d.selection_set
        for d in tree.definitions
        if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    written = 0
    pending = list(roots)
    while pending:
        selection_set = pending.pop()
        written += len(selection_set.selections)
        for selection in selection_set.selections:
            below = getattr(selection, "selection_set", None)
            if below is not None:
                pending.append(below)
    if written > limits.max_selections:
        return (
            f"The document has {written} selections; the limit is {limits.max_selections}. "
            "Ask for fewer fields at once."
        )
    budget = 4 * limits.max_selections
    max_spreads = 4 * limits.max_repeats
    groups: list[list[SelectionSetNode]] = [[root] for root in roots]
    while groups:
        merged: dict[str, list[FieldNode]] = {}
        spread: set[str] = set()
        stack = groups.pop()
        while stack:
            for selection in stack.pop().selections:
                budget -= 1
                if budget < 0:
                    return "The document's fragments expand too far; ask for fewer fields."
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    merged.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    stack.append(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name not in spread and name in fragments:
                        spread.add(name)
                        stack.append(fragments[name].selection_set)
        if len(spread) > max_spreads:
            return (
                f"One selection set spreads {len(spread)} fragments; at most {max_spreads} "
                "are allowed."
            )
        for key, fields in merged.items():
            if len(fields) > limits.max_repeats:
                return (
                    f"`{key}` is selected {len(fields)} times in one place; at most "
                    f"{limits.max_repeats} are allowed."
                )
            below = [f.selection_set for f in fields if f.selection_set is not None]
            if below:
                groups.append(below)
    return None


def validation_rules(
    *, max_depth: int, max_aliases: int, introspection: bool
) -> list[type[ASTValidationRule]]:
    """The rules every document is held to beyond the spec's: strawberry's depth and alias
    limiters (their rules made once, so that each is one class the cache knows), and no
    `__schema` or `__type` where introspection is off (`__typename` stays allowed)."""
    rules = [
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    ]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules
