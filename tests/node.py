"""Node.js tools the tests drive (graphql-http's audit, Apollo Client, Apollo Gateway): npm
packages installed into a temporary folder beside a script, and the script run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SUITE_KEY

NODE = shutil.which("node") or "node"


def install(factory: pytest.TempPathFactory, name: str, packages: list[str], script: str) -> Path:
    """`packages` from npm in a fresh folder, with `script` (an ES module) beside them."""
    npm = shutil.which("npm")
    assert npm, f"npm is needed for {name} (Node.js is on every machine we use)"
    folder = factory.mktemp(name)
    (folder / "package.json").write_text('{"type": "module", "private": true}')
    command = [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(folder)]
    subprocess.run([*command, *packages], check=True, timeout=300)
    path = folder / "script.mjs"
    path.write_text(script)
    return path


def run(script: Path, *args: str, stdin: str | None = None) -> Any:
    """Runs the script (the suite's API key in AUDIT_KEY); its last output line, as JSON."""
    done = subprocess.run(
        [NODE, str(script), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=100,
        cwd=script.parent,
        env={"AUDIT_KEY": SUITE_KEY, "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    assert done.returncode == 0, f"{script.parent.name} failed:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])
