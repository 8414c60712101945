"""How errors reach clients: every error carries `extensions.code` from a fixed set, vendor
failures name the provider and the vendor's code, and nothing unexpected (a stack trace, a
message that could hold a secret) ever leaves: it is logged and replaced by a generic error."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError

from gateway.domain import (
    BadInput,
    ErrorCode,
    GatewayError,
    NotFound,
    NotSupported,
    UpstreamError,
)
from gateway.schema.context import GatewayContext
from gateway.schema.enums import Provider, convert

log = logging.getLogger("gateway.errors")

INTERNAL_MESSAGE = "Internal server error."


def extensions_of(error: GatewayError) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": error.code.value}
    provider = getattr(error, "provider", None)
    if isinstance(error, UpstreamError | NotFound | NotSupported) and provider is not None:
        extensions["provider"] = convert(Provider, provider).name
    if isinstance(error, UpstreamError):
        extensions["upstreamCode"] = error.vendor_code
        extensions["retryable"] = error.retryable
        if error.write_may_have_happened is not None:
            extensions["writeMayHaveHappened"] = error.write_may_have_happened
        if getattr(error, "write_succeeded", False):
            # reading a write's result back failed: the write itself happened
            extensions["writeSucceeded"] = True
    if isinstance(error, BadInput) and error.field:
        extensions["field"] = error.field
    return extensions


def request_error_code(error: GraphQLError) -> ErrorCode:
    """The code of an error in the request itself, found before anything ran: the document
    does not parse, breaks a validation rule (limits included), or its variables do not fit."""
    if isinstance(error, GraphQLSyntaxError):
        return ErrorCode.GRAPHQL_PARSE_FAILED
    if error.message.startswith("Variable '$") and not error.path:
        return ErrorCode.BAD_USER_INPUT
    return ErrorCode.GRAPHQL_VALIDATION_FAILED


def public_error(error: GraphQLError) -> GraphQLError:
    """The error as a client may see it, always with `extensions.code`."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        # syntax, validation and argument errors: their messages are for the client
        if error.extensions and "code" in error.extensions:
            return error
        return GraphQLError(
            error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=original,
            extensions={**(error.extensions or {}), "code": request_error_code(error).value},
        )
    if isinstance(original, GatewayError):
        return GraphQLError(
            original.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=extensions_of(original),
        )
    return GraphQLError(
        INTERNAL_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": ErrorCode.INTERNAL_SERVER_ERROR.value},
    )


def reported_error(path: list[str | int], error: Exception) -> GraphQLError:
    """An error a resolver reported beside the partial data it returned."""
    if isinstance(error, GatewayError):
        return GraphQLError(error.message, path=path, extensions=extensions_of(error))
    log.error("unexpected error at %s", path, exc_info=error)
    return GraphQLError(
        INTERNAL_MESSAGE, path=path, extensions={"code": ErrorCode.INTERNAL_SERVER_ERROR.value}
    )


def client_errors(errors: list[GraphQLError], context: object) -> list[GraphQLError] | None:
    """An operation's errors as clients see them, with those its resolvers reported."""
    found = [public_error(e) for e in errors]
    if isinstance(context, GatewayContext):
        found.extend(reported_error(path, error) for path, error in context.reported)
    return found or None


def log_unexpected(errors: list[GraphQLError]) -> None:
    """Expected errors (bad input, vendor failures) are the client's business; the rest are bugs."""
    for error in errors:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError | GatewayError):
            continue
        log.error("unexpected error at %s", error.path, exc_info=original)
