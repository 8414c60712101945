"""The GraphQL schema: strawberry types mirroring the domain, thin resolvers, error handling.
No HTTP and no business rules here: resolvers call the service layer and turn its results into
types."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import (
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLUnionType,
    NoSchemaIntrospectionCustomRule,
    print_schema,
)
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.tracing import OpenTelemetryExtension
from strawberry.types import ExecutionContext

from gateway.schema.context import GatewayContext
from gateway.schema.cost import CostLimit, CostModel
from gateway.schema.errors import GatewayErrors, log_unexpected
from gateway.schema.lean import lean_resolvers
from gateway.schema.observe import Observe
from gateway.schema.plan import Plans
from gateway.schema.planned import PlannedQueries
from gateway.schema.query import Query
from gateway.schema.types import Authorization, Seal
from gateway.schema.writes import Mutation

__all__ = [
    "GatewayContext",
    "PlannedQueries",
    "build_schema",
    "planned_queries",
    "possible_types",
    "schema_sdl",
    "subgraph_sdl",
]

FEDERATION_DIRECTIVES = frozenset({"key", "shareable", "link", "external", "requires"})
FEDERATION_TYPES = frozenset({"_FieldSet", "_Any", "_Entity", "_Service", "link__Import"})
MAX_DEPTH = 12
MAX_ALIASES = 50
MAX_TOKENS = 5000
# Vendor calls an operation may cost at most (gateway/schema/cost.py), unless configured.
DEFAULT_MAX_COST = 1000

# The limiters' validation rules, made once: the validation cache keys on the rule classes, and
# a limiter built per request would mint new ones and miss the cache every time.
LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
]
# graphql-core's own rule: no `__schema` or `__type` (`__typename` stays allowed).
LIMIT_RULES_NO_INTROSPECTION = [*LIMIT_RULES, NoSchemaIntrospectionCustomRule]


class SubgraphSchema(strawberry.federation.Schema):
    """The schema as a federation subgraph: the product's types plus `_service`, `_entities`
    and the federation directives, for the supergraph router only."""

    planned: PlannedQueries | None = None

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors)


class ProductSchema(strawberry.Schema):
    """The schema frontends and GraphiQL see: the product's types, no federation internals
    (the types' @key/@shareable, kept for the subgraph face, are dropped with their
    definitions)."""

    planned: PlannedQueries | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        schema = self._schema
        schema.directives = tuple(
            d for d in schema.directives if d.name not in FEDERATION_DIRECTIVES
        )
        for name in [n for n in schema.type_map if n in FEDERATION_TYPES]:
            del schema.type_map[name]

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors)


def build_schema(
    *,
    introspection: bool = True,
    max_cost: int = DEFAULT_MAX_COST,
    default_page: int = 20,
    max_page: int = 100,
    subgraph: bool = False,
    tracing: bool = False,
    lean: bool = True,
    plans: bool = True,
) -> strawberry.Schema:
    """The product's schema, or with `subgraph` the same types as a federation subgraph."""
    rules = LIMIT_RULES if introspection else LIMIT_RULES_NO_INTROSPECTION
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        # Factories: a fresh extension per request (the caches themselves are shared).
        # Observe first: it sees the answer last, errors rewritten by GatewayErrors.
        Observe,
        GatewayErrors,
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        lambda: CostLimit(maximum=max_cost, default_page=default_page, max_page=max_page),
    ]
    if tracing:
        # a span per operation and its phases; vendor calls add theirs beneath
        extensions.append(OpenTelemetryExtension)
    schema: strawberry.Schema
    if subgraph:
        schema = SubgraphSchema(
            query=Query, mutation=Mutation, types=[Seal, Authorization], extensions=extensions
        )
    else:
        with warnings.catch_warnings():
            # the types carry @key/@shareable for the subgraph face; this face leaves them out
            warnings.filterwarnings("ignore", "Federation directive found", UserWarning)
            schema = ProductSchema(
                query=Query, mutation=Mutation, types=[Seal, Authorization], extensions=extensions
            )
    if lean:
        lean_resolvers(schema)
    if plans and not tracing:
        # the tracing extension wraps every resolver: only the standard path does that
        schema.planned = PlannedQueries(
            Plans(schema._schema, rules, max_tokens=MAX_TOKENS),
            CostModel(schema._schema, default_page, max_page),
            max_cost,
        )
    return schema


def planned_queries(schema: object) -> PlannedQueries | None:
    """The compiled-plan path (gateway/schema/planned.py) of a schema build_schema made with
    `plans`, or None."""
    return getattr(schema, "planned", None)


def schema_sdl() -> str:
    """The product's schema, as frontends and their tooling see it (`schema.graphql`)."""
    return print_schema(build_schema()._schema) + "\n"


def subgraph_sdl() -> str:
    """The subgraph's SDL with its federation directives, as the router composes it."""
    return build_schema(subgraph=True).as_str() + "\n"


def possible_types() -> dict[str, list[str]]:
    """Each interface and union with the types that implement it: what Apollo Client's
    `possibleTypes` (and urql's and Relay's equivalents) need for fragments on `Node`."""
    schema = build_schema()._schema
    found: dict[str, list[str]] = {}
    for name, graphql_type in sorted(schema.type_map.items()):
        if name.startswith("__"):
            continue
        if isinstance(graphql_type, GraphQLInterfaceType | GraphQLUnionType):
            found[name] = sorted(t.name for t in schema.get_possible_types(graphql_type))
    return found
