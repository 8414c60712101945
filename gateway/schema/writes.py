"""The write side of the API: every 云银签 seal operation, as mutations (and two preview queries).

Each takes one `input:` argument and returns a payload whose `userErrors` carry expected
business failures (name taken, not found, not allowed); outages stay top-level errors, saying
whether the write may have happened. Input is checked before any vendor call, and a write that
may have reached the vendor is never retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.file_uploads import Upload

from gateway import domain
from gateway.domain import (
    BadInput,
    Capability,
    GatewayError,
    ProviderName,
    Rejection,
    SealKey,
    WriteRejected,
)
from gateway.providers.base import SealProvider
from gateway.schema.context import Info
from gateway.schema.enums import (
    AuthorizationRole,
    AuthorizationScope,
    Provider,
    SealBizType,
    SealColor,
    TemplateShape,
    convert,
)
from gateway.schema.ids import parse_node_id
from gateway.schema.types import Authorization, Seal
from gateway.uploads import check_seal_image

MAX_NAME = 50
MAX_TEXT = 30
MAX_USERS = 100
MAX_TEMPLATES = 100

P = TypeVar("P")


@strawberry.enum(description="Why a write was refused. Clients branch on this, not on the text.")
class UserErrorCode(Enum):
    INVALID_INPUT = strawberry.enum_value("INVALID_INPUT", description="The input is not valid.")
    NOT_SUPPORTED = strawberry.enum_value(
        "NOT_SUPPORTED", description="The seal's provider does not offer this operation."
    )
    SEAL_NOT_FOUND = strawberry.enum_value(
        "SEAL_NOT_FOUND", description="No such seal (云银签 SEAL_NOT_FOUND)."
    )
    NAME_TAKEN = strawberry.enum_value(
        "NAME_TAKEN", description="Another seal has this name (云银签 SEAL_NAME_EXIST)."
    )
    IMAGE_NOT_FOUND = strawberry.enum_value(
        "IMAGE_NOT_FOUND",
        description="No uploaded image to make the seal from (SEAL_IMAGE_NOT_FOUND).",
    )
    INVALID_FILE = strawberry.enum_value(
        "INVALID_FILE", description="The vendor refused the file (FILE_UPLOAD_ERROR)."
    )
    NOT_PNG = strawberry.enum_value("NOT_PNG", description="The file is not a PNG image.")
    FILE_TOO_LARGE = strawberry.enum_value(
        "FILE_TOO_LARGE", description="The file is over the upload size limit."
    )
    BAD_IMAGE_SIZE = strawberry.enum_value(
        "BAD_IMAGE_SIZE", description="The image is too small or too large in pixels."
    )
    PREVIEW_FAILED = strawberry.enum_value(
        "PREVIEW_FAILED", description="The vendor could not draw the preview (PREVIEW_GEN_ERROR)."
    )
    IMAGE_PROCESSING_FAILED = strawberry.enum_value(
        "IMAGE_PROCESSING_FAILED",
        description="The vendor could not process the image (IMAGE_PROCESS_ERROR).",
    )
    AUTHORIZATION_CONFLICT = strawberry.enum_value(
        "AUTHORIZATION_CONFLICT",
        description="The rule conflicts with an existing one (AUTHOR_RULE_CONFLICT).",
    )
    CANNOT_DELETE = strawberry.enum_value(
        "CANNOT_DELETE",
        description="The seal cannot be deleted, e.g. the default seal (SEAL_DELETE_FAILED).",
    )
    PERMISSION_DENIED = strawberry.enum_value(
        "PERMISSION_DENIED", description="The operator may not do this (PERMISSION_DENIED)."
    )
    VENDOR_REJECTED = strawberry.enum_value(
        "VENDOR_REJECTED",
        description="The vendor refused with a code the gateway does not know; see `vendorCode`.",
    )


@strawberry.type(description="An expected business failure of a write: nothing was changed.")
class UserError:
    code: UserErrorCode = strawberry.field(description="What went wrong.")
    field: str | None = strawberry.field(
        description="The input field at fault (as named in the input), if one is."
    )
    message: str = strawberry.field(description="A sentence for a person.")
    vendor_code: str | None = strawberry.field(
        description="The vendor's own code, when the vendor refused."
    )

    @classmethod
    def of(cls, error: WriteRejected) -> UserError:
        return cls(
            code=convert(UserErrorCode, error.reason),
            field=error.field,
            message=error.message,
            vendor_code=error.vendor_code,
        )


@strawberry.type(description="An image file stored at the vendor: an upload or a preview.")
class UploadedImage:
    file_name: str = strawberry.field(description="The file's name.")
    storage_path: str = strawberry.field(
        description="Where the vendor stored it (fileUrl); pass it as `imagePath` to "
        "`createImageSeal`."
    )
    url: str = strawberry.field(description="Where to download it (httpUrl).")
    page_count: int | None = strawberry.field(description="Pages in the file (totalPage).")
    width: int | None = strawberry.field(description="Width in pixels.")
    height: int | None = strawberry.field(description="Height in pixels.")

    @classmethod
    def of(cls, image: domain.UploadedImage) -> UploadedImage:
        return cls(
            file_name=image.file_name,
            storage_path=image.storage_path,
            url=image.url,
            page_count=image.page_count,
            width=image.width,
            height=image.height,
        )


# --- inputs ---------------------------------------------------------------------------------

PROVIDER_DESCRIPTION = "Where the seal lives (only 云银签 offers writes)."


@strawberry.input(description="Upload a seal image (PNG with a transparent background).")
class UploadSealImageInput:
    file: Upload = strawberry.field(
        description="The PNG file, sent as a GraphQL multipart request."
    )
    color: SealColor | None = strawberry.field(
        default=None, description="The ink colour to process the image with."
    )
    provider: Provider = strawberry.field(default=Provider.YUNYIN, description=PROVIDER_DESCRIPTION)


@strawberry.input(description="A template seal: drawn by the vendor from these parameters.")
class TemplateSealInput:
    name: str = strawberry.field(description=f"The seal's name, 1 to {MAX_NAME} characters.")
    biz_type: SealBizType = strawberry.field(description="What the seal is for.")
    shape: TemplateShape = strawberry.field(
        default=TemplateShape.ROUND, description="Round or oval."
    )
    horizontal_text: str | None = strawberry.field(
        default=None, description=f"Text across the seal, 横排文字 (at most {MAX_TEXT})."
    )
    bottom_text: str | None = strawberry.field(
        default=None, description=f"Text along the bottom, 下弦文 (at most {MAX_TEXT})."
    )
    color: SealColor = strawberry.field(default=SealColor.RED, description="Ink colour.")
    opacity: float | None = strawberry.field(default=None, description="0 (clear) to 1 (solid).")
    provider: Provider = strawberry.field(default=Provider.YUNYIN, description=PROVIDER_DESCRIPTION)


@strawberry.input(description="A seal made from an uploaded image; it starts awaiting review.")
class CreateImageSealInput:
    name: str = strawberry.field(description=f"The seal's name, 1 to {MAX_NAME} characters.")
    biz_type: SealBizType = strawberry.field(description="What the seal is for.")
    image_path: str | None = strawberry.field(
        default=None,
        description="`storagePath` of the uploaded image; without it the vendor takes the "
        "operator's latest upload.",
    )
    shape: TemplateShape = strawberry.field(
        default=TemplateShape.ROUND, description="The shape the vendor shows the image in."
    )
    provider: Provider = strawberry.field(default=Provider.YUNYIN, description=PROVIDER_DESCRIPTION)


@strawberry.input(description="Preview an uploaded image in another ink or opacity.")
class PreviewImageSealInput:
    file_name: str = strawberry.field(description="`fileName` of the upload.")
    url: str = strawberry.field(description="`url` of the upload.")
    color: SealColor | None = strawberry.field(default=None, description="Ink colour.")
    opacity: float | None = strawberry.field(default=None, description="0 (clear) to 1 (solid).")
    provider: Provider = strawberry.field(default=Provider.YUNYIN, description=PROVIDER_DESCRIPTION)


@strawberry.input(description="Rename a seal.")
class RenameSealInput:
    seal_id: strawberry.ID = strawberry.field(description="The seal's `id`.")
    name: str = strawberry.field(description=f"The new name, 1 to {MAX_NAME} characters.")


@strawberry.input(description="Which seal.")
class SealRefInput:
    seal_id: strawberry.ID = strawberry.field(description="The seal's `id`.")


@strawberry.input(description="A contract template to limit an authorisation to.")
class ContractTemplateInput:
    id: strawberry.ID = strawberry.field(description="The template's id at the vendor.")
    name: str | None = strawberry.field(default=None, description="The template's name.")


@strawberry.input(description="Let people use (or approve the use of) a seal.")
class AuthorizeSealInput:
    seal_id: strawberry.ID = strawberry.field(description="The seal's `id`.")
    user_ids: list[strawberry.ID] = strawberry.field(
        description=f"The people's user ids at the vendor (1 to {MAX_USERS})."
    )
    role: AuthorizationRole = strawberry.field(description="Use the seal, or approve its use.")
    scope: AuthorizationScope = strawberry.field(
        description="All contracts, or only those from `templates`."
    )
    templates: list[ContractTemplateInput] | None = strawberry.field(
        default=None, description="Required exactly when `scope` is LISTED_TEMPLATES."
    )
    effective_at: datetime | None = strawberry.field(
        default=None, description="When it takes effect (default: now)."
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="When it lapses (default: never); after `effectiveAt`."
    )


@strawberry.input(description="Whose management page.")
class SealManagementUrlInput:
    provider: Provider = strawberry.field(default=Provider.YUNYIN, description=PROVIDER_DESCRIPTION)


# --- payloads -------------------------------------------------------------------------------

USER_ERRORS = "Expected business failures; empty when the write succeeded."


@strawberry.type(description="The result of `uploadSealImage`.")
class UploadSealImagePayload:
    image: UploadedImage | None = strawberry.field(default=None, description="The stored image.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The result of creating a seal.")
class CreateSealPayload:
    seal: Seal | None = strawberry.field(
        default=None, description="The new seal, read back with every field."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="A preview of a seal image; nothing was created.")
class SealPreviewPayload:
    image: UploadedImage | None = strawberry.field(default=None, description="The preview.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why no preview could be made."
    )


@strawberry.type(description="The result of `renameSeal`.")
class RenameSealPayload:
    seal: Seal | None = strawberry.field(default=None, description="The seal, renamed.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The result of `setDefaultSeal`.")
class SetDefaultSealPayload:
    seal: Seal | None = strawberry.field(default=None, description="The new default seal.")
    previous_default: Seal | None = strawberry.field(
        default=None,
        description="The seal that was the default before, now no longer (null if none was).",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The result of `deleteSeal`.")
class DeleteSealPayload:
    deleted_seal_id: strawberry.ID | None = strawberry.field(
        default=None, description="The `id` of the deleted seal."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The result of `authorizeSeal`.")
class AuthorizeSealPayload:
    seal: Seal | None = strawberry.field(default=None, description="The seal.")
    authorizations: list[Authorization] = strawberry.field(
        default_factory=list, description="The authorisations this call created."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="A link to the vendor's own seal management page.")
class SealManagementUrlPayload:
    url: str | None = strawberry.field(
        default=None, description="The link (a session at the vendor)."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


# --- checks ---------------------------------------------------------------------------------


def invalid(field: str, message: str) -> WriteRejected:
    return WriteRejected(Rejection.INVALID_INPUT, message, field=field)


def check_name(name: str, field: str = "name") -> str:
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise invalid(field, f"`{field}` must hold 1 to {MAX_NAME} characters.")
    return name


def check_text(value: str | None, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value.strip()) > MAX_TEXT:
        raise invalid(field, f"`{field}` may hold at most {MAX_TEXT} characters.")
    return value.strip()


def check_opacity(value: float | None) -> float | None:
    if value is not None and not 0 <= value <= 1:
        raise invalid("opacity", "`opacity` must be between 0 and 1.")
    return value


def target_provider(info: Info, provider: Provider, capability: Capability) -> SealProvider:
    """The provider a write goes to, checked to support it."""
    name = convert(ProviderName, provider)
    source = info.context.providers.get(name)
    if source is None:
        raise WriteRejected(
            Rejection.NOT_SUPPORTED,
            f"Provider {name.value} is not configured.",
            field="provider",
            provider=name,
        )
    if not source.supports(capability):
        raise source.refuse(capability)
    return source


def target_seal(info: Info, seal_id: str, capability: Capability) -> tuple[SealProvider, SealKey]:
    """The seal a write is about, and its provider, checked to support the write."""
    try:
        type_name, node_id = parse_node_id(seal_id)
        key = SealKey.from_node_id(node_id) if type_name == "Seal" else None
    except BadInput as error:
        raise invalid("sealId", error.message) from None
    if key is None:
        raise invalid("sealId", f"{seal_id!r} is not a seal id.")
    return target_provider(info, convert(Provider, key.provider), capability), key


def template_spec(input: TemplateSealInput) -> domain.TemplateSealSpec:
    return domain.TemplateSealSpec(
        name=check_name(input.name),
        biz_type=convert(domain.SealBizType, input.biz_type),
        shape=convert(domain.TemplateShape, input.shape),
        horizontal_text=check_text(input.horizontal_text, "horizontalText"),
        bottom_text=check_text(input.bottom_text, "bottomText"),
        color=convert(domain.SealColor, input.color),
        opacity=check_opacity(input.opacity),
    )


def authorization_spec(input: AuthorizeSealInput, vendor_id: str) -> domain.AuthorizationSpec:
    users = tuple(dict.fromkeys(str(u).strip() for u in input.user_ids))
    if not users or not 1 <= len(users) <= MAX_USERS:
        raise invalid("userIds", f"Name 1 to {MAX_USERS} people in `userIds`.")
    if not all(u.isdigit() for u in users):
        raise invalid("userIds", "`userIds` holds the vendor's numeric user ids.")
    templates = tuple(
        domain.TemplateRef(str(t.id).strip(), (t.name or "").strip() or None)
        for t in input.templates or []
    )
    listed = input.scope == AuthorizationScope.LISTED_TEMPLATES
    if listed and not templates:
        raise invalid("templates", "A LISTED_TEMPLATES authorisation needs `templates`.")
    if not listed and templates:
        raise invalid("templates", "`templates` is only for a LISTED_TEMPLATES authorisation.")
    if len(templates) > MAX_TEMPLATES or not all(t.id.isdigit() for t in templates):
        raise invalid("templates", f"`templates` holds up to {MAX_TEMPLATES} numeric ids.")
    for field, moment in (("effectiveAt", input.effective_at), ("expiresAt", input.expires_at)):
        if moment is not None and moment.tzinfo is None:
            raise invalid(field, f"`{field}` needs a time-zone offset.")
    effective = input.effective_at or datetime.now().astimezone()
    if input.expires_at is not None and input.expires_at <= effective:
        raise invalid("expiresAt", "`expiresAt` must come after `effectiveAt` (or now).")
    return domain.AuthorizationSpec(
        seal_id=vendor_id,
        user_ids=users,
        role=convert(domain.AuthorizationRole, input.role),
        scope=convert(domain.AuthorizationScope, input.scope),
        templates=templates,
        effective_at=input.effective_at,
        expires_at=input.expires_at,
    )


async def attempt(make_payload: Callable[[list[UserError]], P], write: Awaitable[P]) -> P:
    """The payload the write builds, or one carrying the user error it was refused with."""
    try:
        return await write
    except WriteRejected as error:
        return make_payload([UserError.of(error)])
    except BadInput as error:  # e.g. a seal id its provider finds malformed
        # write inputs name the seal's id `sealId`
        field = "sealId" if error.field in (None, "id") else error.field
        return make_payload([UserError.of(invalid(field, error.message))])


async def read_back(info: Info, key: SealKey) -> Seal | None:
    """The seal after a write, read fresh. A failed read does not undo the write: it is
    reported beside the payload, and the seal is null."""
    try:
        return await Seal.load(info, key)
    except GatewayError as error:
        info.context.report(info, error)
        return None


# --- the operations -------------------------------------------------------------------------


def _input(description: str) -> Any:
    return strawberry.argument(description=description)


async def preview_template_seal(
    info: Info, input: Annotated[TemplateSealInput, _input("The template seal to draw.")]
) -> SealPreviewPayload:
    async def run() -> SealPreviewPayload:
        source = target_provider(info, input.provider, Capability.PREVIEW)
        image = await source.preview_template_seal(info.context.scope, template_spec(input))
        return SealPreviewPayload(image=UploadedImage.of(image))

    return await attempt(lambda errors: SealPreviewPayload(user_errors=errors), run())


async def preview_image_seal(
    info: Info, input: Annotated[PreviewImageSealInput, _input("The upload to preview.")]
) -> SealPreviewPayload:
    async def run() -> SealPreviewPayload:
        source = target_provider(info, input.provider, Capability.PREVIEW)
        if not input.file_name.strip() or not input.url.strip():
            raise invalid("url", "`fileName` and `url` of an upload are required.")
        upload = domain.UploadedImage(
            input.file_name.strip(), "", input.url.strip(), None, None, None
        )
        color = None if input.color is None else convert(domain.SealColor, input.color)
        image = await source.preview_image_seal(
            info.context.scope, upload, color, check_opacity(input.opacity)
        )
        return SealPreviewPayload(image=UploadedImage.of(image))

    return await attempt(lambda errors: SealPreviewPayload(user_errors=errors), run())


PREVIEW_WHY = (
    " A query, not a mutation: a preview creates no seal and changes nothing a client can read "
    "back, so it is safe to repeat, to cache and to send as GET."
)


@strawberry.type(
    description="Changes to seals. Only providers whose `supportedOperations` name "
    "an operation accept it; others answer a NOT_SUPPORTED user error, calling no vendor."
)
class Mutation:
    @strawberry.mutation(description="Upload a seal image (multipart request; PNG only).")
    async def upload_seal_image(
        self, info: Info, input: Annotated[UploadSealImageInput, _input("The file.")]
    ) -> UploadSealImagePayload | None:
        async def run() -> UploadSealImagePayload:
            source = target_provider(info, input.provider, Capability.UPLOAD_IMAGE)
            file: Any = input.file  # a Starlette UploadFile
            data = await file.read()
            check_seal_image(data, info.context.limits.max_upload_bytes)
            name = (getattr(file, "filename", None) or "seal.png").rsplit("/", 1)[-1]
            color = None if input.color is None else convert(domain.SealColor, input.color)
            image = await source.upload_image(info.context.scope, name, data, color)
            return UploadSealImagePayload(image=UploadedImage.of(image))

        return await attempt(lambda errors: UploadSealImagePayload(user_errors=errors), run())

    @strawberry.mutation(description="Create a seal the vendor draws from a template.")
    async def create_template_seal(
        self, info: Info, input: Annotated[TemplateSealInput, _input("The seal to create.")]
    ) -> CreateSealPayload | None:
        async def run() -> CreateSealPayload:
            source = target_provider(info, input.provider, Capability.CREATE_FROM_TEMPLATE)
            vendor_id = await source.create_template_seal(info.context.scope, template_spec(input))
            info.context.loaders.forget()
            key = SealKey(source.name, vendor_id)
            return CreateSealPayload(seal=await read_back(info, key))

        return await attempt(lambda errors: CreateSealPayload(user_errors=errors), run())

    @strawberry.mutation(description="Create a seal from an uploaded image (`uploadSealImage`).")
    async def create_image_seal(
        self, info: Info, input: Annotated[CreateImageSealInput, _input("The seal to create.")]
    ) -> CreateSealPayload | None:
        async def run() -> CreateSealPayload:
            source = target_provider(info, input.provider, Capability.CREATE_FROM_IMAGE)
            spec = domain.ImageSealSpec(
                name=check_name(input.name),
                biz_type=convert(domain.SealBizType, input.biz_type),
                shape=convert(domain.TemplateShape, input.shape),
                image_path=(input.image_path or "").strip() or None,
            )
            vendor_id = await source.create_image_seal(info.context.scope, spec)
            info.context.loaders.forget()
            key = SealKey(source.name, vendor_id)
            return CreateSealPayload(seal=await read_back(info, key))

        return await attempt(lambda errors: CreateSealPayload(user_errors=errors), run())

    @strawberry.mutation(description="Rename a seal.")
    async def rename_seal(
        self, info: Info, input: Annotated[RenameSealInput, _input("Which seal, and its new name.")]
    ) -> RenameSealPayload | None:
        async def run() -> RenameSealPayload:
            source, key = target_seal(info, input.seal_id, Capability.RENAME)
            name = check_name(input.name)
            await source.rename_seal(info.context.scope, key.vendor_id, name)
            info.context.loaders.forget()
            return RenameSealPayload(seal=await read_back(info, key))

        return await attempt(lambda errors: RenameSealPayload(user_errors=errors), run())

    @strawberry.mutation(
        description="Make a seal the organisation's default; the previous default stops being it."
    )
    async def set_default_seal(
        self, info: Info, input: Annotated[SealRefInput, _input("Which seal.")]
    ) -> SetDefaultSealPayload | None:
        async def run() -> SetDefaultSealPayload:
            source, key = target_seal(info, input.seal_id, Capability.SET_DEFAULT)
            loaders = info.context.loaders
            defaults = await loaders.seal_page(
                key.provider, domain.SealFilter(is_default=True), 0, 1
            )
            previous = next((s.key for s in defaults.items if s.key != key), None)
            await source.set_default_seal(info.context.scope, key.vendor_id)
            loaders.forget()
            return SetDefaultSealPayload(
                seal=await read_back(info, key),
                previous_default=None if previous is None else await read_back(info, previous),
            )

        return await attempt(lambda errors: SetDefaultSealPayload(user_errors=errors), run())

    @strawberry.mutation(description="Delete a seal. The default seal cannot be deleted.")
    async def delete_seal(
        self, info: Info, input: Annotated[SealRefInput, _input("Which seal.")]
    ) -> DeleteSealPayload | None:
        async def run() -> DeleteSealPayload:
            source, key = target_seal(info, input.seal_id, Capability.DELETE)
            await source.delete_seal(info.context.scope, key.vendor_id)
            info.context.loaders.forget()
            return DeleteSealPayload(deleted_seal_id=strawberry.ID(input.seal_id))

        return await attempt(lambda errors: DeleteSealPayload(user_errors=errors), run())

    @strawberry.mutation(description="Authorise people to use, or approve the use of, a seal.")
    async def authorize_seal(
        self, info: Info, input: Annotated[AuthorizeSealInput, _input("Who, how and for what.")]
    ) -> AuthorizeSealPayload | None:
        async def run() -> AuthorizeSealPayload:
            source, key = target_seal(info, input.seal_id, Capability.AUTHORIZE)
            spec = authorization_spec(input, key.vendor_id)
            # The vendor answers no ids: the new rules are those absent before the call.
            loaders = info.context.loaders
            existing = await loaders.all_authorizations(key.provider, key.vendor_id)
            before = {a.vendor_id for a in existing}
            await source.authorize(info.context.scope, spec)
            loaders.forget()
            wanted = set(spec.user_ids)
            created = [
                Authorization.of(a)
                for a in await loaders.all_authorizations(key.provider, key.vendor_id)
                if a.vendor_id not in before and a.user_id in wanted and a.role == spec.role
            ]
            return AuthorizeSealPayload(seal=await read_back(info, key), authorizations=created)

        return await attempt(lambda errors: AuthorizeSealPayload(user_errors=errors), run())

    @strawberry.mutation(
        description="A link to the vendor's seal management page for the operator. A mutation: "
        "each call opens a session at the vendor."
    )
    async def seal_management_url(
        self,
        info: Info,
        input: Annotated[SealManagementUrlInput | None, _input("Whose page.")] = None,
    ) -> SealManagementUrlPayload | None:
        async def run() -> SealManagementUrlPayload:
            provider = input.provider if input is not None else Provider.YUNYIN
            source = target_provider(info, provider, Capability.MANAGEMENT_URL)
            return SealManagementUrlPayload(url=await source.management_url(info.context.scope))

        return await attempt(lambda errors: SealManagementUrlPayload(user_errors=errors), run())
