"""云银签's answers as typed models, field by field as its seed page gives them (UPSTREAMS.md).

Ids are int64 and required; times stay text here (ISO-8601, +0800) and are read by the
mapping. List endpoints put the page fields beside `data`."""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from gateway.providers.wire import Filled

T = TypeVar("T")


class SealRecord(msgspec.Struct, frozen=True):
    """A seal, as both `getSealListByPage` rows and `getSealInfo` give it."""

    sealId: int
    corpName: str | None = None
    sealCode: str | None = None
    sealName: str | None = None
    categoryType: str | None = None
    sealStyle: int | None = None
    sealWidth: int | None = None
    sealHeight: int | None = None
    sealImageUrl: str | None = None
    defaultFlag: int | None = None
    status: int | None = None
    sealHorizontalText: str | None = None
    sealBottomText: str | None = None
    source: str | None = None
    authorNum: int | None = None
    createTime: str | None = None


class AuthorRecord(msgspec.Struct, frozen=True):
    """A row of `getSealAuthorList`. `templates` is a JSON *string* of `{templateId}` objects,
    `templateName` the names comma-separated; `expireTime` null means never."""

    id: int
    sealId: int
    userId: int
    userName: str | None = None
    authorRole: str | None = None
    authorRange: int | None = None
    autoSign: int | None = None
    effectiveTime: str | None = None
    expireTime: str | None = None
    examinerNotify: int | None = None
    status: int | None = None
    templates: str | None = None
    templateName: str | None = None
    createTime: str | None = None


class Listing(msgspec.Struct, Generic[T], frozen=True):
    """A list answer: the page's rows in `data`, the page fields beside it."""

    data: list[T] | None = None
    totalCount: int = 0
    listPageNo: int | None = None
    countInPage: int | None = None
    listPageCount: int | None = None


class Single(msgspec.Struct, Generic[T], frozen=True):
    """An answer carrying one object in `data`."""

    data: T


class FileInfo(msgspec.Struct, frozen=True):
    """An uploaded file or a generated preview."""

    fileName: str | None = None
    fileUrl: str | None = None
    httpUrl: str | None = None
    totalPage: int | None = None
    width: int | None = None
    height: int | None = None


class NewSeal(msgspec.Struct, frozen=True):
    sealId: int


class AccessToken(msgspec.Struct, frozen=True):
    """`data` of `POST /service/getAccessToken`; `expiresIn` is epoch ms."""

    accessToken: Filled
    expiresIn: int
    corpId: int | None = None


class Link(msgspec.Struct, frozen=True):
    """`getSealAuthorUrl`: the management page link is `data` itself."""

    data: Filled
