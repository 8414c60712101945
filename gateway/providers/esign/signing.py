"""The e签宝 request signature (`X-Tsign-Open-Auth-Mode: Signature`), as pure functions.

String to sign: METHOD, Accept, Content-MD5, Content-Type and Date, each followed by a newline
even when empty, then the path and its query with the parameters sorted by key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

ACCEPT = "*/*"
CONTENT_TYPE = "application/json; charset=UTF-8"


def content_md5(body: bytes) -> str:
    """Base64 of the raw MD5 digest of the body; empty for a request without a body."""
    if not body:
        return ""
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii")


def _query_sort_key(key: str) -> tuple[str, str]:
    # ASCII order ignoring case; of two keys differing only by case, the lower-case one first.
    return key.lower(), key.swapcase()


def path_and_query(path: str, raw_query: str) -> str:
    """The path, then `?` and the query parameters sorted by key, values exactly as sent."""
    if not raw_query:
        return path
    params: dict[str, str] = {}
    for part in raw_query.split("&"):
        if not part:
            continue
        key = part.split("=", 1)[0]
        if key in params:
            raise ValueError(f"query parameter {key!r} appears twice")
        params[key] = part
    if not params:
        return path
    return path + "?" + "&".join(params[key] for key in sorted(params, key=_query_sort_key))


def string_to_sign(
    method: str,
    path_query: str,
    *,
    accept: str = ACCEPT,
    md5: str = "",
    content_type: str = CONTENT_TYPE,
    date: str = "",
    headers: str = "",
) -> str:
    parts = [method.upper(), accept, md5, content_type, date]
    if headers:
        parts.append(headers)
    return "\n".join(parts) + "\n" + path_query


def signature(secret: str, message: str) -> str:
    """Base64 of HMAC-SHA256 of the string to sign, keyed with the app secret."""
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(secret: str, message: str, claimed: str) -> bool:
    return hmac.compare_digest(signature(secret, message), claimed)
