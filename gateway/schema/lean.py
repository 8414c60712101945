"""Lean resolvers: strawberry wraps every field's resolver in layers (argument conversion, a
strawberry `Info` per call, field-extension chains) that a field without field extensions,
permissions or exception handlers does not need. For those fields, this pass hands graphql-core
a direct resolver instead: an attribute read for plain fields, a direct call for methods that
take `(self)`, `(root)` or `(self, info)` (our resolvers read only `info.context` and
`info.path`, which graphql-core's info carries too). A page of 20 seals resolves some 200
fields; the wrappers were a fifth of its CPU (bench/RESULTS.md).

A method that also takes arguments (`seal(id:)`, `seals(first:, after:)`) is called directly
when every argument given is one strawberry hands on as it is (a built-in scalar, `ID`, or
null): with an input object or an enum given, strawberry's own resolver converts them.

`tests/test_lean.py` answers every query the tests use, over the whole sandbox, with and
without this pass, and holds the two to the same bytes."""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLObjectType
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import (
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
)
from strawberry.types.field import StrawberryField

Resolver = Callable[..., Any]


SOURCE_ONLY = "source_only"


def of_source(resolver: Resolver, source_only: Callable[[Any], Any]) -> Resolver:
    """Marks a resolver that never reads its `info` with the same resolver as a function of
    the source alone: a compiled plan (gateway/execution/plan.py) calls that, with no `info` made
    and one call fewer per field."""
    setattr(resolver, SOURCE_ONLY, source_only)
    return resolver


# Argument types whose values strawberry's conversion hands on unchanged
# (strawberry/types/arguments.py `convert_argument`: a leaf other than GlobalID).
_AS_GIVEN: tuple[object, ...] = (str, int, float, bool, strawberry.ID)


def _as_given(argument_type: object) -> bool:
    if isinstance(argument_type, StrawberryOptional) and not isinstance(
        argument_type, StrawberryMaybe
    ):
        argument_type = argument_type.of_type
    return any(argument_type is plain for plain in _AS_GIVEN)


def _lean_with_arguments(
    schema: strawberry.Schema, field: StrawberryField, standard: Resolver
) -> Resolver | None:
    """A direct call of a method taking `(self, info, ...)` or `(self, ...)` and the field's
    arguments by their own names, used while every argument given is one strawberry would
    hand on unchanged; `standard` (strawberry's resolver) otherwise."""
    resolver = field.base_resolver
    if resolver is None or resolver.self_parameter is None or field.is_subscription:
        return None
    function = resolver.wrapped_func
    if not inspect.isfunction(function):
        return None
    names = [p.name for p in inspect.signature(function).parameters.values()]
    takes_info = names[1:2] == ["info"]
    arguments = {schema.config.name_converter.from_argument(a): a for a in field.arguments}
    python_names = [a.python_name for a in field.arguments]
    if (resolver.info_parameter is not None) != takes_info or names[1 + takes_info :] != (
        python_names
    ):
        return None
    if any(graphql != a.python_name for graphql, a in arguments.items()):
        return None  # a renamed argument: strawberry's path
    as_given = frozenset(name for name, a in arguments.items() if _as_given(a.type))

    def direct(source: Any, info: Any, **given: Any) -> Any:
        for name, value in given.items():
            if value is not None and name not in as_given:
                return standard(source, info, **given)
        return function(source, info, **given) if takes_info else function(source, **given)

    return direct


def _lean(field: StrawberryField) -> Resolver | None:
    """A direct resolver for `field` without arguments, or None when strawberry's own is
    needed."""
    if field.arguments:
        return None
    resolver = field.base_resolver
    if resolver is None:
        name = field.python_name

        def attribute(source: Any, info: Any) -> Any:
            return getattr(source, name)

        return of_source(attribute, operator.attrgetter(name))
    function = resolver.wrapped_func
    if not inspect.isfunction(function):
        return None  # classmethods, staticmethods, partials: strawberry's path
    parameters = [p.name for p in inspect.signature(function).parameters.values()]
    if parameters in (["self"], ["root"]):

        def method(source: Any, info: Any) -> Any:
            return function(source)

        return of_source(method, function)
    if parameters == ["self", "info"]:

        def method_with_info(source: Any, info: Any) -> Any:
            return function(source, info)

        return method_with_info
    return None


def lean_resolvers(schema: strawberry.Schema, types: set[str] | None = None) -> int:
    """Gives graphql-core direct resolvers where they answer the same; how many fields."""
    changed = 0
    converter = schema.schema_converter
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("_"):
            continue
        if graphql_type.name == "Mutation" or (
            types is not None and graphql_type.name not in types
        ):
            continue
        definition = (graphql_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if not isinstance(definition, StrawberryObjectDefinition):
            continue
        by_name = {schema.config.name_converter.get_graphql_name(f): f for f in definition.fields}
        for name, graphql_field in graphql_type.fields.items():
            field = by_name.get(name)
            if (
                field is None
                or name.startswith("_")  # federation's `_service`, `_entities`
                or field.extensions
                or field.permission_classes
                or converter._get_field_exception_handlers(field)
                or graphql_field.resolve is None
            ):
                continue
            resolver = _lean(field) or _lean_with_arguments(schema, field, graphql_field.resolve)
            if resolver is not None:
                graphql_field.resolve = resolver
                changed += 1
    return changed
