"""How the emulated e签宝 gateway checks a request signature, written from the vendor's rules
(UPSTREAMS.md) and sharing no code with the gateway's client: a canonicalisation mistake on
either side then fails the end-to-end tests instead of agreeing with itself.

The string to sign is five lines (method, Accept, Content-MD5, Content-Type, Date), each ended
by a newline even when empty, then the path and its query sorted by key; the signature is
Base64(HMAC-SHA256(app secret, that string))."""

from __future__ import annotations

import base64
import hashlib
import hmac

HEADER_APP_ID = "X-Tsign-Open-App-Id"
HEADER_AUTH_MODE = "X-Tsign-Open-Auth-Mode"
HEADER_TIMESTAMP = "X-Tsign-Open-Ca-Timestamp"
HEADER_SIGNATURE = "X-Tsign-Open-Ca-Signature"
HEADER_TOKEN = "X-Tsign-Open-Token"  # noqa: S105 (a header name)


class MalformedQuery(ValueError):
    """A query the vendor refuses to sign: a key given twice."""


def body_md5(body: bytes) -> str:
    """Base64 of the 16 raw bytes of MD5(body); the empty string for no body."""
    if len(body) == 0:
        return ""
    digest = hashlib.md5(body, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def _key_order(pair: tuple[str, str]) -> tuple[str, list[bool]]:
    key = pair[0]
    # Case-blind ASCII order; where two keys differ only by case, at the first letter that
    # differs the lower-case one comes first.
    return key.lower(), [letter.isupper() for letter in key]


def canonical_resource(path: str, query: str) -> str:
    """The path, then `?k=v&k=v` sorted by key with values exactly as sent; no `?` without
    parameters."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in filter(None, query.split("&")):
        key, _, _value = item.partition("=")
        if key in seen:
            raise MalformedQuery(key)
        seen.add(key)
        pairs.append((key, item))
    if not pairs:
        return path
    return f"{path}?{'&'.join(item for _key, item in sorted(pairs, key=_key_order))}"


def expected_signature(
    secret: str,
    *,
    method: str,
    accept: str,
    content_md5: str,
    content_type: str,
    date: str,
    resource: str,
) -> str:
    lines = [method.upper(), accept, content_md5, content_type, date]
    text = "".join(f"{line}\n" for line in lines) + resource
    mac = hmac.new(secret.encode(), text.encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def signature_matches(secret: str, claimed: str, **parts: str) -> bool:
    return hmac.compare_digest(expected_signature(secret, **parts), claimed)
