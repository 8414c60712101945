"""The two ways e签宝 accepts a request: a request signature, or an OAuth2 access token."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator

import httpx

from gateway.providers.esign import signing
from gateway.providers.http import TokenAuth, TokenCache

APP_ID = "X-Tsign-Open-App-Id"
AUTH_MODE = "X-Tsign-Open-Auth-Mode"
TIMESTAMP = "X-Tsign-Open-Ca-Timestamp"
SIGNATURE = "X-Tsign-Open-Ca-Signature"
TOKEN = "X-Tsign-Open-Token"  # noqa: S105 (a header name)


def relative_path(raw_path: bytes, base_path: str) -> str:
    """The path as the vendor sees it: without the base URL's own path (a proxy prefix)."""
    path = raw_path.decode("ascii").split("?", 1)[0]
    prefix = base_path.rstrip("/")
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    return path


class SignatureAuth(httpx.Auth):
    """Signs every request with HMAC-SHA256 over method, headers, body MD5 and sorted query."""

    requires_request_body = True

    def __init__(
        self,
        app_id: str,
        secret: str,
        *,
        base_path: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._app_id = app_id
        self._secret = secret
        self._base_path = base_path
        self._clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        body = request.content
        md5 = signing.content_md5(body)
        path_query = signing.path_and_query(
            relative_path(request.url.raw_path, self._base_path), request.url.query.decode("ascii")
        )
        message = signing.string_to_sign(request.method, path_query, md5=md5)
        request.headers.update(
            {
                APP_ID: self._app_id,
                AUTH_MODE: "Signature",
                TIMESTAMP: str(int(self._clock() * 1000)),
                "Accept": signing.ACCEPT,
                "Content-Type": signing.CONTENT_TYPE,
                "Content-MD5": md5,
                SIGNATURE: signing.signature(self._secret, message),
            }
        )
        yield request


def is_token_rejected(response: httpx.Response) -> bool:
    """e签宝's gateway answers 401 with a TOKEN message for a missing, wrong or expired token."""
    if response.status_code != 401:
        return False
    try:
        message = str(response.json().get("message", ""))
    except ValueError:
        return False
    return "TOKEN" in message.upper()


def token_auth(app_id: str, cache: TokenCache) -> TokenAuth:
    def apply(request: httpx.Request, token: str) -> None:
        request.headers[APP_ID] = app_id
        request.headers[TOKEN] = token
        request.headers["Content-Type"] = signing.CONTENT_TYPE
        request.headers.pop(AUTH_MODE, None)

    return TokenAuth(cache, apply, is_token_rejected)
