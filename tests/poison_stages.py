"""Stages for testing how a worker survives its stage: they hang in C, crash or fail on cue.

They run inside the stage's child process (consumers.runner), which imports this module by
name: pytest puts tests/ on sys.path (the root conftest lives here) and a spawned child
inherits the parent's sys.path.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from consumers.runner import StageFn, more_time
from schemas import CleanReason, Stage
from schemas.failures import PermanentError


def on_cue() -> StageFn:
    """Upper-cases a message, unless it starts with a cue: hang-in-c, crash, hog (memory),
    fail, slow (``slow PATH``: creates the file PATH, then takes 1.5 s), nap (``nap N``:
    takes N s). ``more N`` first asks the worker for N s more (as a model load does), then
    the rest of the message is read for its cue."""

    def run(value: bytes) -> tuple[bytes, bytes]:
        if value.startswith(b"more "):
            seconds, value = value[5:].split(b" ", 1)
            more_time(float(seconds), "loading a model")
        if value.startswith(b"nap "):
            time.sleep(float(value[4:]))
        if value.startswith(b"slow "):
            Path(value[5:].decode()).touch()  # tells the test the message is in hand
            time.sleep(1.5)
        if value.startswith(b"hang-in-c"):
            # Catastrophic backtracking: one call into the C regex engine that holds the GIL
            # for longer than the universe is old. No signal handler runs until it returns.
            re.match(r"(a+)+$", "a" * 64 + "b")
        if value.startswith(b"crash"):
            os.kill(os.getpid(), signal.SIGSEGV)
        if value.startswith(b"hog"):
            # Up to 3 GB, 64 MB at a time (calloc'd, so pages are reserved, not touched): a
            # page that makes a parser allocate without end. Uncapped, it returns.
            held = [bytes(64 * 2**20) for _ in range(48)]
            del held
        if value.startswith(b"fail"):
            raise PermanentError(Stage.CLEAN, CleanReason.EMPTY, "the message asked for it")
        return value[:16], value.upper()

    return run


def never_starts() -> StageFn:
    """A stage whose model cannot load."""
    raise RuntimeError("model file missing")


def file_stage_never_starts(fmt: str, tag: bool, limits: object) -> StageFn:
    """`newsflow clean`'s stage, when its model cannot load (``--tag`` without spaCy's)."""
    raise RuntimeError("model file missing")
