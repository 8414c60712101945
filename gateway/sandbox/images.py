"""Real PNG images for the sandbox's seal and preview URLs, drawn with Pillow."""

from __future__ import annotations

import functools
import glob
import io
import math

from PIL import Image, ImageDraw, ImageFont

COLORS = {
    "red": (200, 22, 29),
    "blue": (24, 72, 180),
    "black": (20, 20, 20),
    "purple": (110, 40, 140),
}

FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont

# Fonts with Chinese glyphs, where the machine has one; otherwise Pillow's own font draws the
# Latin parts and the seal's shape still shows.
_CJK_FONT_PATTERNS = (
    "/usr/share/fonts/**/*CJK*.tt[cf]",
    "/usr/share/fonts/**/wqy*.tt[cf]",
    "/usr/share/fonts/**/*Hei*.tt[cf]",
)


@functools.cache
def _font(size: int) -> FontType:
    for pattern in _CJK_FONT_PATTERNS:
        for path in sorted(glob.glob(pattern, recursive=True)):
            try:
                return ImageFont.truetype(path, size)
            except OSError:
                continue
    return ImageFont.load_default(size)


def rgba(color: str, alpha: float) -> tuple[int, int, int, int]:
    r, g, b = COLORS.get(color.lower(), COLORS["red"])
    return r, g, b, max(0, min(255, round(alpha * 255)))


def _star(center: tuple[float, float], radius: float) -> list[tuple[float, float]]:
    cx, cy = center
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else radius * 0.4
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return points


def render_template_seal(
    *,
    name: str,
    shape: str = "round",
    color: str = "Red",
    alpha: float = 1.0,
    horizontal_text: str | None = None,
    bottom_text: str | None = None,
    width: int = 159,
    height: int = 159,
) -> bytes:
    """A seal drawn the way a template seal looks: a ring (round or oval), a star in the middle,
    the name along the top, the horizontal text across and the bottom text below."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    ink = rgba(color, alpha)
    border = max(3, min(width, height) // 30)
    if shape == "oval":
        ring_box = (border, height * 0.12, width - border, height * 0.88)
    else:
        ring_box = (border, border, width - border, height - border)
    draw.ellipse(ring_box, outline=ink, width=border)
    cx, cy = width / 2, height / 2
    draw.polygon(_star((cx, cy), min(width, height) * 0.16), fill=ink)
    _text(draw, name, (cx, height * 0.27), min(width, height) // 11, ink)
    if horizontal_text:
        _text(draw, horizontal_text, (cx, height * 0.68), min(width, height) // 12, ink)
    if bottom_text:
        _text(draw, bottom_text, (cx, height * 0.80), min(width, height) // 16, ink)
    return to_png(image)


def _text(
    draw: ImageDraw.ImageDraw,
    text: str,
    center: tuple[float, float],
    size: int,
    ink: tuple[int, int, int, int],
) -> None:
    draw.text(center, text, fill=ink, font=_font(max(size, 8)), anchor="mm")


def recolor(png: bytes, color: str, alpha: float) -> bytes:
    """An uploaded seal image in another ink: every visible pixel takes the colour."""
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    r, g, b, a = rgba(color, alpha)
    mask = image.getchannel("A").point(lambda v: round(v * a / 255))
    tinted = Image.new("RGBA", image.size, (r, g, b, 0))
    tinted.putalpha(mask)
    return to_png(tinted)


def to_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, or None when the bytes are not a readable PNG."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                return None
            image.verify()
            return image.size
    except Exception:
        return None
