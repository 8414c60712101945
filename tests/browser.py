"""Debian's Chromium, headless, driven by playwright (no browser download): the one way the
suite opens a page as a person or a browser app would."""

from __future__ import annotations

import shutil
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
QUIET = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch(playwright: Any) -> Any:
    """A headless Chromium that asks nothing of the network on its own."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET)
