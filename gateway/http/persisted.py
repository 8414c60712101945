"""Persisted documents: Automatic Persisted Queries (Apollo's sha256 protocol) and trusted
documents (a manifest of allowed operations, read by gateway/config.py), with a mode that
refuses every other document.

A request names a stored document by `extensions.persistedQuery.sha256Hash` (Apollo) or
`documentId` (The Guild); the text is then looked up here before strawberry parses anything."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from gateway.config import bare_document_id
from gateway.domain import ErrorCode
from gateway.http.request import GraphQLParams, Refused
from gateway.shared import SharedState

APQ_TTL_S = 24 * 3600.0
MAX_DOCUMENT_BYTES = 256 * 1024


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class PersistedDocuments:
    """`trusted`: the manifest's documents by id; `only_trusted`: refuse anything else;
    `automatic`: remember documents clients register (APQ), in the shared state."""

    state: SharedState
    trusted: dict[str, str] = field(default_factory=dict)
    only_trusted: bool = False
    automatic: bool = True

    def __post_init__(self) -> None:
        self._trusted_hashes = {sha256(text) for text in self.trusted.values()}

    async def query_of(self, params: GraphQLParams) -> str:
        """The text to run: the request's own, or that of the document it names. Registers an
        APQ document, and refuses what the mode does not allow."""
        extensions = params.extensions or {}
        persisted = extensions.get("persistedQuery")
        apq_hash = None
        if isinstance(persisted, dict) and isinstance(persisted.get("sha256Hash"), str):
            if persisted.get("version") != 1:
                raise Refused(400, "Only persisted query version 1 is supported.")
            apq_hash = persisted["sha256Hash"].lower()
        document_id = params.document_id or extensions.get("documentId")
        named = bare_document_id(document_id) if isinstance(document_id, str) else apq_hash

        if params.query is None:
            if named is None:
                raise Refused(400, "No GraphQL query found in the request.")
            return await self._lookup(named)
        query = params.query
        if apq_hash is not None and sha256(query) != apq_hash:
            raise Refused(400, "The persisted query's sha256Hash does not match it.")
        if self.only_trusted:
            if sha256(query) not in self._trusted_hashes:
                raise Refused(
                    400,
                    "Only the trusted documents may run here; send one by its id.",
                    ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
                )
            return query
        if apq_hash is not None and self.automatic:
            text = query.encode("utf-8")
            if len(text) <= MAX_DOCUMENT_BYTES:
                await self.state.set(f"apq:{apq_hash}", text, APQ_TTL_S)
        return query

    async def _lookup(self, named: str) -> str:
        text = self.trusted.get(named)
        if text is not None:
            return text
        if self.automatic and not self.only_trusted:
            stored = await self.state.get(f"apq:{named}")
            if stored is not None:
                return stored.decode("utf-8")
        # Apollo's link sends the text again on exactly this message and code.
        raise Refused(200, "PersistedQueryNotFound", ErrorCode.PERSISTED_QUERY_NOT_FOUND)
