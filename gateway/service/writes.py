"""The writes of the API for one request, in plain Python: every mutation runs one path.

Rules that live here and nowhere else:
- the caller's role checked, target and capability checked, input checked, the target's
  tenant checked, vendor call, vendor refusal mapped to a user error, read-back, one audit
  event. A failed read-back never hides a write that happened;
- a write repeated after an unknown outcome (the same Idempotency-Key) first looks for what
  the earlier attempt made;
- a seal the tenant has no such id for gets one answer (UNKNOWN_SEAL), as on the reads.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from gateway.domain import (
    Authorization,
    AuthorizationSpec,
    AuthorizationStatusReason,
    BadInput,
    Capability,
    DeleteOutcome,
    ErrorCode,
    Forbidden,
    GatewayError,
    ImageSealSpec,
    MalformedAnswer,
    NotFound,
    ProviderName,
    Rejection,
    Role,
    Seal,
    SealColor,
    SealFilter,
    SealKey,
    TemplateSealSpec,
    UploadedImage,
    UpstreamError,
    WriteRejected,
)
from gateway.providers.base import SealProvider
from gateway.service import checks, ids
from gateway.service.checks import AuthorizationRequest
from gateway.service.events import SealEvents
from gateway.service.loaders import AuthorizationKey
from gateway.service.reads import UNHANDLED, UNKNOWN_AUTHORIZATION, UNKNOWN_SEAL, SealReads

log = logging.getLogger("gateway.service")
audit_log = logging.getLogger("gateway.audit")

T = TypeVar("T")


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DefaultChange:
    seal: Seal | None
    previous: Seal | None


@dataclass(frozen=True, slots=True)
class Deleted:
    seal_id: str
    # What the vendor did: deleted, or (a seal used before) revoked; None when it does not say.
    outcome: DeleteOutcome | None


@dataclass(frozen=True, slots=True)
class Authorized:
    seal: Seal | None
    # None when reading them back failed (the error beside says the write happened).
    authorizations: list[Authorization] | None
    # Where the authorisation letter is signed, where the vendor needs one (e签宝).
    sign_url: str | None = None


@dataclass(frozen=True, slots=True)
class Reauthorized:
    # The authorisation with its new period (e签宝 gives it a new id); None when reading it
    # back failed.
    authorization: Authorization | None
    sign_url: str | None


@dataclass(slots=True)
class WriteResult(Generic[T]):
    """A write's outcome: its value, or the user error it was refused with. `problems` are
    failures after the write succeeded (reading the result back): the write stands, and each
    problem says so (`write_succeeded`)."""

    value: T | None = None
    rejection: WriteRejected | None = None
    problems: list[GatewayError] = field(default_factory=list)


class ReadBackFailed(UpstreamError):
    """Reading a write's result back failed; the write itself happened."""

    def __init__(self, cause: GatewayError, provider: ProviderName) -> None:
        super().__init__(
            provider,
            f"The change was made, but reading it back failed: {cause.message}",
            code=cause.code,
            vendor_code=getattr(cause, "vendor_code", None),
            retryable=getattr(cause, "retryable", False),
        )
        self.write_succeeded = True


# --- the writes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """What a write is aimed at: its provider, the seal (for writes on one), and whether the
    seal's id was issued to the calling tenant."""

    adapter: SealProvider
    key: SealKey | None = None
    ours: bool = True


class SealWrites:
    """One request's writes to one tenant's seals, on the ground its reads stand on."""

    def __init__(
        self, reads: SealReads, *, reconcile: bool = False, events: SealEvents | None = None
    ) -> None:
        self._reads = reads
        self._events = events
        # The seal the write in progress is about, once known (mutations run one at a time),
        # for its event.
        self._subject: SealKey | None = None
        # This request repeats a write whose outcome was unknown (same Idempotency-Key): a
        # create first looks for the seal the earlier attempt may have made.
        self._reconcile = reconcile

    def _write_target(self, provider: ProviderName, capability: Capability) -> Target:
        """The provider a write goes to, checked to be configured and to support it."""
        try:
            adapter = self._reads.adapter(provider)
        except NotFound as error:
            raise WriteRejected(
                Rejection.NOT_SUPPORTED, error.message, field="provider", provider=provider
            ) from None
        if not adapter.supports(capability):
            what = capability.value.lower().replace("_", " ")
            why = adapter.unsupported_why.get(capability)
            raise WriteRejected(
                Rejection.NOT_SUPPORTED,
                f"Provider {provider.value} does not support this operation ({what})"
                + (f": {why}" if why else "."),
                provider=provider,
            )
        return Target(adapter)

    def _seal_target(self, seal_id: str, capability: Capability) -> Target:
        """The seal a write is about, and its provider, checked to support the write. Whether
        the id is this tenant's is checked at the first vendor call, after the input: a
        foreign id then fails exactly where an unknown one would."""
        try:
            issued = ids.seal_key(seal_id, self._reads.tenant, "sealId")
        except BadInput as error:
            raise checks.invalid("sealId", error.message) from None
        target = self._write_target(issued.key.provider, capability)
        if issued.ours:
            self._subject = issued.key
        return Target(target.adapter, issued.key, issued.ours)

    def _unknown_seal(self, target: Target) -> WriteRejected:
        return WriteRejected(
            Rejection.SEAL_NOT_FOUND, UNKNOWN_SEAL, field="sealId", provider=target.adapter.name
        )

    def _vendor_call(self, target: Target, call: Awaitable[T]) -> Awaitable[T]:
        if target.ours:
            return self._reads.shielded(target.adapter.name, call)
        getattr(call, "close", lambda: None)()  # never sent: another tenant's seal
        raise self._unknown_seal(target)

    async def _before(self, target: Target, read: Awaitable[T]) -> T:
        """A read a write needs before it is sent: its failure means nothing was written."""
        try:
            return await self._vendor_call(target, read)
        except UpstreamError as error:
            if error.code == ErrorCode.NOT_FOUND:
                raise self._unknown_seal(target) from None
            error.write_may_have_happened = False
            raise

    async def _send(self, target: Target, call: Awaitable[T]) -> T:
        """The vendor call of a write. A refusal the vendor's table knows becomes that user
        error, an unknown business code VENDOR_REJECTED; outages stay upstream errors saying
        whether the write may have happened. Never retried: it may have arrived."""
        try:
            result = await self._vendor_call(target, call)
        except BadInput as error:  # the provider found an id malformed: nothing was sent
            field = "sealId" if error.field in (None, "id") else error.field
            raise checks.invalid(field, error.message) from None
        except UpstreamError as error:
            if error.write_may_have_happened is not False:
                self._reads.loaders.forget()  # it may have: nothing read before stands
            refusal = _refusal(target.adapter, error)
            if isinstance(refusal, WriteRejected) and refusal.reason == Rejection.SEAL_NOT_FOUND:
                raise self._unknown_seal(target) from None
            raise refusal from None
        self._reads.loaders.forget()  # reads from now on must see the write's effect
        return result

    async def _read_back(
        self, provider: ProviderName, read: Awaitable[T], result: WriteResult[Any]
    ) -> T | None:
        """A read after a successful write: its failure is a problem beside the result."""
        try:
            return await self._reads.shielded(provider, read)
        except GatewayError as error:
            result.problems.append(ReadBackFailed(error, provider))
            return None

    async def _write(
        self,
        operation: str,
        steps: Callable[[WriteResult[T]], Awaitable[T | None]],
        *,
        seal_id: str | None = None,
        changes: bool = True,
    ) -> WriteResult[T]:
        """Runs a write's steps (each made of the helpers above); a refusal at any step is the
        result's user error. Only admins change anything (`changes`); previews, which change
        nothing, are open to viewers. Every attempt is one audit event."""
        result: WriteResult[T] = WriteResult()
        self._subject = None
        try:
            if changes and self._reads.caller.role != Role.ADMIN:
                raise Forbidden("Your role may not change seals; an admin may.")
            result.value = await steps(result)
        except WriteRejected as rejection:
            result.rejection = rejection
        except GatewayError as error:
            await self._settled()
            await self._audit(operation, seal_id, error)
            raise
        await self._settled()
        await self._audit(operation, seal_id, result.rejection)
        return result

    async def _settled(self) -> None:
        """What the read cache kept is stale once a write reached a vendor."""
        cache = self._reads.loaders.cache
        if cache is not None:
            await cache.settle()

    async def _audit(
        self, operation: str, seal_id: str | None, failure: GatewayError | None
    ) -> None:
        """One structured event per write attempt: who, for which tenant, what, the outcome,
        as a log line; and where the write concerned one of the tenant's seals, as an event
        in its log. Never a secret, a token or file content: only the fields below."""
        if isinstance(failure, Forbidden):
            outcome = "forbidden"
        elif isinstance(failure, WriteRejected):
            outcome = "refused"
        elif getattr(failure, "write_may_have_happened", False):
            outcome = "unknown"
        elif failure is not None:
            outcome = "failed"
        else:
            outcome = "ok"
        event = {
            "event": "write",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tenant": self._reads.caller.tenant,
            "subject": self._reads.caller.subject,
            "role": self._reads.caller.role.value,
            "operation": operation,
            "sealId": seal_id,
            "outcome": outcome,
            "code": getattr(failure, "reason", failure.code if failure else None),
            "vendorCode": getattr(failure, "vendor_code", None),
            "requestId": self._reads.caller.request_id,
        }
        code = event["code"]
        event["code"] = getattr(code, "value", code)
        audit_log.info(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
        if self._events is not None and self._subject is not None:
            await self._events.record_write(
                operation, self._subject, outcome, None if code is None else str(event["code"])
            )

    # --- the writes -------------------------------------------------------------------------

    async def _create(
        self,
        provider: ProviderName,
        capability: Capability,
        name: str,
        send: Callable[[SealProvider], Awaitable[str]],
        result: WriteResult[Seal],
    ) -> Seal | None:
        """Creates a seal named `name` through `send` (which answers its vendor id) and reads
        it back. Repeating a create whose outcome was unknown, the seal that attempt made,
        if any, is the answer (names are unique at both vendors)."""
        target = self._write_target(provider, capability)
        if self._reconcile:
            made = await self._before(target, self._seal_named(provider, name))
            if made is not None:
                log.info("a repeated create found the seal its first attempt made")
                self._subject = made.key
                return await self._read_back(provider, self._reads.seal(made.key), result)
        vendor_id = await self._send(target, send(target.adapter))
        self._subject = SealKey(provider, vendor_id)
        return await self._read_back(
            provider, self._reads.seal(SealKey(provider, vendor_id)), result
        )

    async def _seal_named(self, provider: ProviderName, name: str) -> Seal | None:
        found = await self._reads.loaders.seal_page(
            provider, SealFilter(name_contains=name), 0, self._reads.limits.max_page_size
        )
        return next((seal for seal in found.items if seal.name == name), None)

    async def upload_image(
        self, provider: ProviderName, file_name: str, data: bytes, color: SealColor | None
    ) -> WriteResult[UploadedImage]:
        async def steps(result: WriteResult[UploadedImage]) -> UploadedImage:
            target = self._write_target(provider, Capability.UPLOAD_IMAGE)
            checks.seal_image(data, self._reads.limits.max_upload_bytes)
            name = file_name.rsplit("/", 1)[-1] or "seal.png"
            return await self._send(
                target, target.adapter.upload_image(self._reads.scope, name, data, color)
            )

        return await self._write("uploadSealImage", steps)

    async def create_template_seal(
        self, provider: ProviderName, spec: TemplateSealSpec
    ) -> WriteResult[Seal]:
        async def steps(result: WriteResult[Seal]) -> Seal | None:
            checked = checks.template_spec(spec)
            return await self._create(
                provider,
                Capability.CREATE_FROM_TEMPLATE,
                checked.name,
                lambda adapter: adapter.create_template_seal(self._reads.scope, checked),
                result,
            )

        return await self._write("createTemplateSeal", steps)

    async def create_image_seal(
        self, provider: ProviderName, spec: ImageSealSpec
    ) -> WriteResult[Seal]:
        async def steps(result: WriteResult[Seal]) -> Seal | None:
            checked = checks.image_spec(spec)
            return await self._create(
                provider,
                Capability.CREATE_FROM_IMAGE,
                checked.name,
                lambda adapter: adapter.create_image_seal(self._reads.scope, checked),
                result,
            )

        return await self._write("createImageSeal", steps)

    async def preview_template_seal(
        self, provider: ProviderName, spec: TemplateSealSpec
    ) -> WriteResult[UploadedImage]:
        async def steps(result: WriteResult[UploadedImage]) -> UploadedImage:
            target = self._write_target(provider, Capability.PREVIEW)
            checked = checks.template_spec(spec)
            return await self._send(
                target, target.adapter.preview_template_seal(self._reads.scope, checked)
            )

        return await self._write("previewTemplateSeal", steps, changes=False)

    async def preview_image_seal(
        self,
        provider: ProviderName,
        file_name: str,
        url: str,
        color: SealColor | None,
        opacity: float | None,
    ) -> WriteResult[UploadedImage]:
        async def steps(result: WriteResult[UploadedImage]) -> UploadedImage:
            target = self._write_target(provider, Capability.PREVIEW)
            name, link = checks.upload_ref(file_name, url)
            upload = UploadedImage(name, "", link, None, None, None)
            alpha = checks.opacity(opacity)
            return await self._send(
                target, target.adapter.preview_image_seal(self._reads.scope, upload, color, alpha)
            )

        return await self._write("previewImageSeal", steps, changes=False)

    async def rename_seal(self, seal_id: str, name: str) -> WriteResult[Seal]:
        async def steps(result: WriteResult[Seal]) -> Seal | None:
            target = self._seal_target(seal_id, Capability.RENAME)
            key = _key(target)
            new_name = checks.name(name)
            await self._send(
                target, target.adapter.rename_seal(self._reads.scope, key.vendor_id, new_name)
            )
            return await self._read_back(key.provider, self._reads.seal(key), result)

        return await self._write("renameSeal", steps, seal_id=seal_id)

    async def set_default_seal(self, seal_id: str) -> WriteResult[DefaultChange]:
        async def steps(result: WriteResult[DefaultChange]) -> DefaultChange:
            target = self._seal_target(seal_id, Capability.SET_DEFAULT)
            key = _key(target)
            defaults = await self._before(
                target,
                self._reads.loaders.seal_page(key.provider, SealFilter(is_default=True), 0, 1),
            )
            previous = next((s.key for s in defaults.items if s.key != key), None)
            await self._send(
                target, target.adapter.set_default_seal(self._reads.scope, key.vendor_id)
            )
            seal = await self._read_back(key.provider, self._reads.seal(key), result)
            if previous is None:
                return DefaultChange(seal, None)
            return DefaultChange(
                seal, await self._read_back(key.provider, self._reads.seal(previous), result)
            )

        return await self._write("setDefaultSeal", steps, seal_id=seal_id)

    async def enable_seal(self, seal_id: str) -> WriteResult[Seal]:
        return await self._set_state(seal_id, Capability.ENABLE, "enableSeal")

    async def disable_seal(self, seal_id: str) -> WriteResult[Seal]:
        return await self._set_state(seal_id, Capability.DISABLE, "disableSeal")

    async def _set_state(
        self, seal_id: str, capability: Capability, operation: str
    ) -> WriteResult[Seal]:
        """Enables or disables a seal, and reads it back."""

        async def steps(result: WriteResult[Seal]) -> Seal | None:
            target = self._seal_target(seal_id, capability)
            key = _key(target)
            adapter, scope = target.adapter, self._reads.scope
            change = (
                adapter.enable_seal(scope, key.vendor_id)
                if capability == Capability.ENABLE
                else adapter.disable_seal(scope, key.vendor_id)
            )
            await self._send(target, change)
            return await self._read_back(key.provider, self._reads.seal(key), result)

        return await self._write(operation, steps, seal_id=seal_id)

    async def delete_seal(self, seal_id: str) -> WriteResult[Deleted]:
        """Answers the deleted seal's id, and whether it was deleted or revoked."""

        async def steps(result: WriteResult[Deleted]) -> Deleted:
            target = self._seal_target(seal_id, Capability.DELETE)
            key = _key(target)
            outcome = await self._send(
                target, target.adapter.delete_seal(self._reads.scope, key.vendor_id)
            )
            return Deleted(seal_id, outcome)

        return await self._write("deleteSeal", steps, seal_id=seal_id)

    async def authorize_seal(self, request: AuthorizationRequest) -> WriteResult[Authorized]:
        async def steps(result: WriteResult[Authorized]) -> Authorized:
            target = self._seal_target(request.seal_id, Capability.AUTHORIZE)
            key = _key(target)
            spec = checks.authorization_spec(request, key.vendor_id)
            target.adapter.check_authorization(spec)

            def listing() -> Awaitable[list[Authorization]]:
                return self._reads.loaders.all_authorizations(key.provider, key.vendor_id)

            existing = await self._before(target, listing())
            _no_letter_waiting(existing, spec)
            # Where the vendor answers no ids, the new rules are those absent before the call.
            before = {a.vendor_id for a in existing}
            grant = await self._send(target, target.adapter.authorize(self._reads.scope, spec))
            after = await self._read_back(key.provider, listing(), result)
            created = None
            if after is not None and grant.vendor_ids is not None:
                created = [a for a in after if a.vendor_id in grant.vendor_ids]
            elif after is not None:
                created = [
                    a
                    for a in after
                    if a.vendor_id not in before
                    and a.user_id in spec.user_ids
                    and a.role == spec.role
                ]
            return Authorized(
                await self._read_back(key.provider, self._reads.seal(key), result),
                created,
                grant.sign_url,
            )

        return await self._write("authorizeSeal", steps, seal_id=request.seal_id)

    def _authorization_ref(
        self, authorization_id: str, capability: Capability
    ) -> tuple[Target, AuthorizationKey | None]:
        """The authorisation a write is about and its provider, checked to support the write;
        no key when the id was not issued to this tenant. Nothing is called."""
        try:
            type_name, node_id = ids.parse_global_id(authorization_id, "authorizationId")
            if type_name != ids.AUTHORIZATION_TYPE:
                raise BadInput(f"{authorization_id!r} is not an authorisation id.")
            issued = ids.authorization_key(node_id, self._reads.tenant)
        except BadInput as error:
            raise checks.invalid("authorizationId", error.message) from None
        provider, seal_id, vendor_id = issued.key
        target = self._write_target(provider, capability)
        key = AuthorizationKey(provider, seal_id, vendor_id) if issued.ours else None
        if issued.ours:
            self._subject = SealKey(provider, seal_id)
        return Target(target.adapter, SealKey(provider, seal_id)), key

    async def _authorization(self, target: Target, key: AuthorizationKey | None) -> Authorization:
        """The authorisation, read before the write: an id this tenant was not issued, or one
        its seal no longer lists, is AUTHORIZATION_NOT_FOUND, and nothing is sent."""
        missing = WriteRejected(
            Rejection.AUTHORIZATION_NOT_FOUND,
            UNKNOWN_AUTHORIZATION,
            field="authorizationId",
            provider=target.adapter.name,
        )
        if key is None:
            raise missing
        try:
            found: Authorization = await self._before(
                target, self._reads.loaders.authorization.load(key)
            )
        except WriteRejected as error:
            if error.reason == Rejection.SEAL_NOT_FOUND:
                raise missing from None
            raise
        return found

    async def revoke_authorization(self, authorization_id: str) -> WriteResult[str]:
        """Answers the revoked authorisation's id."""

        async def steps(result: WriteResult[str]) -> str:
            target, key = self._authorization_ref(authorization_id, Capability.REVOKE_AUTHORIZATION)
            found = await self._authorization(target, key)
            await self._send(target, target.adapter.revoke_authorization(self._reads.scope, found))
            return authorization_id

        return await self._write("revokeAuthorization", steps)

    async def change_authorization_period(
        self,
        authorization_id: str,
        effective_at: datetime | None,
        expires_at: datetime | None,
    ) -> WriteResult[Reauthorized]:
        """The authorisation under its new period, read back, and the new letter's link."""

        async def steps(result: WriteResult[Reauthorized]) -> Reauthorized:
            target, key = self._authorization_ref(
                authorization_id, Capability.CHANGE_AUTHORIZATION_PERIOD
            )
            period = checks.period(effective_at, expires_at)
            target.adapter.check_period(period)
            found = await self._authorization(target, key)
            grant = await self._send(
                target,
                target.adapter.change_authorization_period(self._reads.scope, found, period),
            )
            new_id = grant.vendor_ids[0] if grant.vendor_ids else found.vendor_id
            new_key = AuthorizationKey(found.provider, found.seal_id, new_id)
            changed = await self._read_back(
                found.provider, self._reads.loaders.authorization.load(new_key), result
            )
            return Reauthorized(changed, grant.sign_url)

        return await self._write("changeAuthorizationPeriod", steps)

    async def management_url(self, provider: ProviderName) -> WriteResult[str]:
        async def steps(result: WriteResult[str]) -> str:
            target = self._write_target(provider, Capability.MANAGEMENT_URL)
            return await self._send(target, target.adapter.management_url(self._reads.scope))

        return await self._write("sealManagementUrl", steps)


def _no_letter_waiting(existing: list[Authorization], spec: AuthorizationSpec) -> None:
    """A person whose authorisation letter for the seal awaits signing is not authorised again:
    that letter is signed or the authorisation revoked first (e签宝 saves one per call)."""
    waiting = sorted(
        a.user_id
        for a in existing
        if a.user_id in spec.user_ids
        and a.status_reason == AuthorizationStatusReason.LETTER_NOT_SIGNED
    )
    if waiting:
        raise WriteRejected(
            Rejection.AUTHORIZATION_CONFLICT,
            f"An authorisation letter for {', '.join(waiting)} awaits signing: sign it "
            "(`signUrl`) or revoke that authorisation first.",
            field="userIds",
        )


def _key(target: Target) -> SealKey:
    assert target.key is not None, "a seal target names its seal"
    return target.key


# What a vendor's refusal means, in the gateway's words: the same sentence whichever vendor
# refused and however it put it (its own text is kept as the user error's `vendorMessage`).
REFUSALS: dict[Rejection, str] = {
    Rejection.INVALID_INPUT: "The vendor found the input not valid.",
    Rejection.NOT_SUPPORTED: "The vendor does not offer this operation.",
    Rejection.SEAL_NOT_FOUND: UNKNOWN_SEAL,
    Rejection.NAME_TAKEN: "Another seal already has this name; choose another.",
    Rejection.IMAGE_NOT_FOUND: (
        "No uploaded image is stored at this path: upload the image with `uploadSealImage` "
        "and pass the `storagePath` it answers."
    ),
    Rejection.INVALID_FILE: "The vendor refused the file; send a PNG image.",
    Rejection.NOT_PNG: "The file is not a PNG image.",
    Rejection.FILE_TOO_LARGE: "The file is larger than the vendor accepts.",
    Rejection.BAD_IMAGE_SIZE: "The image is too small or too large for the vendor.",
    Rejection.PREVIEW_FAILED: "The vendor could not draw the preview; check the texts.",
    Rejection.IMAGE_PROCESSING_FAILED: "The vendor could not process the image; try another.",
    Rejection.AUTHORIZATION_CONFLICT: "This authorisation conflicts with one the seal has.",
    Rejection.CANNOT_DELETE: (
        "This seal cannot be deleted (the default seal, or an image seal under review, cannot be)."
    ),
    Rejection.PERMISSION_DENIED: "The vendor account the gateway uses may not do this.",
}


def _refusal(adapter: SealProvider, error: UpstreamError) -> GatewayError:
    """A failed write call as the client should see it: the user error the vendor's code
    names, VENDOR_REJECTED for a business code the table lacks, else the upstream error. The
    user error speaks the gateway's words; the vendor's text is its `vendor_message`."""
    code = error.vendor_code or ""
    if code in adapter.rejections:
        reason, field = adapter.rejections[code]
        return WriteRejected(
            reason,
            REFUSALS.get(reason, f"{adapter.name.label} refused the request."),
            field=field,
            provider=adapter.name,
            vendor_code=code,
            vendor_message=error.message,
        )
    if (
        error.code == ErrorCode.UPSTREAM_ERROR
        and error.write_may_have_happened is False
        and code
        and not code.startswith("HTTP_")
    ):
        return WriteRejected(
            Rejection.VENDOR_REJECTED,
            f"{adapter.name.label} refused the request with a code the gateway does not know "
            f"({code}); its own words are in `vendorMessage`.",
            provider=adapter.name,
            vendor_code=code,
            vendor_message=error.message,
        )
    if isinstance(error, MalformedAnswer) or error.vendor_code == UNHANDLED:
        # the vendor answered, so the write arrived; what it did is unknown
        error.write_may_have_happened = True
    elif error.write_may_have_happened is None:
        # it failed before the write was sent (fetching a token)
        error.write_may_have_happened = False
    return error
