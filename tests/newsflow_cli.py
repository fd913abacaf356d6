"""Running the `newsflow` command as a user does: a child process, its output and exit code.

The command is this checkout's console script. ``CLI_UNDER_TEST`` names another executable to
run instead (e.g. a script that runs an older checkout with ``PYTHONPATH``): that is how the
hostile-input regression tests were shown to fail on the code issue 15 was filed against,
while the tests themselves (and their fixtures) run on the current code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from newsflow.settings import Settings

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))


def command() -> list[str]:
    return [os.environ.get("CLI_UNDER_TEST") or NEWSFLOW]


def child_env(settings: Settings | None = None, **extra: str) -> dict[str, str]:
    """The environment of a child command: ours without any NEWSFLOW_* variable, then the
    variables that reproduce ``settings``, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    if settings is not None:
        env.update(settings.to_env())
    # Wide enough that rich never wraps a line a test looks for, whatever width the test
    # runner's own environment says (pytest-xdist's workers inherit a COLUMNS of 80).
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def run(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = 180.0,
    cwd: Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``newsflow ARGS`` with ``env`` (default: ``child_env()``); never raises on exit codes."""
    return subprocess.run(
        [*command(), *args],
        env=dict(env) if env is not None else child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        preexec_fn=preexec_fn,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    """Everything a command printed, stdout then stderr."""
    return result.stdout + result.stderr
