"""Persisted documents: Automatic Persisted Queries (Apollo's sha256 protocol) and trusted
documents (a manifest of allowed operations, in the format Apollo's or The Guild's tooling
emits), with a mode that refuses every other document.

A request names a stored document by `extensions.persistedQuery.sha256Hash` (Apollo) or
`documentId` (The Guild); the text is then looked up here before strawberry parses anything."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strawberry.http import GraphQLRequestData

from gateway.domain import ErrorCode
from gateway.shared import SharedState

APQ_TTL_S = 24 * 3600.0
MAX_DOCUMENT_BYTES = 256 * 1024


class ManifestError(ValueError):
    """The trusted-documents file cannot be used; the message says why."""


class DocumentRefused(Exception):
    """A request naming a document the gateway does not have (or may not run)."""

    def __init__(self, status: int, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _bare(document_id: str) -> str:
    """`sha256:<hex>` and `<hex>` name the same document."""
    return document_id.removeprefix("sha256:").strip()


def load_manifest(path: str) -> dict[str, str]:
    """Document id → text, from Apollo's `persisted-query-manifest.json`
    (`{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}]}`) or The
    Guild's `persisted-documents.json` (`{"<id>": "<text>"}`)."""
    try:
        raw: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ManifestError(f"cannot read {path}: {error.strerror}.") from None
    except ValueError:
        raise ManifestError(f"{path} is not JSON.") from None
    documents: dict[str, str] = {}
    if isinstance(raw, dict) and raw.get("format") == "apollo-persisted-query-manifest":
        for index, operation in enumerate(raw.get("operations") or []):
            if not (
                isinstance(operation, dict)
                and isinstance(operation.get("id"), str)
                and isinstance(operation.get("body"), str)
            ):
                raise ManifestError(f"{path}: operation {index} needs a string id and body.")
            documents[_bare(operation["id"])] = operation["body"]
    elif isinstance(raw, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        documents = {_bare(k): v for k, v in raw.items()}
    else:
        raise ManifestError(
            f"{path} is neither an Apollo persisted-query manifest nor a map of document ids "
            "to documents."
        )
    if not documents:
        raise ManifestError(f"{path} holds no document.")
    return documents


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

    async def resolve(self, request: GraphQLRequestData) -> None:
        """Fills in the text of a request that names a document, registers an APQ
        document, and refuses what the mode does not allow."""
        extensions = request.extensions or {}
        persisted = extensions.get("persistedQuery")
        apq_hash = None
        if isinstance(persisted, dict) and isinstance(persisted.get("sha256Hash"), str):
            if persisted.get("version") != 1:
                raise DocumentRefused(
                    400, ErrorCode.BAD_REQUEST, "Only persisted query version 1 is supported."
                )
            apq_hash = persisted["sha256Hash"].lower()
        document_id = extensions.get("documentId")
        named = _bare(document_id) if isinstance(document_id, str) else apq_hash

        if request.query is None:
            if named is None:
                return  # no document at all: strawberry says so
            request.query = await self._lookup(named)
            return
        if apq_hash is not None and sha256(request.query) != apq_hash:
            raise DocumentRefused(
                400, ErrorCode.BAD_REQUEST, "The persisted query's sha256Hash does not match it."
            )
        if self.only_trusted:
            if sha256(request.query) not in self._trusted_hashes:
                raise DocumentRefused(
                    400,
                    ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
                    "Only the trusted documents may run here; send one by its id.",
                )
            return
        text = request.query.encode("utf-8")
        if apq_hash is not None and self.automatic and len(text) <= MAX_DOCUMENT_BYTES:
            await self.state.set(f"apq:{apq_hash}", text, APQ_TTL_S)

    async def _lookup(self, named: str) -> str:
        text = self.trusted.get(named)
        if text is not None:
            return text
        if self.automatic and not self.only_trusted:
            stored = await self.state.get(f"apq:{named}")
            if stored is not None:
                return stored.decode("utf-8")
        # Apollo's link sends the text again on exactly this message and code.
        raise DocumentRefused(200, ErrorCode.PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound")
