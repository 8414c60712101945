"""The write side of the API: every seal operation either vendor documents, as mutations (and
two preview queries).

Each takes one `input:` argument and returns a payload whose `userErrors` carry expected
business failures (name taken, not found, not allowed); outages stay top-level errors, saying
whether the write may have happened. The service runs every write (see gateway/service): these
resolvers turn inputs into its arguments and its results into payloads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.file_uploads import Upload
from strawberry.types.scalar import scalar

from gateway import domain, service
from gateway.domain import ProviderName, WriteRejected
from gateway.schema.context import Info
from gateway.schema.enums import (
    AuthorizationRole,
    AuthorizationScope,
    DeleteOutcome,
    Provider,
    SealBizType,
    SealColor,
    TemplateShape,
    convert,
)
from gateway.schema.types import Authorization, Seal
from gateway.service.checks import MAX_NAME, MAX_TEXT, MAX_USERS

T = TypeVar("T")
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
    AUTHORIZATION_NOT_FOUND = strawberry.enum_value(
        "AUTHORIZATION_NOT_FOUND", description="No such authorisation (any more)."
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
    message: str = strawberry.field(
        description="A sentence for a person, in the gateway's words (the same for a code "
        "whichever vendor refused)."
    )
    vendor_code: str | None = strawberry.field(
        description="The vendor's own code, when the vendor refused."
    )
    vendor_message: str | None = strawberry.field(
        description="The vendor's own text, as it sent it (often in Chinese), when the "
        "vendor refused; for support and logs, not for branching."
    )

    @classmethod
    def of(cls, error: WriteRejected) -> UserError:
        return cls(
            code=convert(UserErrorCode, error.reason),
            field=error.field,
            message=error.message,
            vendor_code=error.vendor_code,
            vendor_message=error.vendor_message,
        )


@strawberry.type(description="An image file stored at the vendor: an upload or a preview.")
class UploadedImage:
    file_name: str = strawberry.field(description="The file's name.")
    storage_path: str = strawberry.field(
        description="Where the vendor stored it (云银签 fileUrl, e签宝 fileKey); pass it as "
        "`imagePath` to `createImageSeal`."
    )
    url: str | None = strawberry.field(
        description="Where to download it (云银签 httpUrl); null where the vendor gives no link "
        "(e签宝)."
    )
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


def _uploaded_file(value: object) -> object:
    """A file part of a multipart request: anything else given for an `Upload` (a string in
    JSON, a number) is the client's mistake, refused as bad input before anything runs."""
    if not (hasattr(value, "read") and hasattr(value, "filename")):
        raise ValueError(
            "Upload takes a file sent as a part of a GraphQL multipart request, not a JSON value."
        )
    return value


# strawberry's own `Upload` takes whatever it is given; this one takes files only.
UPLOAD_SCALAR = scalar(
    name="Upload",
    description="A file sent as a part of a GraphQL multipart request.",
    serialize=lambda value: value,
    parse_value=_uploaded_file,
)

PROVIDER_DESCRIPTION = (
    "Where the seal lives; `providers { supportedOperations }` says which writes each offers."
)


@strawberry.input(description="Upload a seal image (PNG with a transparent background).")
class UploadSealImageInput:
    file: Upload = strawberry.field(
        description="The PNG file, sent as a GraphQL multipart request."
    )
    color: SealColor | None = strawberry.field(
        default=None,
        description="The ink colour to process the image with (云银签; e签宝 takes it on "
        "`createImageSeal`).",
    )
    provider: Provider = strawberry.field(default=Provider.YUNYIN, description=PROVIDER_DESCRIPTION)


@strawberry.input(
    description="A template seal: drawn by the vendor from these parameters. The templates and "
    "options each vendor offers are in `providers { templateStyles templateOptions }`; an option "
    "a vendor does not document is refused (INVALID_INPUT, naming it), never dropped."
)
class TemplateSealInput:
    name: str = strawberry.field(description=f"The seal's name, 1 to {MAX_NAME} characters.")
    biz_type: SealBizType = strawberry.field(
        description="What the seal is for (e签宝 OTHER: its COMMON_* templates)."
    )
    shape: TemplateShape = strawberry.field(
        default=TemplateShape.ROUND,
        description="The seal's shape, where the vendor has a template of it for `bizType`.",
    )
    star: bool | None = strawberry.field(
        default=None,
        description="With a five-pointed star, 五角星 (e签宝 *_STAR or *_NO_STAR); null: the star "
        "where the template offers one.",
    )
    horizontal_text: str | None = strawberry.field(
        default=None, description=f"Text across the seal, 横排文字 (at most {MAX_TEXT})."
    )
    bottom_text: str | None = strawberry.field(
        default=None,
        description=f"Text along the bottom, 下弦文 (at most {MAX_TEXT}; e签宝: English letters "
        "and half-width symbols only, e.g. an anti-counterfeiting code).",
    )
    color: SealColor = strawberry.field(default=SealColor.RED, description="Ink colour.")
    opacity: float | None = strawberry.field(
        default=None,
        description="0 (clear) to 1 (solid); e签宝 sealOpacity 20 to 100, so at least 0.2 there.",
    )
    surround_text: str | None = strawberry.field(
        default=None,
        description="Text around the outside of a double oval, 环绕文 (e签宝 "
        "sealOutsideSurroundText: English letters and half-width symbols, at most 50).",
    )
    aged: bool = strawberry.field(
        default=False, description="An aged look, 做旧 (e签宝 sealOldStyle OLD)."
    )
    aged_variant: int | None = strawberry.field(
        default=None,
        description="Which aged look, 1 to 12 (e签宝 OLD_1 to OLD_12); implies `aged`.",
    )
    width_mm: int | None = strawberry.field(
        default=None,
        description="The width on paper in mm, with `heightMm`: one of the sizes the template "
        "comes in (`templateStyles { sizes }`; e签宝 sealSize); default its first.",
    )
    height_mm: int | None = strawberry.field(
        default=None, description="The height on paper in mm, with `widthMm`."
    )
    provider: Provider = strawberry.field(default=Provider.YUNYIN, description=PROVIDER_DESCRIPTION)


@strawberry.input(description="A seal made from an uploaded image; it starts awaiting review.")
class CreateImageSealInput:
    name: str = strawberry.field(description=f"The seal's name, 1 to {MAX_NAME} characters.")
    biz_type: SealBizType = strawberry.field(description="What the seal is for.")
    image_path: str | None = strawberry.field(
        default=None,
        description="`storagePath` of the uploaded image (e签宝: its fileKey, required); without "
        "it 云银签 takes the operator's latest upload.",
    )
    shape: TemplateShape | None = strawberry.field(
        default=None,
        description="The shape 云银签 shows the image in (round or oval; default round). e签宝 "
        "takes none.",
    )
    width_mm: int | None = strawberry.field(
        default=None, description="The seal's width on paper in mm (e签宝 sealWidth, 1-100)."
    )
    height_mm: int | None = strawberry.field(
        default=None, description="The seal's height on paper in mm (e签宝 sealHeight, 1-100)."
    )
    color: SealColor | None = strawberry.field(
        default=None, description="The ink colour (e签宝 sealColor)."
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


@strawberry.input(description="Which authorisation.")
class AuthorizationRefInput:
    authorization_id: strawberry.ID = strawberry.field(description="The authorisation's `id`.")


@strawberry.input(description="A new period for an authorisation.")
class ChangeAuthorizationPeriodInput:
    authorization_id: strawberry.ID = strawberry.field(description="The authorisation's `id`.")
    effective_at: datetime | None = strawberry.field(
        default=None, description="When it takes effect (default: now)."
    )
    expires_at: datetime | None = strawberry.field(
        default=None,
        description="When it lapses; null: with no end (e签宝 longTermEffective, which then "
        "takes no `effectiveAt`). e签宝: at most 3 years after `effectiveAt`.",
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


@strawberry.type(description="The result of `enableSeal` or `disableSeal`.")
class SealStatePayload:
    seal: Seal | None = strawberry.field(default=None, description="The seal, read back.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The result of `deleteSeal`.")
class DeleteSealPayload:
    deleted_seal_id: strawberry.ID | None = strawberry.field(
        default=None, description="The `id` of the deleted seal."
    )
    outcome: DeleteOutcome | None = strawberry.field(
        default=None,
        description="Whether the seal was deleted or, used before, revoked (e签宝 "
        "`data.sealStatus`); null when the vendor did not say.",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The result of `authorizeSeal`.")
class AuthorizeSealPayload:
    seal: Seal | None = strawberry.field(default=None, description="The seal.")
    authorizations: list[Authorization] | None = strawberry.field(
        default_factory=list,
        description="The authorisations this call created; null when reading them back failed "
        "(the error beside says the change was made). On e签宝 they are PENDING until the "
        "letter at `signUrl` is signed.",
    )
    sign_url: str | None = strawberry.field(
        default=None,
        description="Where an administrator signs the authorisation letter that puts them in "
        "force (e签宝 authorizationSignUrl); null where the vendor grants at once (云银签).",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The result of `revokeAuthorization`.")
class RevokeAuthorizationPayload:
    revoked_authorization_id: strawberry.ID | None = strawberry.field(
        default=None, description="The `id` of the revoked authorisation."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The result of `changeAuthorizationPeriod`.")
class ChangeAuthorizationPeriodPayload:
    authorization: Authorization | None = strawberry.field(
        default=None,
        description="The authorisation with its new period, read back: on e签宝 a new record "
        "(a new id; the old one no longer stands), PENDING until its letter is signed.",
    )
    sign_url: str | None = strawberry.field(
        default=None, description="Where the new letter is signed (e签宝 authorizationSignUrl)."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="A link to the vendor's own seal management page.")
class SealManagementUrlPayload:
    url: str | None = strawberry.field(
        default=None, description="The link (a session at the vendor)."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


# --- from inputs to the service, from its results to payloads ------------------------------


def template_spec(input: TemplateSealInput) -> domain.TemplateSealSpec:
    return domain.TemplateSealSpec(
        name=input.name,
        biz_type=convert(domain.SealBizType, input.biz_type),
        shape=convert(domain.TemplateShape, input.shape),
        horizontal_text=input.horizontal_text,
        bottom_text=input.bottom_text,
        color=convert(domain.SealColor, input.color),
        opacity=input.opacity,
        star=input.star,
        surround_text=input.surround_text,
        aged=input.aged,
        aged_variant=input.aged_variant,
        width_mm=input.width_mm,
        height_mm=input.height_mm,
    )


def color_of(color: SealColor | None) -> domain.SealColor | None:
    return None if color is None else convert(domain.SealColor, color)


def payload(
    info: Info,
    result: service.WriteResult[T],
    make: Callable[[T | None, list[UserError]], P],
    *,
    at: str,
) -> P:
    """The payload of a write; problems after a successful write are reported beside it, at
    the payload field `at` they left empty."""
    info.context.report_all(info, list(result.problems), at)
    errors = [] if result.rejection is None else [UserError.of(result.rejection)]
    return make(result.value, errors)


def seal_of(found: domain.Seal | None, request_service: service.SealReads) -> Seal | None:
    return None if found is None else Seal.of(found, request_service)


def preview_payload(
    info: Info, result: service.WriteResult[domain.UploadedImage]
) -> SealPreviewPayload:
    return payload(
        info,
        result,
        lambda image, errors: SealPreviewPayload(
            image=None if image is None else UploadedImage.of(image), user_errors=errors
        ),
        at="image",
    )


def _state_payload(info: Info, result: service.WriteResult[domain.Seal]) -> SealStatePayload:
    return payload(
        info,
        result,
        lambda seal, errors: SealStatePayload(
            seal=seal_of(seal, info.context.reads), user_errors=errors
        ),
        at="seal",
    )


# --- the operations -------------------------------------------------------------------------


def _input(description: str) -> Any:
    return strawberry.argument(description=description)


async def preview_template_seal(
    info: Info, input: Annotated[TemplateSealInput, _input("The template seal to draw.")]
) -> SealPreviewPayload:
    result = await info.context.writes.preview_template_seal(
        convert(ProviderName, input.provider), template_spec(input)
    )
    return preview_payload(info, result)


async def preview_image_seal(
    info: Info, input: Annotated[PreviewImageSealInput, _input("The upload to preview.")]
) -> SealPreviewPayload:
    result = await info.context.writes.preview_image_seal(
        convert(ProviderName, input.provider),
        input.file_name,
        input.url,
        color_of(input.color),
        input.opacity,
    )
    return preview_payload(info, result)


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
        file: Any = input.file  # a Starlette UploadFile
        result = await info.context.writes.upload_image(
            convert(ProviderName, input.provider),
            getattr(file, "filename", None) or "seal.png",
            await file.read(),
            color_of(input.color),
        )
        return payload(
            info,
            result,
            lambda image, errors: UploadSealImagePayload(
                image=None if image is None else UploadedImage.of(image), user_errors=errors
            ),
            at="image",
        )

    @strawberry.mutation(description="Create a seal the vendor draws from a template.")
    async def create_template_seal(
        self, info: Info, input: Annotated[TemplateSealInput, _input("The seal to create.")]
    ) -> CreateSealPayload | None:
        result = await info.context.writes.create_template_seal(
            convert(ProviderName, input.provider), template_spec(input)
        )
        return payload(
            info,
            result,
            lambda seal, errors: CreateSealPayload(
                seal=seal_of(seal, info.context.reads), user_errors=errors
            ),
            at="seal",
        )

    @strawberry.mutation(description="Create a seal from an uploaded image (`uploadSealImage`).")
    async def create_image_seal(
        self, info: Info, input: Annotated[CreateImageSealInput, _input("The seal to create.")]
    ) -> CreateSealPayload | None:
        spec = domain.ImageSealSpec(
            name=input.name,
            biz_type=convert(domain.SealBizType, input.biz_type),
            shape=None if input.shape is None else convert(domain.TemplateShape, input.shape),
            image_path=input.image_path,
            width_mm=input.width_mm,
            height_mm=input.height_mm,
            color=color_of(input.color),
        )
        result = await info.context.writes.create_image_seal(
            convert(ProviderName, input.provider), spec
        )
        return payload(
            info,
            result,
            lambda seal, errors: CreateSealPayload(
                seal=seal_of(seal, info.context.reads), user_errors=errors
            ),
            at="seal",
        )

    @strawberry.mutation(description="Rename a seal.")
    async def rename_seal(
        self, info: Info, input: Annotated[RenameSealInput, _input("Which seal, and its new name.")]
    ) -> RenameSealPayload | None:
        result = await info.context.writes.rename_seal(input.seal_id, input.name)
        return payload(
            info,
            result,
            lambda seal, errors: RenameSealPayload(
                seal=seal_of(seal, info.context.reads), user_errors=errors
            ),
            at="seal",
        )

    @strawberry.mutation(
        description="Make a seal the organisation's default; the previous default stops being it."
    )
    async def set_default_seal(
        self, info: Info, input: Annotated[SealRefInput, _input("Which seal.")]
    ) -> SetDefaultSealPayload | None:
        result = await info.context.writes.set_default_seal(input.seal_id)
        return payload(
            info,
            result,
            lambda change, errors: SetDefaultSealPayload(
                seal=None if change is None else seal_of(change.seal, info.context.reads),
                previous_default=None
                if change is None
                else seal_of(change.previous, info.context.reads),
                user_errors=errors,
            ),
            at="seal",
        )

    @strawberry.mutation(
        description="Delete a seal. The default seal cannot be deleted; an e签宝 seal used before "
        "is revoked instead (see `outcome`)."
    )
    async def delete_seal(
        self, info: Info, input: Annotated[SealRefInput, _input("Which seal.")]
    ) -> DeleteSealPayload | None:
        result = await info.context.writes.delete_seal(input.seal_id)
        return payload(
            info,
            result,
            lambda deleted, errors: DeleteSealPayload(
                deleted_seal_id=None if deleted is None else strawberry.ID(deleted.seal_id),
                outcome=None
                if deleted is None or deleted.outcome is None
                else convert(DeleteOutcome, deleted.outcome),
                user_errors=errors,
            ),
            at="deletedSealId",
        )

    @strawberry.mutation(
        description="Enable a disabled seal again (e签宝 v3 enable-seal). Review, not this call, "
        "enables an image seal awaiting it."
    )
    async def enable_seal(
        self, info: Info, input: Annotated[SealRefInput, _input("Which seal.")]
    ) -> SealStatePayload | None:
        result = await info.context.writes.enable_seal(input.seal_id)
        return _state_payload(info, result)

    @strawberry.mutation(
        description="Disable (stop) a seal. No vendor page the gateway follows documents the call: "
        "NOT_SUPPORTED everywhere for now (see `supportedOperations`)."
    )
    async def disable_seal(
        self, info: Info, input: Annotated[SealRefInput, _input("Which seal.")]
    ) -> SealStatePayload | None:
        result = await info.context.writes.disable_seal(input.seal_id)
        return _state_payload(info, result)

    @strawberry.mutation(description="Authorise people to use, or approve the use of, a seal.")
    async def authorize_seal(
        self, info: Info, input: Annotated[AuthorizeSealInput, _input("Who, how and for what.")]
    ) -> AuthorizeSealPayload | None:
        request = service.AuthorizationRequest(
            seal_id=input.seal_id,
            user_ids=tuple(str(u) for u in input.user_ids),
            role=convert(domain.AuthorizationRole, input.role),
            scope=convert(domain.AuthorizationScope, input.scope),
            templates=tuple(domain.TemplateRef(str(t.id), t.name) for t in input.templates or []),
            effective_at=input.effective_at,
            expires_at=input.expires_at,
        )
        result = await info.context.writes.authorize_seal(request)
        return payload(
            info,
            result,
            lambda done, errors: AuthorizeSealPayload(
                seal=None if done is None else seal_of(done.seal, info.context.reads),
                authorizations=(
                    []
                    if done is None
                    else None
                    if done.authorizations is None
                    else [Authorization.of(a) for a in done.authorizations]
                ),
                sign_url=None if done is None else done.sign_url,
                user_errors=errors,
            ),
            at="authorizations",
        )

    @strawberry.mutation(
        description="Revoke an authorisation (e签宝 v3 auth-delete). 云银签 documents no call "
        "for it: NOT_SUPPORTED there."
    )
    async def revoke_authorization(
        self, info: Info, input: Annotated[AuthorizationRefInput, _input("Which one.")]
    ) -> RevokeAuthorizationPayload | None:
        result = await info.context.writes.revoke_authorization(input.authorization_id)
        return payload(
            info,
            result,
            lambda revoked, errors: RevokeAuthorizationPayload(
                revoked_authorization_id=None if revoked is None else strawberry.ID(revoked),
                user_errors=errors,
            ),
            at="revokedAuthorizationId",
        )

    @strawberry.mutation(
        description="Change when an authorisation is in force (e签宝 v3 reauthorization: a new "
        "letter to sign). 云银签 documents no call for it: NOT_SUPPORTED there."
    )
    async def change_authorization_period(
        self,
        info: Info,
        input: Annotated[ChangeAuthorizationPeriodInput, _input("Which one, and when.")],
    ) -> ChangeAuthorizationPeriodPayload | None:
        result = await info.context.writes.change_authorization_period(
            input.authorization_id, input.effective_at, input.expires_at
        )
        return payload(
            info,
            result,
            lambda done, errors: ChangeAuthorizationPeriodPayload(
                authorization=None
                if done is None or done.authorization is None
                else Authorization.of(done.authorization),
                sign_url=None if done is None else done.sign_url,
                user_errors=errors,
            ),
            at="authorization",
        )

    @strawberry.mutation(
        description="A link to the vendor's seal management page for the operator. A mutation: "
        "each call opens a session at the vendor."
    )
    async def seal_management_url(
        self,
        info: Info,
        input: Annotated[SealManagementUrlInput | None, _input("Whose page.")] = None,
    ) -> SealManagementUrlPayload | None:
        provider = input.provider if input is not None else Provider.YUNYIN
        result = await info.context.writes.management_url(convert(ProviderName, provider))
        return payload(
            info,
            result,
            lambda url, errors: SealManagementUrlPayload(url=url, user_errors=errors),
            at="url",
        )
