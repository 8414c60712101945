"""Lean resolvers: strawberry wraps every field's resolver in layers (argument conversion, a
strawberry `Info` per call, field-extension chains) that a field without arguments, field
extensions or permissions does not need. For those fields, this pass hands graphql-core a
direct resolver instead: an attribute read for plain fields, a direct call for methods that
take `(self)`, `(root)` or `(self, info)` (our resolvers read only `info.context`, which
graphql-core's info carries too). A page of 20 seals resolves some 200 fields; the wrappers
were a fifth of its CPU (bench/RESULTS.md).

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
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField

Resolver = Callable[..., Any]


SOURCE_ONLY = "source_only"


def of_source(resolver: Resolver, source_only: Callable[[Any], Any]) -> Resolver:
    """Marks a resolver that never reads its `info` with the same resolver as a function of
    the source alone: a compiled plan (gateway/execution/plan.py) calls that, with no `info` made
    and one call fewer per field."""
    setattr(resolver, SOURCE_ONLY, source_only)
    return resolver


def _lean(field: StrawberryField) -> Resolver | None:
    """A direct resolver for `field`, or None when strawberry's own is needed."""
    if field.arguments or field.extensions or field.permission_classes:
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
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("_"):
            continue
        if graphql_type.name in ("Query", "Mutation") or (
            types is not None and graphql_type.name not in types
        ):
            continue
        definition = (graphql_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if not isinstance(definition, StrawberryObjectDefinition):
            continue
        by_name = {schema.config.name_converter.get_graphql_name(f): f for f in definition.fields}
        for name, graphql_field in graphql_type.fields.items():
            field = by_name.get(name)
            resolver = _lean(field) if field is not None else None
            if resolver is not None:
                graphql_field.resolve = resolver
                changed += 1
    return changed
