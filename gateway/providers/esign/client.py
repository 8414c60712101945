"""HTTP calls to e签宝 open API v1 and v3, and the decoding of its answers and errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import httpx

from gateway.domain import DEFAULT_TENANT, MalformedAnswer, ProviderName, UpstreamError
from gateway.providers.esign.auth import SignatureAuth, token_auth
from gateway.providers.esign.wire import (
    AccessToken,
    Authorized,
    CreatedSeal,
    DeletedSeal,
    FileKey,
    FileUploaded,
    InternalAuthPage,
    ManageUrl,
    Reauthorized,
    SignUrl,
    V1SealPage,
    V3SealInfo,
    V3SealPage,
)
from gateway.providers.http import (
    NO_AUTH,
    HttpSettings,
    Token,
    TokenCache,
    VendorCodes,
    decode,
    make_client,
    transport_failure,
)
from gateway.providers.resilience import SharedUpstream, Upstream, endpoint_key
from gateway.providers.wire import read_as
from gateway.settings import DEFAULTS

PROVIDER = ProviderName.ESIGN
OCTET_STREAM = "application/octet-stream"
AuthMode = Literal["signature", "token"]

# Business codes (UPSTREAMS.md): `{"code": 0, "message": ..., "data": ...}`, 0 for success.
CODES = VendorCodes(
    success=frozenset({"0"}),
    message_key="message",
    not_found=frozenset({"31400100", "31400109"}),
    auth_failed=frozenset({"1499000"}),
    retryable=frozenset({"10000001"}),
)


def endpoint_name(method: str, path: str) -> str:
    """The endpoint without the ids in its path: a bounded name for metrics and traces."""
    path = re.sub(r"/organizations/[^/]+", "/organizations/{orgId}", path)
    path = re.sub(r"/seals/(?!org-)[^/]+/setDefault", "/seals/{sealId}/setDefault", path)
    return f"{method} {path}"


@dataclass(frozen=True, slots=True)
class EsignSettings:
    base_url: str
    app_id: str
    app_secret: str = field(repr=False)
    auth_mode: AuthMode = DEFAULTS.esign_auth_mode  # type: ignore[assignment]
    # Whether the v1 list's `offset` counts items from 0 or from 1 (unconfirmed by the vendor).
    offset_base: int = DEFAULTS.esign_offset_base
    # An e签宝 person account with seal-management rights in the organisation: the
    # `transactorPsnId` the management-page call needs. Without it, that call is not offered.
    transactor_psn_id: str | None = None
    # The app's calls per second: e签宝 allows 50 by default (UPSTREAMS.md).
    rate_per_second: int | None = DEFAULTS.esign_rate_limit
    http: HttpSettings = field(default_factory=HttpSettings)


class EsignClient:
    def __init__(
        self,
        settings: EsignSettings,
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
        token = read_as(PROVIDER, "the token", data, AccessToken)
        return Token(token.token, token.expiresIn / 1000)

    async def list_org_seals(self, org_id: str, offset: int, size: int) -> V1SealPage:
        """v1: one page of the organisation's seals and the total."""
        data = await self._call(
            "GET",
            f"/v1/organizations/{org_id}/seals",
            params={"offset": offset + self._settings.offset_base, "size": size},
        )
        return read_as(PROVIDER, "the v1 seal list", data, V1SealPage)

    async def org_seal_info(self, org_id: str, seal_id: str) -> V3SealInfo:
        """v3: one organisation seal's detail."""
        data = await self._call(
            "GET", "/v3/seals/org-seal-info", params={"orgId": org_id, "sealId": seal_id}
        )
        return read_as(PROVIDER, "the v3 seal detail", data, V3SealInfo)

    async def own_seal_list(
        self, org_id: str, page: int, size: int, *, revoked: bool = False
    ) -> V3SealPage:
        """v3: one page (at most 20) of the organisation's own seals, with business types;
        revoked seals too when `revoked` (the list's `revocationSeal`)."""
        params: dict[str, Any] = {"orgId": org_id, "pageNum": page, "pageSize": size}
        if revoked:
            params["revocationSeal"] = "true"
        data = await self._call("GET", "/v3/seals/org-own-seal-list", params=params)
        return read_as(PROVIDER, "the v3 seal list", data, V3SealPage)

    async def create_by_template(self, body: dict[str, object]) -> CreatedSeal:
        """v3: a template seal (the body `mapping.template_body` makes); answers its id."""
        data = await self._call("POST", "/v3/seals/org-seals/create-by-template", json=body)
        return read_as(PROVIDER, "the created seal", data or {}, CreatedSeal)

    async def delete_org_seal(self, org_id: str, seal_id: str) -> DeletedSeal:
        """v3: delete an organisation seal (not the default, not an image under review);
        answers whether it was deleted or revoked."""
        data = await self._call(
            "DELETE", "/v3/seals/org-seal", params={"orgId": org_id, "sealId": seal_id}
        )
        return read_as(PROVIDER, "the deleted seal", data or {}, DeletedSeal)

    async def enable_seal(self, org_id: str, seal_id: str) -> None:
        """v3: enable a disabled seal again."""
        body = {"orgId": org_id, "sealId": seal_id}
        await self._call("POST", "/v3/seals/org-seals/enable-seal", json=body)

    async def set_default(self, org_id: str, seal_id: str) -> None:
        """v1: make a seal the organisation's default."""
        await self._call("PUT", f"/v1/organizations/{org_id}/seals/{seal_id}/setDefault")

    async def manage_url(self, org_id: str, transactor_psn_id: str) -> str:
        """v3: a link to the organisation's seal management page (valid 30 minutes)."""
        body = {"orgId": org_id, "transactorPsnId": transactor_psn_id}
        data = await self._call("POST", "/v3/seals/org-seals-manage-url", json=body)
        return read_as(PROVIDER, "the management link", data, ManageUrl).orgSealManageUrl

    async def internal_auths(
        self, org_id: str, seal_id: str, page: int, size: int
    ) -> InternalAuthPage:
        """v3: one page (at most 20) of a seal's internal-member authorisations."""
        params = {"orgId": org_id, "sealId": seal_id, "pageNum": page, "pageSize": size}
        data = await self._call("GET", "/v3/seals/org-seals/internal-auth", params=params)
        return read_as(PROVIDER, "the authorisation list", data, InternalAuthPage)

    async def file_key(self, file_name: str, size: int, content_md5: str) -> FileKey:
        """v3: step one of an image upload: the image's fileKey and where to PUT it."""
        body = {
            "contentMd5": content_md5,
            "contentType": OCTET_STREAM,
            "fileName": file_name,
            "fileSize": size,
        }
        data = await self._call("POST", "/v3/files/file-key", json=body)
        return read_as(PROVIDER, "the upload address", data, FileKey)

    async def put_file(self, url: str, data: bytes, content_md5: str) -> None:
        """Step two: the bytes to the pre-signed `fileUploadUrl`, unsigned by the app (the URL
        carries its own signature) and with the Content-MD5 step one named. The address comes
        from the vendor's answer: only an https one (or one at the vendor's own address, as the
        sandbox's) is sent anything, so an answer off its contract cannot point the gateway's
        bytes at a host of its own choosing in the clear."""
        target = httpx.URL(url)
        own = self._http.base_url
        if not (target.scheme == "https" or (target.scheme, target.host) == (own.scheme, own.host)):
            raise MalformedAnswer(PROVIDER, "the upload address", "not an https address")

        async def send() -> Any:
            try:
                response = await self._http.request(
                    "PUT",
                    url,
                    content=data,
                    headers={"Content-MD5": content_md5, "Content-Type": OCTET_STREAM},
                    auth=NO_AUTH,
                )
            except httpx.HTTPError as exc:
                raise transport_failure(PROVIDER, exc, is_write=True) from None
            if response.status_code != 200:
                raise UpstreamError(
                    PROVIDER,
                    f"e签宝's file store refused the upload (HTTP {response.status_code}).",
                    vendor_code=f"HTTP_{response.status_code}",
                    write_may_have_happened=False,
                )
            try:
                body = response.json()
            except ValueError:
                raise MalformedAnswer(PROVIDER, "the upload", "not JSON") from None
            answer = read_as(PROVIDER, "the upload", body, FileUploaded)
            if answer.errCode != 0:
                raise UpstreamError(
                    PROVIDER,
                    f"e签宝's file store refused the upload: {answer.msg}",
                    vendor_code=f"UPLOAD_{answer.errCode}",
                    write_may_have_happened=False,
                )

        await self.upstream.call(send, is_write=True, endpoint="PUT fileUploadUrl", share_as=None)

    async def create_by_image(self, body: dict[str, object]) -> CreatedSeal:
        """v3: an image seal from an uploaded fileKey; it awaits review."""
        data = await self._call("POST", "/v3/seals/org-seals/create-by-image", json=body)
        return read_as(PROVIDER, "the created seal", data or {}, CreatedSeal)

    async def authorize(self, body: dict[str, object]) -> Authorized:
        """v3: authorise members (the body `mapping.authorization_body` makes); pending until
        the authorisation letter is signed."""
        data = await self._call("POST", "/v3/seals/org-seals/internal-auth", json=body)
        return read_as(PROVIDER, "the authorisation", data or {}, Authorized)

    async def sign_url(self, org_id: str, auth_biz_id: str) -> SignUrl:
        """v3: the signing link of an authorisation's letter."""
        params = {"orgId": org_id, "sealAuthBizId": auth_biz_id}
        data = await self._call("GET", "/v3/seals/org-seals/authorization-sign-url", params=params)
        return read_as(PROVIDER, "the letter's link", data or {}, SignUrl)

    async def reauthorize(self, body: dict[str, object]) -> Reauthorized:
        """v3: a new period for an authorisation: a new id and a new letter to sign."""
        data = await self._call("POST", "/v3/seals/org-seals/reauthorization", json=body)
        return read_as(PROVIDER, "the new authorisation", data, Reauthorized)

    async def delete_auths(self, org_id: str, auth_biz_ids: list[str]) -> None:
        """v3: revoke authorisations by their ids."""
        body = {"orgId": org_id, "deleteType": "sealAuthBizIds", "sealAuthBizIds": auth_biz_ids}
        await self._call("POST", "/v3/seals/org-seals/auth-delete", json=body)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        auth: httpx.Auth | None = None,
    ) -> Any:
        """The `data` of the answer; through the breaker, rate limit and retries (reads),
        shared with identical reads in flight. The token fetch runs inside another call's."""
        is_write = method != "GET"

        async def send() -> Any:
            try:
                response = await self._http.request(
                    method,
                    self._http.endpoint(path),
                    params=params,
                    json=json,
                    auth=auth or httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.HTTPError as exc:
                raise transport_failure(PROVIDER, exc, is_write=is_write) from None
            return decode(PROVIDER, response, CODES, is_write=is_write).get("data")

        if auth is NO_AUTH:
            return await send()
        share_as = None if is_write else (path, tuple(sorted((params or {}).items())))
        return await self.upstream.call(
            send, is_write=is_write, endpoint=endpoint_name(method, path), share_as=share_as
        )
