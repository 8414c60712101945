"""The GraphQL schema: strawberry types mirroring the domain, thin resolvers, error handling.
No HTTP and no business rules here: resolvers call the service layer and turn its results into
types."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError, NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from gateway.schema.context import GatewayContext
from gateway.schema.cost import CostLimit
from gateway.schema.errors import GatewayErrors, log_unexpected
from gateway.schema.query import Query
from gateway.schema.types import Authorization, Seal
from gateway.schema.writes import Mutation

__all__ = ["GatewayContext", "build_schema", "schema_sdl"]

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


class GatewaySchema(strawberry.federation.Schema):
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
) -> strawberry.federation.Schema:
    rules = LIMIT_RULES if introspection else LIMIT_RULES_NO_INTROSPECTION
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        types=[Seal, Authorization],
        extensions=[
            # Factories: a fresh extension per request (the caches themselves are shared).
            GatewayErrors,
            lambda: AddValidationRules(rules),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            lambda: CostLimit(maximum=max_cost, default_page=default_page, max_page=max_page),
        ],
    )


def schema_sdl() -> str:
    return build_schema().as_str() + "\n"
