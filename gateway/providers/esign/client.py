"""HTTP calls to e签宝 open API v1 and v3, and the decoding of its answers and errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from gateway.domain import ErrorCode, ProviderName, UpstreamError
from gateway.providers.esign.auth import SignatureAuth, token_auth
from gateway.providers.http import (
    NO_AUTH,
    HttpSettings,
    Token,
    TokenCache,
    epoch_ms_to_s,
    http_status_failure,
    make_client,
    transport_failure,
)

PROVIDER = ProviderName.ESIGN
AuthMode = Literal["signature", "token"]

# Business codes (UPSTREAMS.md): which gateway error each becomes.
NOT_FOUND_CODES = {31400100, 31400109}
FORBIDDEN_CODES = {1499000}
RETRYABLE_CODES = {10000001}


@dataclass(frozen=True, slots=True)
class EsignSettings:
    base_url: str
    app_id: str
    app_secret: str
    auth_mode: AuthMode = "signature"
    # Whether the v1 list's `offset` counts items from 0 or from 1 (unconfirmed by the vendor).
    offset_base: int = 1
    http: HttpSettings = field(default_factory=HttpSettings)


class EsignClient:
    def __init__(self, settings: EsignSettings) -> None:
        self._settings = settings
        self._http = make_client(settings.base_url, settings.http)
        self.tokens = TokenCache(self._fetch_token)
        if settings.auth_mode == "signature":
            self._http.auth = SignatureAuth(
                settings.app_id, settings.app_secret, base_path=self._http.base_url.path
            )
        else:
            self._http.auth = token_auth(settings.app_id, self.tokens)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _fetch_token(self) -> Token:
        data = await self._call(
            "GET",
            "/v1/oauth2/access_token",
            params={
                "appId": self._settings.app_id,
                "secret": self._settings.app_secret,
                "grantType": "client_credentials",
            },
            auth=NO_AUTH,
        )
        try:
            return Token(str(data["token"]), epoch_ms_to_s(data["expiresIn"]))
        except (KeyError, TypeError, ValueError):
            raise UpstreamError(PROVIDER, "e签宝 returned an unreadable token.") from None

    async def list_org_seals(self, org_id: str, offset: int, size: int) -> tuple[int, list[Any]]:
        """v1: one page of the organisation's seals and the total."""
        data = await self._call(
            "GET",
            f"/v1/organizations/{org_id}/seals",
            params={"offset": offset + self._settings.offset_base, "size": size},
        )
        data = data or {}
        return int(data.get("total") or 0), list(data.get("seals") or [])

    async def org_seal_info(self, org_id: str, seal_id: str) -> dict[str, Any]:
        """v3: one organisation seal's detail."""
        data = await self._call(
            "GET", "/v3/seals/org-seal-info", params={"orgId": org_id, "sealId": seal_id}
        )
        if not isinstance(data, dict):
            raise UpstreamError(PROVIDER, "e签宝 returned no seal detail.")
        return data

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        auth: httpx.Auth | None = None,
    ) -> Any:
        is_write = method != "GET"
        try:
            response = await self._http.request(
                method,
                path,
                params=params,
                json=json,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            raise transport_failure(PROVIDER, exc, is_write=is_write) from None
        return decode(response, is_write=is_write)


def decode(response: httpx.Response, *, is_write: bool) -> Any:
    """The `data` of a successful answer, else the matching UpstreamError."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise http_status_failure(PROVIDER, response, is_write=is_write)
    if response.status_code in (401, 403):
        raise UpstreamError(
            PROVIDER,
            f"e签宝 refused the gateway's credentials: {body.get('message') or 'unauthorised'}",
            code=ErrorCode.UPSTREAM_AUTH_FAILED,
            vendor_code=str(body.get("code", response.status_code)),
        )
    if response.status_code >= 400:
        raise http_status_failure(PROVIDER, response, is_write=is_write)
    code = body.get("code")
    if code == 0 or code == "0":
        return body.get("data")
    try:
        number = int(str(code))
    except ValueError:
        number = -1
    message = str(body.get("message") or "e签宝 reported an error.")
    if number in NOT_FOUND_CODES:
        kind = ErrorCode.NOT_FOUND
    elif number in FORBIDDEN_CODES:
        kind = ErrorCode.UPSTREAM_AUTH_FAILED
    else:
        kind = ErrorCode.UPSTREAM_ERROR
    raise UpstreamError(
        PROVIDER,
        message,
        code=kind,
        vendor_code=str(code),
        retryable=number in RETRYABLE_CODES,
        write_may_have_happened=False if is_write else None,
    )
