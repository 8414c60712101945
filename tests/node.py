"""Node.js tools the tests drive (graphql-http's audit, Apollo Client, Apollo Gateway): npm
packages installed into a temporary folder beside a script, and the script run."""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import subprocess
import threading
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


class Running:
    """A script run beside the test, which it tells lines and which answers line by line (each
    line JSON): for a conversation, such as a subscription the test writes to while it is
    open."""

    def __init__(self, script: Path, *args: str) -> None:
        self.name = script.parent.name
        self.process = subprocess.Popen(
            [NODE, str(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=script.parent,
            env={"AUDIT_KEY": SUITE_KEY, "PATH": "/usr/bin:/bin:/usr/local/bin"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.errors: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_errors, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        self.errors.extend(self.process.stderr)

    def line(self, within_s: float) -> Any:
        """The script's next output line, as JSON; fails after `within_s` without one."""
        try:
            line = self.lines.get(timeout=within_s)
        except queue.Empty:
            raise AssertionError(f"{self.name} said nothing in {within_s} s") from None
        if line is None:
            self.process.wait(timeout=10)
            stderr = "".join(self.errors)[-3000:]
            raise AssertionError(f"{self.name} ended ({self.process.returncode}):\n{stderr}")
        return json.loads(line)

    def tell(self, line: str) -> None:
        """Writes a line to the script's input."""
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        """Closes the script's input (its cue to end), and kills it if it has not ended in
        10 s."""
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
