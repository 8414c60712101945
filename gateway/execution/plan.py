"""Compiled query plans: a query document is parsed, validated and walked once; each later run
of it executes a plan instead of graphql-core's generic executor.

graphql-core, for every field of every object, looks the field up in the schema, collects the
sub-selection, coerces arguments, and completes the value through a chain of type checks (is
it non-null, a list, a leaf, abstract, an object). A page of 20 seals is some 200 fields, and
that generic walk was the largest share of a page's CPU (bench/RESULTS.md). Here, all of it
that depends only on the document is done once, when the plan is made: each selection becomes
a tuple of fields with their resolver, their precomputed arguments, and a completion function
made for their exact type. What remains per run is calling resolvers and building the answer.

It plugs into the one request path (gateway/execution/pipeline.py) as its executor for the
operations it covers; everything before and after execution is the same for both.

Same results, same errors: the plan calls the same resolvers with the same `info` (or none,
for those marked as reading none), completes values by graphql-core's rules (non-null, lists,
leaf coercion, `is_type_of`), locates errors and nulls their nearest nullable parent the way
graphql-core does, and awaits in the same order, so dataloaders batch the same.
`tests/test_plan.py` holds every query the tests use, over the whole sandbox, to the same bytes
as graphql-core's executor.

What a plan does not cover is never compiled, and graphql-core's executor runs it:
mutations and subscriptions, directives (`@skip`, `@include`, `@defer`, `@stream`), interfaces
and unions in the selection, introspection (`__schema`, `__type`), fragment variables, and
documents that do not parse or validate."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from inspect import signature
from types import CoroutineType, GeneratorType
from typing import Any, TypeGuard

from graphql import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    OperationType,
    Undefined,
    located_error,
)
from graphql.execution import default_field_resolver, get_argument_values
from graphql.execution.collect_fields import (
    FieldDetails,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues
from graphql.language import Visitor, visit
from graphql.pyutils import Path, inspect, is_iterable
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from graphql.type import (
    GraphQLResolveInfo,
    GraphQLResolveInfoHelpers,
    is_leaf_type,
    is_object_type,
)

from gateway.schema.lean import SOURCE_ONLY

__all__ = ["NotCompiled", "Plan", "PlanResult", "compile_plan"]

Info = GraphQLResolveInfo[Any]

# Types whose values are never awaitable, known from the start: most fields' answers.
_PLAIN: frozenset[type] = frozenset({str, int, float, bool, type(None), list, dict, tuple})


# Types a value of which was found not awaitable, so that the test is made once per type
# rather than per field (enum members, times and the schema's objects are most of the rest):
# `await` looks `__await__` up on a value's type, so no other value of such a type can be
# awaited either. Bounded: a process that makes classes on the fly stops learning past it.
# The loops that complete fields test `type(value) not in _NEVER_AWAITABLE` themselves before
# calling `_is_awaitable`: the set test in place spares a Python call per field.
_NEVER_AWAITABLE: set[type] = set(_PLAIN)
_NEVER_AWAITABLE_MAX = 512


def _is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    """graphql-core's test, with the types already found not awaitable answered first."""
    kind = type(value)
    if kind in _NEVER_AWAITABLE:
        return False
    if isinstance(value, CoroutineType):
        return True
    if isinstance(value, GeneratorType):
        return bool(value.gi_code.co_flags & 0x100)  # a generator-based coroutine
    if hasattr(value, "__await__"):
        return True
    # Not learnt for a type whose instances answer attributes of their own making (a
    # `__getattr__`): another instance might answer `__await__`.
    if len(_NEVER_AWAITABLE) < _NEVER_AWAITABLE_MAX and not any(
        "__getattr__" in vars(base) for base in kind.__mro__
    ):
        _NEVER_AWAITABLE.add(kind)
    return False


_new_tuple = tuple.__new__


def _path(prev: Path | None, key: str | int, typename: str | None) -> Path:
    """`Path(prev, key, typename)`, without the NamedTuple's Python-level __new__."""
    path: Path = _new_tuple(Path, (prev, key, typename))
    return path


class NotCompiled(Exception):
    """The document needs something a plan does not do; graphql-core's executor runs it."""


# A completion: (run, field, field_path, path, value) -> the answer's value, or an awaitable
# of it. `field` at `field_path` is the field being completed (its `info`, made from them only
# where needed); `path` is where the value sits: the field's own, or an item's below it.
Complete = Callable[["_Run", "_Field", Path, Path, Any], Any]


@dataclass(frozen=True, slots=True)
class _Field:
    """One response key of a selection on one object type."""

    key: str
    name: str
    parent: GraphQLObjectType
    definition: GraphQLField
    nodes: list[FieldNode]
    resolve: Callable[..., Any]
    # The arguments when they depend on no variable, else None (coerced per run).
    arguments: dict[str, Any] | None
    non_null: bool
    complete: Complete
    # The resolver as a function of the source alone, for one that reads no `info` and takes
    # no arguments (gateway/schema/lean.py marks those): no `info` is made for it.
    of_source: Callable[[Any], Any] | None
    # For a leaf field (scalar or enum, nullable or not): its completion, needing no `info`.
    leaf: Callable[[Any], Any] | None
    # Whether the leaf is a String or an ID, which complete a string as it is.
    text_leaf: bool


@dataclass(slots=True)
class PlanResult:
    data: dict[str, Any] | None
    errors: list[GraphQLError]


class _Run:
    """One execution of a plan: the per-request values every resolver's `info` carries, and
    the errors so far (graphql-core's rules: an error inside a nulled parent is dropped)."""

    __slots__ = (
        "context",
        "error_positions",
        "errors",
        "plan",
        "root_value",
        "variables",
    )

    def __init__(self, plan: Plan, context: Any, variables: VariableValues) -> None:
        self.plan = plan
        self.context = context
        self.variables = variables
        self.root_value = None
        self.errors: list[GraphQLError] = []
        self.error_positions: set[Path | None] = set()

    def info(self, field: _Field, path: Path) -> Info:
        plan = self.plan
        # tuple.__new__ directly: the NamedTuple's own __new__ is a Python call per field
        info: Info = _new_tuple(
            GraphQLResolveInfo,
            (
                field.name,
                field.nodes,
                field.definition.type,
                field.parent,
                path,
                plan.schema,
                plan.fragment_definitions,
                self.root_value,
                plan.operation,
                self.variables,
                self.context,
                _is_awaitable,
                None,
                _HELPERS,
            ),
        )
        return info

    def field_error(
        self, raw: Exception, field_nodes: list[FieldNode], non_null: bool, path: Path
    ) -> None:
        """graphql-core's handle_field_error: raise through a non-null field, else record."""
        error = located_error(raw, field_nodes, path.as_list())
        if non_null:
            raise error
        self.add_error(error, path)

    def add_error(self, error: GraphQLError, path: Path | None) -> None:
        positions = self.error_positions
        at = path
        while at is not None:
            if at in positions:
                return
            at = at.prev
        if None in positions:
            return
        positions.add(path)
        self.errors.append(error)

    def execute_fields(self, fields: tuple[_Field, ...], source: Any, path: Path | None) -> Any:
        """graphql-core's execute_fields and execute_field, for a compiled selection. A leaf
        whose resolver reads no `info` gets no `info` and no path (made only for an error)."""
        results: dict[str, Any] = {}
        pending: list[str] | None = None
        for field in fields:
            field_path: Path | None = None
            try:
                arguments = field.arguments
                if arguments is None:
                    arguments = get_argument_values(
                        field.definition, field.nodes[0], self.variables
                    )
                of_source = field.of_source
                if of_source is not None:
                    result = of_source(source)
                else:
                    field_path = _path(path, field.key, field.parent.name)
                    info = self.info(field, field_path)
                    result = (
                        field.resolve(source, info, **arguments)
                        if arguments
                        else field.resolve(source, info)
                    )
                leaf = field.leaf
                if leaf is not None and (
                    type(result) in _NEVER_AWAITABLE or not _is_awaitable(result)
                ):
                    # a String or ID field's string is its answer as it is
                    text = field.text_leaf and type(result) is str
                    results[field.key] = result if text else leaf(result)
                    continue
                if field_path is None:
                    field_path = _path(path, field.key, field.parent.name)
                if type(result) not in _NEVER_AWAITABLE and _is_awaitable(result):
                    completed: Any = self._complete_awaitable(field, field_path, result)
                else:
                    completed = field.complete(self, field, field_path, field_path, result)
                    if type(completed) not in _NEVER_AWAITABLE and _is_awaitable(completed):
                        completed = self._await_completed(field, field_path, completed)
            except Exception as raw:
                if field_path is None:
                    field_path = _path(path, field.key, field.parent.name)
                try:
                    self.field_error(raw, field.nodes, field.non_null, field_path)
                except GraphQLError:
                    if pending:
                        _settle([results[key] for key in pending])
                    raise
                completed = None
            results[field.key] = completed
            if type(completed) not in _NEVER_AWAITABLE and _is_awaitable(completed):
                if pending is None:
                    pending = []
                pending.append(field.key)
        if pending is None:
            return results
        return self._gather_fields(results, pending)

    async def _gather_fields(self, results: dict[str, Any], pending: list[str]) -> dict[str, Any]:
        if len(pending) == 1:
            key = pending[0]
            results[key] = await results[key]
        else:
            values = await gather_with_cancel(*(results[key] for key in pending))
            results.update(zip(pending, values, strict=True))
        return results

    async def _complete_awaitable(self, field: _Field, path: Path, result: Any) -> Any:
        try:
            resolved = await result
            completed = field.complete(self, field, path, path, resolved)
            if _is_awaitable(completed):
                completed = await completed
        except Exception as raw:
            self.field_error(raw, field.nodes, field.non_null, path)
            completed = None
        return completed

    async def _await_completed(self, field: _Field, path: Path, completed: Any) -> Any:
        try:
            return await completed
        except Exception as raw:
            self.field_error(raw, field.nodes, field.non_null, path)
            return None


def _settle(awaitables: list[Any]) -> None:
    """Awaitables of fields beside one whose error bubbles up: run to their end in the
    background, so that none is left never awaited (graphql-core does the same)."""
    for awaitable in awaitables:
        future = asyncio.ensure_future(awaitable)
        _SETTLING.add(future)
        future.add_done_callback(_settled)


async def _gather(awaitables: Sequence[Awaitable[Any]]) -> list[Any]:
    return await gather_with_cancel(*awaitables)


def _track(values: Sequence[Any]) -> None:
    """Awaitables a resolver hands over to be settled (none of ours does)."""
    _settle([value for value in values if _is_awaitable(value)])


# The helpers every run's infos carry: functions of no run (a run's own bound methods there
# would tie the run into a reference cycle, left for the garbage collector to free).
_HELPERS = GraphQLResolveInfoHelpers(gather=_gather, track=_track)

# Futures settling in the background, held until they end (the loop keeps weak references).
_SETTLING: set[asyncio.Future[Any]] = set()


def _settled(future: asyncio.Future[Any]) -> None:
    _SETTLING.discard(future)
    if not future.cancelled():
        future.exception()  # retrieved: their errors are the bubbling error's consequences


def _non_null_error(field: _Field) -> TypeError:
    return TypeError(f"Cannot return null for non-nullable field {field.parent}.{field.name}.")


class _Compiler:
    """Walks an operation once, making the plan's fields and completion functions."""

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDetails],
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = fragments
        self.no_variables = VariableValues({}, {})

    def selection(
        self, parent: GraphQLObjectType, grouped: dict[str, list[FieldDetails]]
    ) -> tuple[_Field, ...]:
        fields: list[_Field] = []
        for key, details in grouped.items():
            first = details[0].node
            name = first.name.value
            if name in ("__schema", "__type"):
                raise NotCompiled("introspection")
            definition = self.schema.get_field(parent, name)
            if definition is None:
                continue  # graphql-core leaves the key out
            if any(d.fragment_variable_values is not None for d in details):
                raise NotCompiled("fragment variables")
            arguments: dict[str, Any] | None = {}
            if definition.args or first.arguments:
                if _uses_variables(first):
                    arguments = None
                else:
                    arguments = get_argument_values(definition, first, self.no_variables)
            resolve = definition.resolve or default_field_resolver
            fields.append(
                _Field(
                    key=key,
                    name=name,
                    parent=parent,
                    definition=definition,
                    nodes=[d.node for d in details],
                    resolve=resolve,
                    arguments=arguments,
                    non_null=isinstance(definition.type, GraphQLNonNull),
                    complete=self.completion(definition.type, details),
                    of_source=getattr(resolve, SOURCE_ONLY, None) if arguments == {} else None,
                    leaf=_leaf_completion(parent, name, definition.type),
                    text_leaf=_is_text(definition.type),
                )
            )
        return tuple(fields)

    def completion(self, return_type: GraphQLOutputType, details: list[FieldDetails]) -> Complete:
        """A function completing values of `return_type`, as graphql-core's complete_value.
        A non-null list or object is one function: its completion is never null but for a
        null value, which it refuses itself."""
        non_null = isinstance(return_type, GraphQLNonNull)
        if non_null:
            assert isinstance(return_type, GraphQLNonNull)
            inner = return_type.of_type
            if not isinstance(inner, GraphQLList) and not is_object_type(inner):
                return self._non_null(self.completion(inner, details))
            return_type = inner
        if isinstance(return_type, GraphQLList):
            item_type = return_type.of_type
            return self._list(
                self.completion(item_type, details),
                isinstance(item_type, GraphQLNonNull),
                non_null,
            )
        if is_leaf_type(return_type):
            return self._leaf(return_type)
        if is_object_type(return_type):
            assert isinstance(return_type, GraphQLObjectType)
            grouped, _defers, forbidden = collect_subfields(
                self.schema,
                self.fragments,
                self.no_variables,
                self.operation,
                return_type,
                details,
            )
            if forbidden:
                raise NotCompiled("directives")
            return self._object(
                return_type, self.selection(return_type, grouped), details, non_null
            )
        raise NotCompiled(f"abstract type {return_type}")

    @staticmethod
    def _non_null(inner: Complete) -> Complete:
        def complete(run: _Run, field: _Field, field_path: Path, path: Path, value: Any) -> Any:
            if isinstance(value, Exception):
                raise value
            completed = inner(run, field, field_path, path, value)
            if completed is None:
                raise _non_null_error(field)
            if _is_awaitable(completed):
                return _awaited_non_null(completed, field)
            return completed

        return complete

    @staticmethod
    def _leaf(leaf_type: Any) -> Complete:
        complete_value = _leaf_value(leaf_type, None)

        def complete(run: _Run, field: _Field, field_path: Path, path: Path, value: Any) -> Any:
            return complete_value(value)

        return complete

    @staticmethod
    def _object(
        object_type: GraphQLObjectType,
        fields: tuple[_Field, ...],
        details: list[FieldDetails],
        non_null: bool,
    ) -> Complete:
        is_type_of = object_type.is_type_of
        type_of_reads_info = is_type_of is not None and not _reads_no_info(is_type_of)

        def complete(run: _Run, field: _Field, field_path: Path, path: Path, value: Any) -> Any:
            if value is None or value is Undefined:
                if non_null:
                    raise _non_null_error(field)
                return None
            if isinstance(value, Exception):
                raise value
            if is_type_of is not None:
                info: Any = run.info(field, field_path) if type_of_reads_info else None
                matches: Any = is_type_of(value, info)
                if _is_awaitable(matches):
                    return _checked_object(run, matches, object_type, fields, details, path, value)
                if not matches:
                    raise _invalid_return_type(object_type, value, details)
            return run.execute_fields(fields, value, path)

        return complete

    @staticmethod
    def _list(item: Complete, items_non_null: bool, non_null: bool) -> Complete:
        def complete(run: _Run, field: _Field, field_path: Path, path: Path, value: Any) -> Any:
            if value is None or value is Undefined:
                if non_null:
                    raise _non_null_error(field)
                return None
            if isinstance(value, Exception):
                raise value
            if not is_iterable(value):
                raise GraphQLError(
                    "Expected Iterable, but did not find one for field"
                    f" '{field.parent}.{field.name}'."
                )
            completed: list[Any] = []
            pending: list[int] | None = None
            nodes = field.nodes
            for index, element in enumerate(value):
                item_path = _path(path, index, None)
                try:
                    if type(element) not in _NEVER_AWAITABLE and _is_awaitable(element):
                        done: Any = _awaited_item(
                            run, item, field, field_path, item_path, element, items_non_null
                        )
                    else:
                        done = item(run, field, field_path, item_path, element)
                        if type(done) not in _NEVER_AWAITABLE and _is_awaitable(done):
                            done = _awaited_completed_item(
                                run, done, item_path, nodes, items_non_null
                            )
                except Exception as raw:
                    try:
                        run.field_error(raw, nodes, items_non_null, item_path)
                    except GraphQLError:
                        if pending:
                            _settle([completed[i] for i in pending])
                        raise
                    done = None
                completed.append(done)
                if type(done) not in _NEVER_AWAITABLE and _is_awaitable(done):
                    if pending is None:
                        pending = []
                    pending.append(index)
            if pending is None:
                return completed
            return _gather_items(completed, pending)

        return complete


def _is_text(field_type: GraphQLOutputType) -> bool:
    """Whether a field is a String or an ID (nullable or not)."""
    if isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    return field_type is GraphQLString or field_type is GraphQLID


def _leaf_completion(
    parent: GraphQLObjectType, name: str, field_type: GraphQLOutputType
) -> Callable[[Any], Any] | None:
    """graphql-core's completion of a scalar or enum field (nullable or not), as a function of
    the value alone; None for other types."""
    non_null = isinstance(field_type, GraphQLNonNull)
    leaf_type: Any = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    if not is_leaf_type(leaf_type):
        return None
    null_message = f"Cannot return null for non-nullable field {parent}.{name}."
    return _leaf_value(leaf_type, null_message if non_null else None)


def _leaf_value(leaf_type: Any, null_message: str | None) -> Callable[[Any], Any]:
    """A leaf value completed (coerced for output) as graphql-core does; a null refused with
    `null_message` where the field is non-null, else kept."""
    coerce = _output_coercion(leaf_type)
    text = leaf_type is GraphQLString or leaf_type is GraphQLID
    integer = leaf_type is GraphQLInt

    def complete(value: Any) -> Any:
        if type(value) is str and text:
            return value  # String and ID give a string back as it is
        if integer and type(value) is int and GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT:
            return value  # and Int an int in its 32-bit range
        if type(value) in _PLAIN_LEAVES:
            coerced = coerce(value)
        elif value is None or value is Undefined:
            if null_message is not None:
                raise TypeError(null_message)
            return None
        elif isinstance(value, Exception):
            raise value
        else:
            coerced = coerce(value)
        if coerced is Undefined or coerced is None:
            raise TypeError(
                f"Expected `{inspect(leaf_type)}.coerce_output_value("
                f"{inspect(value)})` to return non-nullable value, returned:"
                f" {inspect(coerced)}"
            )
        return coerced

    return complete


_PLAIN_LEAVES = frozenset({str, int, float, bool})


def _output_coercion(leaf_type: Any) -> Callable[[Any], Any]:
    """The type's `coerce_output_value`; for strawberry's enum types, which look a member's
    name up by walking every value, the same answer from a table made once."""
    coerce: Callable[[Any], Any] = leaf_type.coerce_output_value
    members = getattr(leaf_type, "wrapped_cls", None)
    if not (
        isinstance(leaf_type, GraphQLEnumType)
        and isinstance(members, type)
        and issubclass(members, Enum)
    ):
        return coerce
    # keyed by the member's Python name: a string hashes in C, an Enum member in Python
    names: dict[str, str] = {}
    for member in members:
        for name, value in leaf_type.values.items():
            if member.value == value.value:
                names[member._name_] = name
                break

    def coerce_member(value: Any) -> Any:
        if type(value) is members:
            name = names.get(value._name_)
            if name is not None:
                return name
        return coerce(value)  # not a member, or one without a name: strawberry's answer

    return coerce_member


async def _awaited_non_null(completed: Awaitable[Any], field: _Field) -> Any:
    value = await completed
    if value is None:
        raise _non_null_error(field)
    return value


async def _checked_object(
    run: _Run,
    matches: Awaitable[Any],
    object_type: GraphQLObjectType,
    fields: tuple[_Field, ...],
    details: list[FieldDetails],
    path: Path,
    value: Any,
) -> Any:
    if not await matches:
        raise _invalid_return_type(object_type, value, details)
    result = run.execute_fields(fields, value, path)
    return await result if _is_awaitable(result) else result


def _reads_no_info(function: Callable[..., Any]) -> bool:
    """Whether a resolver or `is_type_of` never reads its `info`: marked so (gateway/schema/
    lean.py), or naming it `_info` (strawberry's own `is_type_of` does)."""
    if getattr(function, SOURCE_ONLY, None) is not None:
        return True
    try:
        parameters = list(signature(function).parameters)
    except (TypeError, ValueError):
        return False
    return len(parameters) == 2 and parameters[1].startswith("_")


def _invalid_return_type(
    object_type: GraphQLObjectType, value: Any, details: list[FieldDetails]
) -> GraphQLError:
    return GraphQLError(
        f"Expected value of type '{object_type}' but got: {inspect(value)}.",
        [d.node for d in details],
    )


async def _awaited_item(
    run: _Run,
    item: Complete,
    field: _Field,
    field_path: Path,
    path: Path,
    element: Any,
    non_null: bool,
) -> Any:
    try:
        resolved = await element
        completed = item(run, field, field_path, path, resolved)
        if _is_awaitable(completed):
            completed = await completed
    except Exception as raw:
        run.field_error(raw, field.nodes, non_null, path)
        return None
    return completed


async def _awaited_completed_item(
    run: _Run, completed: Awaitable[Any], path: Path, nodes: list[FieldNode], non_null: bool
) -> Any:
    try:
        return await completed
    except Exception as raw:
        run.field_error(raw, nodes, non_null, path)
        return None


async def _gather_items(completed: list[Any], pending: list[int]) -> list[Any]:
    if len(pending) == 1:
        index = pending[0]
        completed[index] = await completed[index]
    else:
        values = await gather_with_cancel(*(completed[i] for i in pending))
        for index, value in zip(pending, values, strict=True):
            completed[index] = value
    return completed


class _FindsVariables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_variable(self, *_: Any) -> None:
        self.found = True


def _uses_variables(node: FieldNode) -> bool:
    finder = _FindsVariables()
    for argument in node.arguments or ():
        visit(argument, finder)
    return finder.found


class _HasDirectives(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_directive(self, *_: Any) -> None:
        self.found = True


@dataclass(frozen=True, slots=True, eq=False)
class Plan:
    """One query operation of one document, compiled."""

    schema: GraphQLSchema
    document: DocumentNode
    operation: OperationDefinitionNode
    fragment_definitions: dict[str, FragmentDefinitionNode]
    fields: tuple[_Field, ...]

    @property
    def name(self) -> str | None:
        return self.operation.name.value if self.operation.name else None

    async def run(self, context: Any, variables: VariableValues) -> PlanResult:
        """The operation's data and errors, as graphql-core's execute gives them."""
        run = _Run(self, context, variables)
        try:
            data = run.execute_fields(self.fields, None, None)
            if _is_awaitable(data):
                data = await data
        except GraphQLError as error:
            run.add_error(error, None)
            return PlanResult(None, run.errors)
        return PlanResult(data, run.errors)


def compile_plan(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> Plan:
    """The plan for `operation_name` in a document that has been validated; NotCompiled
    when the document needs graphql-core's executor."""
    operation: OperationDefinitionNode | None = None
    fragments: dict[str, FragmentDetails] = {}
    definitions: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            if operation_name is None:
                if operation is not None:
                    raise NotCompiled("several operations and no name")
                operation = definition
            elif definition.name and definition.name.value == operation_name:
                operation = definition
        elif isinstance(definition, FragmentDefinitionNode):
            if definition.variable_definitions:
                raise NotCompiled("fragment variables")
            definitions[definition.name.value] = definition
            fragments[definition.name.value] = FragmentDetails(definition, None)
    if operation is None:
        raise NotCompiled("no such operation")
    if operation.operation != OperationType.QUERY:
        raise NotCompiled(operation.operation.value)
    directives = _HasDirectives()
    visit(document, directives)
    if directives.found:
        raise NotCompiled("directives")
    root = schema.query_type
    if root is None:
        raise NotCompiled("no query type")
    compiler = _Compiler(schema, operation, fragments)
    grouped, _defers, forbidden = collect_fields(
        schema, fragments, compiler.no_variables, root, operation
    )
    if forbidden:
        raise NotCompiled("directives")
    return Plan(schema, document, operation, definitions, compiler.selection(root, grouped))


def plan_or_none(schema: GraphQLSchema, document: DocumentNode, name: str | None) -> Plan | None:
    """The operation's plan, or None where graphql-core's executor must run it."""
    try:
        return compile_plan(schema, document, name)
    except NotCompiled:
        return None
