"""Checks on an uploaded seal image, made before any vendor call: PNG by content (not by name
or declared type), within the size limit, and of sane dimensions."""

from __future__ import annotations

import io
import warnings

from PIL import Image

from gateway.domain import Rejection, WriteRejected

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_SIDE = 32
MAX_SIDE = 4096
# Refuse images that would take more memory to decode than any seal needs.
MAX_PIXELS = MAX_SIDE * MAX_SIDE


def check_seal_image(data: bytes, max_bytes: int, field: str = "file") -> tuple[int, int]:
    """The image's width and height, or WriteRejected naming what is wrong with it."""
    if len(data) > max_bytes:
        raise WriteRejected(
            Rejection.FILE_TOO_LARGE,
            f"The file is {len(data)} bytes; the limit is {max_bytes} bytes.",
            field=field,
        )
    if not data.startswith(PNG_SIGNATURE):
        raise WriteRejected(
            Rejection.NOT_PNG, "The file is not a PNG image (judged by its content).", field=field
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ValueError("too many pixels")
                image.verify()
    except Exception:
        raise WriteRejected(
            Rejection.NOT_PNG, "The file is not a readable PNG image.", field=field
        ) from None
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise WriteRejected(
            Rejection.BAD_IMAGE_SIZE,
            f"The image is {width}x{height} pixels; each side must be {MIN_SIDE} to {MAX_SIDE}.",
            field=field,
        )
    return width, height
