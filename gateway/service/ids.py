"""The opaque tokens the API hands out: global ids (Relay's base64 `Type:nodeId`, the node id
carrying the provider) and connection cursors. Only this module reads or writes their insides.

Every token is bound to the tenant it was issued to: outside the `default` tenant, ids and
cursors carry a tag derived from the tenant's name. A token of another tenant reads as one
that names nothing, so a caller learns nothing of other tenants' seals, and since each tenant
reaches its vendors with its own credentials, no token can reach another tenant's data."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from gateway.domain import (
    DEFAULT_TENANT,
    Authorization,
    BadInput,
    ProviderName,
    SealFilter,
    SealKey,
)

K = TypeVar("K")

SEAL_TYPE = "Seal"
AUTHORIZATION_TYPE = "Authorization"
TAG = "~"


def tenant_tag(tenant: str) -> str:
    """The mark a tenant's tokens carry; none for the default tenant (one organisation)."""
    if tenant == DEFAULT_TENANT:
        return ""
    return hashlib.blake2s(tenant.encode(), digest_size=5, person=b"sealgw").hexdigest()


def bind(tenant: str, node_id: str) -> str:
    tag = tenant_tag(tenant)
    return f"{node_id}{TAG}{tag}" if tag else node_id


def unbind(tenant: str, node_id: str) -> tuple[str, bool]:
    """The node id without its tenant mark, and whether the mark is this tenant's."""
    bare, sep, tag = node_id.rpartition(TAG)
    if not sep:
        return node_id, tenant_tag(tenant) == ""
    return bare, tag == tenant_tag(tenant) != ""


def _encode(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _decode(token: str) -> str:
    """The text inside a token; ValueError when it is not one of ours."""
    try:
        return base64.b64decode(token.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError) as error:
        raise ValueError(str(error)) from None


def global_id(type_name: str, node_id: str) -> str:
    return _encode(f"{type_name}:{node_id}")


def parse_global_id(value: str, field: str = "id") -> tuple[str, str]:
    """The type name and node id inside a global id; a clear error when it is not one."""
    try:
        type_name, sep, node_id = _decode(value).partition(":")
    except ValueError:
        type_name, sep, node_id = "", "", ""
    if not sep or not type_name or not node_id:
        raise BadInput(f"{value!r} is not an id this API issued.", field)
    return type_name, node_id


@dataclass(frozen=True, slots=True)
class IssuedKey(Generic[K]):
    """What an id names, and whether it was issued to the asking tenant."""

    key: K
    ours: bool


def seal_key(value: str, tenant: str, field: str = "id") -> IssuedKey[SealKey]:
    type_name, node_id = parse_global_id(value, field)
    if type_name != SEAL_TYPE:
        raise BadInput(f"{value!r} is not a seal id.", field)
    bare, ours = unbind(tenant, node_id)
    try:
        return IssuedKey(SealKey.from_node_id(bare), ours)
    except BadInput as error:
        raise BadInput(error.message, field) from None


def authorization_key(node_id: str, tenant: str) -> IssuedKey[tuple[ProviderName, str, str]]:
    bare, ours = unbind(tenant, node_id)
    return IssuedKey(Authorization.parse_node_id(bare), ours)


# --- cursors --------------------------------------------------------------------------------

SEAL_CURSOR = "seals"
DONE = "-"
NOT_A_CURSOR = "`after` is not a cursor of this connection."


# The conditions the tag was first made of: always written. A condition added later is written
# only when set, so that the cursors clients hold stay valid across an upgrade that adds one.
TAGGED_FROM_THE_START = ("name_contains", "biz_type", "status", "is_default")


def _filter_tag(seal_filter: SealFilter, providers: tuple[ProviderName, ...]) -> str:
    """Ties a cursor to the query it was made under: a cursor means nothing under another."""
    conditions = ", ".join(
        f"{field.name}={getattr(seal_filter, field.name)!r}"
        for field in dataclasses.fields(seal_filter)
        if field.name in TAGGED_FROM_THE_START or getattr(seal_filter, field.name) != field.default
    )
    text = f"({type(seal_filter).__qualname__}({conditions}), {providers!r})"
    return hashlib.blake2s(text.encode(), digest_size=4).hexdigest()


@dataclass(frozen=True, slots=True)
class SealCursors:
    """The cursors of one walk over the providers' seals: what they share (the filter's tag,
    a hash) worked out once, each cursor only when asked for (most queries of a page ask for
    none but the last)."""

    tag: str
    providers: tuple[ProviderName, ...]
    tenant: str

    @classmethod
    def of(
        cls, seal_filter: SealFilter, providers: tuple[ProviderName, ...], tenant: str
    ) -> SealCursors:
        return cls(_filter_tag(seal_filter, providers), providers, tenant)

    def cursor(self, offsets: tuple[int | None, ...]) -> str:
        """The cursor at `offsets`, one per provider in the walk's order."""
        parts = ",".join(
            f"{p.value}={DONE if o is None else o}"
            for p, o in zip(self.providers, offsets, strict=True)
        )
        return _encode(bind(self.tenant, f"{SEAL_CURSOR}:{self.tag}:{parts}"))


@dataclass(frozen=True, slots=True)
class SealPosition:
    """Where a walk over several providers' seals stands: for each provider, the offset of its
    next seal, or None once all of its seals were served. A provider that failed keeps its
    offset, so the next page starts there again: no seal is skipped for good."""

    offsets: Mapping[ProviderName, int | None]

    @classmethod
    def start(cls, providers: tuple[ProviderName, ...]) -> SealPosition:
        return cls(dict.fromkeys(providers, 0))

    def cursor(
        self, seal_filter: SealFilter, providers: tuple[ProviderName, ...], tenant: str
    ) -> str:
        cursors = SealCursors.of(seal_filter, providers, tenant)
        return cursors.cursor(tuple(self.offsets[p] for p in providers))

    @classmethod
    def parse(
        cls, cursor: str, seal_filter: SealFilter, providers: tuple[ProviderName, ...], tenant: str
    ) -> SealPosition:
        try:
            text, ours = unbind(tenant, _decode(cursor))
            kind, tag, parts = text.split(":")
            pairs = [part.split("=") for part in parts.split(",")] if parts else []
            offsets = {
                ProviderName(name): None if value == DONE else int(value) for name, value in pairs
            }
        except ValueError:
            raise BadInput(NOT_A_CURSOR, "after") from None
        if (
            not ours
            or kind != SEAL_CURSOR
            or any(v is not None and v < 0 for v in offsets.values())
        ):
            raise BadInput(NOT_A_CURSOR, "after")
        if tag != _filter_tag(seal_filter, providers) or set(offsets) != set(providers):
            raise BadInput(
                "`after` was made under another filter; start again without it.", "after"
            )
        return cls(offsets)


def offset_cursor(kind: str, offset: int, tenant: str) -> str:
    return offset_token(kind, str(offset), tenant)


def parse_offset_cursor(kind: str, cursor: str | None, tenant: str) -> int:
    """The offset just past the cursor's item; 0 without a cursor."""
    if cursor is None:
        return 0
    position = parse_offset_token(kind, cursor, tenant)
    if not position.isdigit():
        raise BadInput(NOT_A_CURSOR, "after")
    return int(position) + 1


def seal_global_id(key: SealKey, tenant: str) -> str:
    """The global id of the seal `key` names, as issued to `tenant`."""
    return global_id(SEAL_TYPE, bind(tenant, key.node_id()))


def offset_token(kind: str, position: str, tenant: str) -> str:
    """A cursor naming a place in a list or a log (`kind` says which connection it belongs
    to); the position is text: an offset, or a log's own mark."""
    return _encode(bind(tenant, f"{kind}:{position}"))


def parse_offset_token(kind: str, cursor: str, tenant: str) -> str:
    """The position inside a cursor of `kind` issued to `tenant`; BadInput otherwise."""
    try:
        text, ours = unbind(tenant, _decode(cursor))
    except ValueError:
        raise BadInput(NOT_A_CURSOR, "after") from None
    found, _, position = text.partition(":")
    if not ours or found != kind or not position:
        raise BadInput(NOT_A_CURSOR, "after")
    return position
