"""HTTP calls to 云银签 and the decoding of its answers: every call is a POST with a JSON body and
the headers appId, accessToken, userId (the operator) and source."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import httpx
import msgspec

from gateway.domain import DEFAULT_TENANT, ProviderName
from gateway.providers.http import (
    NO_AUTH,
    HttpSettings,
    Token,
    TokenAuth,
    TokenCache,
    VendorCodes,
    decode,
    make_client,
    transport_failure,
)
from gateway.providers.resilience import SharedUpstream, Upstream, endpoint_key
from gateway.providers.wire import read_as
from gateway.providers.yunyin.wire import AccessToken, Single
from gateway.settings import DEFAULTS

PROVIDER = ProviderName.YUNYIN
T = TypeVar("T")

# Codes meaning the access token is missing, wrong or expired (the vendor's table is unconfirmed).
TOKEN_REJECTED_CODES = frozenset(
    {"TOKEN_INVALID", "TOKEN_EXPIRED", "INVALID_TOKEN", "ACCESS_TOKEN_INVALID", "401"}
)
_TOKEN_REJECTED_BYTES = tuple(code.encode() for code in TOKEN_REJECTED_CODES)
# `{"code": "200", "msg": ..., "data": ...}`; the token endpoint answers "0".
CODES = VendorCodes(
    success=frozenset({"200", "0"}),
    message_key="msg",
    not_found=frozenset({"SEAL_NOT_FOUND"}),
    auth_failed=frozenset({"PERMISSION_DENIED", "APP_AUTH_FAILED"}) | TOKEN_REJECTED_CODES,
    retryable=frozenset({"QUERY_ERROR"}),
)


@dataclass(frozen=True, slots=True)
class YunyinSettings:
    base_url: str
    app_id: str
    app_secret: str = field(repr=False)
    source: str = DEFAULTS.yunyin_source
    # The app's calls per second, where the vendor's contract sets one (it publishes none).
    rate_per_second: int | None = None
    http: HttpSettings = field(default_factory=HttpSettings)


class _Code(msgspec.Struct):
    code: str | int | None = None


def _is_token_rejected(response: httpx.Response) -> bool:
    if response.status_code == 401:
        return True
    content = response.content
    # Every answer passes here: one that names no rejection code is not read as JSON at all.
    if not any(code in content for code in _TOKEN_REJECTED_BYTES):
        return False
    try:
        code = msgspec.json.decode(content, type=_Code).code
    except msgspec.DecodeError:  # not JSON, or not an object (ValidationError is one)
        return False
    return str(code) in TOKEN_REJECTED_CODES


class YunyinClient:
    def __init__(
        self,
        settings: YunyinSettings,
        tenant: str = DEFAULT_TENANT,
        shared: SharedUpstream | None = None,
    ) -> None:
        shared = shared or SharedUpstream.local()
        self._settings = settings
        self._http = make_client(settings.base_url, settings.http, PROVIDER)
        resilience = replace(settings.http.resilience, rate_per_second=settings.rate_per_second)
        self.upstream = Upstream(
            PROVIDER, tenant, settings.app_id, resilience, shared, settings.base_url
        )
        self.tokens = TokenCache(
            self._fetch_token,
            state=shared.state,
            vendor=PROVIDER.value,
            key=endpoint_key(tenant, PROVIDER.value, settings.base_url, settings.app_id),
        )

        def apply(request: httpx.Request, token: str) -> None:
            request.headers["appId"] = settings.app_id
            request.headers["accessToken"] = token

        self._http.auth = TokenAuth(self.tokens, apply, _is_token_rejected)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _fetch_token(self) -> Token:
        body = await self._send(
            "/service/getAccessToken",
            json={"appId": self._settings.app_id, "appSecret": self._settings.app_secret},
            auth=NO_AUTH,
            is_write=False,
        )
        token = read_as(PROVIDER, "the token", body, Single[AccessToken]).data
        return Token(token.accessToken, token.expiresIn / 1000)

    async def call(
        self,
        path: str,
        operator: str,
        body: dict[str, Any],
        model: type[T],
        *,
        is_write: bool = False,
    ) -> T:
        """The whole answer (list endpoints put page fields beside `data`) as `model`."""
        answer = await self._send(
            path, json=body, headers=self._headers(operator), is_write=is_write
        )
        return read_as(PROVIDER, path.rsplit("/", 1)[-1], answer, model)

    async def upload(
        self,
        path: str,
        operator: str,
        file: tuple[str, bytes, str],
        params: dict[str, str],
        model: type[T],
    ) -> T:
        answer = await self._send(
            path,
            files={"file": file},
            params=params,
            headers=self._headers(operator),
            is_write=True,
        )
        return read_as(PROVIDER, path.rsplit("/", 1)[-1], answer, model)

    def _headers(self, operator: str) -> dict[str, str]:
        return {"userId": operator, "source": self._settings.source}

    async def _send(
        self,
        path: str,
        *,
        is_write: bool,
        auth: httpx.Auth | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The whole answer; through the breaker, rate limit and retries (reads), shared with
        identical reads in flight. The token fetch runs inside another call's."""

        async def send() -> dict[str, Any]:
            try:
                response = await self._http.post(
                    self._http.endpoint(path), auth=auth or httpx.USE_CLIENT_DEFAULT, **kwargs
                )
            except httpx.HTTPError as exc:
                raise transport_failure(PROVIDER, exc, is_write=is_write) from None
            return decode(PROVIDER, response, CODES, is_write=is_write)

        if auth is NO_AUTH:
            return await send()
        share_as = None
        if not is_write and "files" not in kwargs:
            operator = kwargs.get("headers", {}).get("userId")
            share_as = (path, operator, msgspec.json.encode(kwargs.get("json"), order="sorted"))
        return await self.upstream.call(
            send, is_write=is_write, endpoint=f"POST {path}", share_as=share_as
        )
