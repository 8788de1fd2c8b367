"""A real terminal for the end-to-end tests: a private tmux session running the real command,
whose screen they read and whose keys they press."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

STARTUP_TIMEOUT = 90.0  # importing torch and building the run on a slow 2-core box


class Terminal:
    """A detached tmux session running one shell command; its exit code lands in a file."""

    def __init__(self, workdir: Path, width: int = 120, height: int = 40) -> None:
        self.workdir = workdir
        self.width, self.height = width, height
        self.socket = f"cnntui-e2e-{uuid.uuid4().hex[:8]}"
        self.rc_file = workdir / f"rc-{self.socket}"

    def tmux(self, *args: str) -> str:
        # os.environ, not the inherited C environment: under pytest that can carry COLUMNS=80
        # and LINES=24, which would make the app believe the terminal is 80x24.
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
        # Bounded: a wedged tmux fails the test instead of hanging the suite.
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True, text=True, check=True, env=env, timeout=60,
        )  # fmt: skip
        return result.stdout

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        command = " ".join(shlex.quote(a) for a in argv)
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        shell = (
            f"unset COLUMNS LINES; cd {shlex.quote(str(self.workdir))} && {exports} {command}; "
            f"echo $? > {shlex.quote(str(self.rc_file))}; sleep 60"
        )
        self.tmux(
            "new-session", "-d", "-s", "e2e", "-x", str(self.width), "-y", str(self.height), shell
        )

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "e2e")

    def press(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", "e2e", key)
            time.sleep(0.15)

    def wait_for(self, *texts: str, timeout: float = 30.0) -> str:
        """The screen once it shows every one of `texts`; fails with the screen otherwise."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            if self.rc_file.exists():
                break
            time.sleep(0.2)
        pytest.fail(f"screen never showed {texts!r}:\n{screen}")

    def exit_code(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.rc_file.exists() and self.rc_file.read_text().strip():
                return int(self.rc_file.read_text())
            time.sleep(0.2)
        pytest.fail(f"the command did not exit:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=60)


def cnntui(*args: str) -> list[str]:
    return [sys.executable, "-m", "cnntui", *args]
