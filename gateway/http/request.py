"""A GraphQL request read from HTTP, once: its head (method, query parameters percent-decoded,
the headers the gateway reads), then its body (bounded in size and in time), then the GraphQL
parameters from whichever carries them. Every later decision (the GraphiQL page, the caller,
cost, execution) is taken on what this module read, never on the raw request again.

Whatever is wrong with a request is a `Refused`: a status and a message, answered as a
GraphQL JSON error with a code. Nothing malformed reaches a parser that could fail otherwise:
JSON nesting is bounded before parsing, bytes must be UTF-8 (lone surrogates included), and a
multipart request must carry an object `map` naming files that are there."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import Message, Receive, Scope
from strawberry.file_uploads.utils import replace_placeholders_with_files

from gateway.domain import ErrorCode

# The parameters of a GraphQL request over HTTP (GraphQL over HTTP, and The Guild's
# `documentId` for persisted documents).
PARAMETERS = ("query", "variables", "operationName", "extensions", "documentId")
_FOLDED = frozenset(name.casefold() for name in PARAMETERS)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
GRAPHQL_RESPONSE = "application/graphql-response+json"
# The headers a browser sends only after a CORS preflight: a multipart request must carry one
# (it needs no preflight of its own, so a hostile page could post one: CSRF).
PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name")
_MULTIPART_FIELDS = 16
# The headers the gateway reads (names as ASGI gives them: lower case); the rest are left
# undecoded.
_READ = {
    name.encode(): name
    for name in (
        "accept",
        "authorization",
        "content-length",
        "content-type",
        "idempotency-key",
        # W3C trace context: the gateway's spans continue the caller's trace
        "traceparent",
        "tracestate",
        "x-api-key",
        "x-query-cost",
        "x-request-id",
        *PREFLIGHT_HEADERS,
    )
}


class Refused(Exception):
    """A request the gateway will not read or run; answered as a coded GraphQL JSON error."""

    def __init__(
        self,
        status: int,
        message: str,
        code: ErrorCode = ErrorCode.BAD_REQUEST,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers


class ClientGone(Exception):
    """The client left before its request was read: nobody to answer."""


@dataclass(frozen=True, slots=True)
class RequestHead:
    """The request line and headers, decoded once."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    request_id: str

    @classmethod
    def of(cls, scope: Scope) -> RequestHead:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = _READ.get(raw_name)
            if name is not None:
                value = raw_value.decode("latin-1")
                # a repeated header reads as one, comma-separated (RFC 9110, 5.3)
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
        given = headers.get("x-request-id", "")
        request_id = given if REQUEST_ID.match(given) else os.urandom(16).hex()
        params: tuple[tuple[str, str], ...] = ()
        query_string: bytes = scope.get("query_string", b"")
        if query_string:
            try:
                params = tuple(
                    parse_qsl(query_string.decode("utf-8"), keep_blank_values=True, errors="strict")
                )
            except UnicodeDecodeError:
                params = (("\0", ""),)  # not readable: refused by from_query_string
        return cls(scope["method"], scope["path"], params, headers, request_id)

    @property
    def names_a_graphql_parameter(self) -> bool:
        """Whether any query parameter is, in any spelling or case, a GraphQL one: such a
        request could run an operation, and is never the anonymous GraphiQL page."""
        return any(name.strip().casefold() in _FOLDED or name == "\0" for name, _ in self.params)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def is_multipart(self) -> bool:
        return self.content_type.startswith("multipart/")

    @property
    def wants_graphql_response(self) -> bool:
        """Whether the client prefers `application/graphql-response+json` (GraphQL over
        HTTP) to plain JSON."""
        return accepts_graphql_response(self.headers.get("accept"))

    @property
    def wants_event_stream(self) -> bool:
        """Whether the client asks for Server-Sent Events (GraphQL over SSE): a subscription
        is then streamed on this request."""
        return "text/event-stream" in self.headers.get("accept", "").lower()

    @property
    def wants_only_event_stream(self) -> bool:
        """Whether Server-Sent Events are the only answer the client takes (no JSON)."""
        accept = self.headers.get("accept", "").lower()
        return "text/event-stream" in accept and "json" not in accept

    @property
    def preflighted(self) -> bool:
        return any(self.headers.get(name) for name in PREFLIGHT_HEADERS)


def accepts_graphql_response(accept: str | None) -> bool:
    """Whether the client asked for `application/graphql-response+json` before plain JSON
    when it names both with weights."""
    if not accept:
        return False
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, _, options = part.strip().partition(";")
        weight = 1.0
        for option in options.split(";"):
            name, _, value = option.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[media.strip().lower()] = weight
    ours = weights.get(GRAPHQL_RESPONSE, 0.0)
    return ours > 0 and ours >= weights.get("application/json", 0.0)


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """What a body may be: its size (JSON, multipart) and its JSON's nesting."""

    max_bytes: int
    max_multipart_bytes: int
    max_json_depth: int
    max_files: int = 1


async def read_body(head: RequestHead, receive: Receive, limits: BodyLimits) -> bytes:
    """The whole body, within its size limit: one too large is answered 413, read no further.
    Its deadline is the server's (gateway/http/server.py: a client too slow gets a 408 and is
    disconnected, which reaches here as the client leaving), so that reading costs no timer."""
    limit = limits.max_multipart_bytes if head.is_multipart else limits.max_bytes
    too_large = Refused(413, f"The request body exceeds the limit of {limit} bytes.")
    declared = head.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


@dataclass(slots=True)
class GraphQLParams:
    """The GraphQL parameters of a request, as its client gave them."""

    query: str | None = None
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    extensions: dict[str, Any] | None = None
    document_id: str | None = None


def from_query_string(head: RequestHead, max_json_depth: int) -> GraphQLParams:
    """A GET's GraphQL parameters, each given at most once."""
    seen: dict[str, str] = {}
    for name, value in head.params:
        if name == "\0":
            raise Refused(400, "The query string is not valid percent-encoded UTF-8.")
        if name in PARAMETERS:
            if name in seen:
                raise Refused(400, f"The query parameter `{name}` is given more than once.")
            seen[name] = value
    return params_of(
        {
            "query": seen.get("query") or None,
            "variables": _json_text(seen.get("variables"), "variables", max_json_depth),
            "operationName": seen.get("operationName") or None,
            "extensions": _json_text(seen.get("extensions"), "extensions", max_json_depth),
            "documentId": seen.get("documentId") or None,
        }
    )


def _json_text(text: str | None, name: str, max_depth: int) -> Any:
    if not text:
        return None
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        raise Refused(400, f"`{name}` is not valid UTF-8.") from None
    return decode_json(encoded, max_depth, f"`{name}`")


async def from_body(
    head: RequestHead, body: bytes, limits: BodyLimits
) -> tuple[GraphQLParams, bytes]:
    """A POST's GraphQL parameters: a JSON object, or a GraphQL multipart request (files
    in its parts, `operations` and `map` as the multipart request spec says). Also the body
    that identifies the request for idempotency."""
    if head.content_type == "application/json":
        value = decode_json(body, limits.max_json_depth, "The request body")
        if not isinstance(value, dict):
            raise Refused(400, "The request body must be a JSON object (a GraphQL request).")
        return params_of(value), body
    if head.content_type == "multipart/form-data":
        return params_of(await _multipart(head, body, limits)), body
    raise Refused(
        400,
        "Unsupported content type: send application/json, or multipart/form-data for uploads.",
    )


def decode_json(data: bytes, max_depth: int, what: str) -> Any:
    """JSON, its nesting bounded before it is parsed; any fault is the client's (400)."""
    # no more brackets than levels (the common case, checked at C speed): nothing to measure
    if data.count(b"[") + data.count(b"{") > max_depth and _nesting(data) > max_depth:
        raise Refused(400, f"{what} nests deeper than {max_depth} levels.")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise Refused(400, f"{what} is not valid JSON in UTF-8.") from None


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def _nesting(data: bytes) -> int:
    """How deep brackets nest outside strings: in C-speed passes, one per level, so a body
    of any size costs no more than (depth × size) byte operations, never recursion."""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    depth = 0
    while brackets:
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if len(shorter) == len(brackets):
            return depth + 1  # unbalanced: the parser says so
        brackets = shorter
        depth += 1
    return depth


def params_of(value: Mapping[str, Any]) -> GraphQLParams:
    """The parameters, each of its type (GraphQL over HTTP; a WebSocket's `subscribe`
    payload is checked the same way)."""
    query = value.get("query")
    variables = value.get("variables")
    operation_name = value.get("operationName")
    extensions = value.get("extensions")
    document_id = value.get("documentId")
    for given, kinds, name, what in (
        (query, str, "query", "a string"),
        (variables, dict, "variables", "an object"),
        (operation_name, str, "operationName", "a string"),
        (extensions, dict, "extensions", "an object"),
        (document_id, str, "documentId", "a string"),
    ):
        if given is not None and not isinstance(given, kinds):
            raise Refused(400, f"The GraphQL request's `{name}` must be {what} or null, if given.")
    return GraphQLParams(query, variables, operation_name, extensions, document_id)


async def _multipart(head: RequestHead, body: bytes, limits: BodyLimits) -> dict[str, Any]:
    _, options = parse_options_header(head.headers.get("content-type", ""))
    if not options.get(b"boundary"):
        raise Refused(400, "The multipart request names no boundary.")

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(
        Headers(raw=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in head.headers.items()]),
        stream(),
        max_files=limits.max_files,
        max_fields=_MULTIPART_FIELDS,
        max_part_size=limits.max_bytes,
    )
    try:
        form: FormData = await parser.parse()
    except (MultiPartException, ValueError, KeyError) as error:
        raise Refused(400, f"The multipart body cannot be read: {_sentence(error)}") from None
    operations_text = form.get("operations")
    map_text = form.get("map")
    if not isinstance(operations_text, str) or not isinstance(map_text, str):
        raise Refused(400, "A multipart request needs the fields `operations` and `map`.")
    operations = decode_json(operations_text.encode(), limits.max_json_depth, "`operations`")
    files_map = decode_json(map_text.encode(), limits.max_json_depth, "`map`")
    if not isinstance(operations, dict):
        raise Refused(400, "`operations` must be a JSON object (one GraphQL request).")
    if not isinstance(files_map, dict) or not all(
        isinstance(paths, list) and all(isinstance(p, str) for p in paths)
        for paths in files_map.values()
    ):
        raise Refused(400, "`map` must be a JSON object of file names to lists of paths.")
    files = {name: part for name, part in form.multi_items() if isinstance(part, UploadFile)}
    missing = sorted(name for name in files_map if name not in files)
    if missing:
        raise Refused(400, f"The file part `{missing[0]}` named in `map` is missing.")
    try:
        replaced: dict[str, Any] = replace_placeholders_with_files(operations, files_map, files)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        raise Refused(400, "A path in `map` names no variable of `operations`.") from None
    return replaced


def _sentence(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text if text.endswith(".") else text + "."
