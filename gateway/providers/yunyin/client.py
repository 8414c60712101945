"""HTTP calls to 云银签 and the decoding of its answers: every call is a POST with a JSON body and
the headers appId, accessToken, userId (the operator) and source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from gateway.domain import ErrorCode, ProviderName, UpstreamError
from gateway.providers.http import (
    NO_AUTH,
    HttpSettings,
    Token,
    TokenAuth,
    TokenCache,
    epoch_ms_to_s,
    http_status_failure,
    make_client,
    transport_failure,
)

PROVIDER = ProviderName.YUNYIN
# The seal endpoints answer "200", the token endpoint "0".
SUCCESS_CODES = {"200", "0"}
# Codes meaning the access token is missing, wrong or expired (the vendor's table is unconfirmed).
TOKEN_REJECTED_CODES = {
    "TOKEN_INVALID",
    "TOKEN_EXPIRED",
    "INVALID_TOKEN",
    "ACCESS_TOKEN_INVALID",
    "401",
}
NOT_FOUND_CODES = {"SEAL_NOT_FOUND"}
FORBIDDEN_CODES = {"PERMISSION_DENIED", "APP_AUTH_FAILED"}
RETRYABLE_CODES = {"QUERY_ERROR"}


@dataclass(frozen=True, slots=True)
class YunyinSettings:
    base_url: str
    app_id: str
    app_secret: str
    source: str = "API"
    http: HttpSettings = field(default_factory=HttpSettings)


def _is_token_rejected(response: httpx.Response) -> bool:
    if response.status_code == 401:
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and str(body.get("code")) in TOKEN_REJECTED_CODES


class YunyinClient:
    def __init__(self, settings: YunyinSettings) -> None:
        self._settings = settings
        self._http = make_client(settings.base_url, settings.http)
        self.tokens = TokenCache(self._fetch_token)

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
        data = body.get("data") or {}
        try:
            return Token(str(data["accessToken"]), epoch_ms_to_s(data["expiresIn"]))
        except (KeyError, TypeError, ValueError):
            raise UpstreamError(PROVIDER, "云银签 returned an unreadable token.") from None

    async def call(
        self,
        path: str,
        operator: str,
        body: dict[str, Any] | None = None,
        *,
        is_write: bool = False,
    ) -> dict[str, Any]:
        """The whole decoded answer (list endpoints put page fields beside `data`)."""
        return await self._send(
            path, json=body or {}, headers=self._headers(operator), is_write=is_write
        )

    async def upload(
        self, path: str, operator: str, file: tuple[str, bytes, str], params: dict[str, str]
    ) -> dict[str, Any]:
        return await self._send(
            path,
            files={"file": file},
            params=params,
            headers=self._headers(operator),
            is_write=True,
        )

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
        try:
            response = await self._http.post(path, auth=auth or httpx.USE_CLIENT_DEFAULT, **kwargs)
        except httpx.HTTPError as exc:
            raise transport_failure(PROVIDER, exc, is_write=is_write) from None
        return decode(response, is_write=is_write)


def decode(response: httpx.Response, *, is_write: bool) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 500 or not isinstance(body, dict):
        raise http_status_failure(PROVIDER, response, is_write=is_write)
    code = str(body.get("code"))
    if code in SUCCESS_CODES and response.status_code < 400:
        return body
    message = str(body.get("msg") or "云银签 reported an error.")
    if code in NOT_FOUND_CODES:
        kind = ErrorCode.NOT_FOUND
    elif (
        code in FORBIDDEN_CODES
        or code in TOKEN_REJECTED_CODES
        or response.status_code in (401, 403)
    ):
        kind = ErrorCode.UPSTREAM_AUTH_FAILED
    else:
        kind = ErrorCode.UPSTREAM_ERROR
    raise UpstreamError(
        PROVIDER,
        message,
        code=kind,
        vendor_code=code,
        retryable=code in RETRYABLE_CODES,
        # the vendor answered with a refusal: a write did not happen
        write_may_have_happened=False if is_write else None,
    )
