"""The GraphQL schema: strawberry types mirroring the domain, thin resolvers, error handling.
No HTTP and no business rules here: resolvers call the service layer and turn its results into
types."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import strawberry
from graphql import GraphQLInterfaceType, GraphQLUnionType, print_schema
from strawberry.file_uploads import Upload

from gateway.schema.context import GatewayContext
from gateway.schema.events import Subscription
from gateway.schema.lean import lean_resolvers
from gateway.schema.query import Query
from gateway.schema.types import Authorization, Seal
from gateway.schema.writes import UPLOAD_SCALAR, Mutation

__all__ = [
    "GatewayContext",
    "build_schema",
    "possible_types",
    "schema_sdl",
    "subgraph_sdl",
]

SCALARS: dict[object, Any] = {Upload: UPLOAD_SCALAR}
FEDERATION_DIRECTIVES = frozenset({"key", "shareable", "link", "external", "requires"})
FEDERATION_TYPES = frozenset({"_FieldSet", "_Any", "_Entity", "_Service", "link__Import"})


class ProductSchema(strawberry.Schema):
    """The schema frontends and GraphiQL see: the product's types, no federation internals
    (the types' @key/@shareable, kept for the subgraph face, are dropped with their
    definitions)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        schema = self._schema
        schema.directives = tuple(
            d for d in schema.directives if d.name not in FEDERATION_DIRECTIVES
        )
        for name in [n for n in schema.type_map if n in FEDERATION_TYPES]:
            del schema.type_map[name]


# The newest Federation version both Apollo's composition and The Guild's (Hive Gateway, Mesh
# Compose) accept: The Guild's refuses 2.11, strawberry's default; the subgraph uses nothing
# newer than 2.9 offers (@key, @shareable).
FEDERATION_VERSION: Literal["2.9"] = "2.9"


def build_schema(*, subgraph: bool = False, lean: bool = True) -> strawberry.Schema:
    """The product's schema, or with `subgraph` the same types as a federation subgraph.
    Types and resolvers only: limits, caches, errors and metrics are the request path's
    (gateway/execution/pipeline.py), the same for every operation."""
    schema: strawberry.Schema
    if subgraph:
        schema = strawberry.federation.Schema(
            query=Query,
            mutation=Mutation,
            subscription=Subscription,
            types=[Seal, Authorization],
            scalar_overrides=SCALARS,
            federation_version=FEDERATION_VERSION,
        )
    else:
        with warnings.catch_warnings():
            # the types carry @key/@shareable for the subgraph face; this face leaves them out
            warnings.filterwarnings("ignore", "Federation directive found", UserWarning)
            schema = ProductSchema(
                query=Query,
                mutation=Mutation,
                subscription=Subscription,
                types=[Seal, Authorization],
                scalar_overrides=SCALARS,
            )
    if lean:
        lean_resolvers(schema)
    return schema


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
