"""Where a CPU-heavy stage runs: a child process with a hard time limit per message.

Why a child process and not a thread or an alarm:
- The Kafka client keeps its group membership alive from threads of the worker process
  (kafka-python 3 runs heartbeats, fetches and joins on an IO thread). A page parse holds the
  GIL for long stretches in C (lxml, regular expressions); measured here, one such stretch
  starved the client's IO thread for 19 s, long enough for the group to stall. In a child,
  the stage competes with nothing in the worker process.
- A time limit by SIGALRM raises an ordinary exception that library code catches (trafilatura
  has ``except Exception`` around its extractors) and cannot interrupt a C call at all. A
  child that misses its deadline is killed; that always works.

The protocol is one message at a time over a pipe: the parent sends the message's bytes, the
child answers with the stage's result or its PermanentError. A child that dies (a crash in C,
out of memory) costs the message it was working on, which is dead-lettered with a reason, and
a new child is started for the next one.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from schemas import AnyStageReason, Stage
from schemas.failures import PermanentError, describe

log = logging.getLogger(__name__)

#: The stage a child runs: message bytes in, (key, value) out, PermanentError when it fails.
StageFn = Callable[[bytes], tuple[bytes, bytes]]
#: Builds the stage inside the child (loading models there, not in the worker process). It
#: must be picklable: a module-level function or a functools.partial of one.
StageFactory = Callable[[], StageFn]

_READY = b"ready"


class StageStartError(RuntimeError):
    """The stage's child process could not start (an import or model load failed)."""


def _child_main(conn: Connection, factory: StageFactory, parent: int, log_level: int) -> None:
    """The child's loop: build the stage once, then answer one message at a time."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        try:
            stage = factory()
        except BaseException as exc:
            conn.send_bytes(pickle.dumps(("start_failed", f"{type(exc).__name__}: {exc}")))
            return
        conn.send_bytes(_READY)
    except (BrokenPipeError, OSError):
        return  # the worker died (or was killed) while this child was loading its stage
    while True:
        # Wake up now and then to notice a parent that died without closing the pipe (kill -9):
        # a child must never outlive its worker.
        while not conn.poll(1.0):
            if os.getppid() != parent:
                return
        try:
            value = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            key, out = stage(value)
            answer: tuple[Any, ...] = ("ok", key, out)
        except PermanentError as exc:
            answer = ("failed", str(exc.stage), str(exc.reason), exc.message)
        except Exception as exc:  # a bug in a stage costs one message, not the child
            log.debug("stage error", exc_info=True)
            answer = ("failed", "", str(AnyStageReason.UNEXPECTED), describe(exc)[:2000])
        try:
            conn.send_bytes(pickle.dumps(answer))
        except (BrokenPipeError, OSError):
            return


class StageProcess:
    """Runs a stage in a child process; ``run`` returns its result within ``timeout`` or fails.

    ``run`` raises PermanentError(stage, "timeout") when the child misses the deadline (it is
    killed and replaced) and PermanentError(stage, "stage_crashed") when it died on the message.
    """

    def __init__(
        self,
        factory: StageFactory,
        timeout: float,
        stage: Stage,
        start_timeout: float = 300.0,
    ) -> None:
        self.factory = factory
        self.timeout = timeout
        self.stage = stage
        self.start_timeout = start_timeout
        self.restarts = 0
        # spawn: a fresh interpreter, never a fork of a process whose Kafka client threads
        # may hold locks at the moment of the fork.
        self._ctx = multiprocessing.get_context("spawn")
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._started = False

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Starts the child and waits until its stage is built (models loaded)."""
        if self._proc is not None and self._proc.is_alive():
            return
        if self._started:
            self.restarts += 1
        self._started = True
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(
            target=_child_main,
            args=(child_end, self.factory, os.getpid(), logging.getLogger().getEffectiveLevel()),
            name=f"newsflow-{self.stage}-stage",
            daemon=True,
        )
        proc.start()
        child_end.close()
        self._proc, self._conn = proc, parent_end
        if not parent_end.poll(self.start_timeout):
            self._kill()
            raise StageStartError(f"{self.stage} stage did not start in {self.start_timeout:g} s")
        try:
            first = parent_end.recv_bytes()
        except (EOFError, OSError):
            code = proc.exitcode
            self._kill()
            raise StageStartError(f"{self.stage} stage exited on start (code {code})") from None
        if first != _READY:
            _, detail = pickle.loads(first)
            self._kill()
            raise StageStartError(f"{self.stage} stage failed to start: {detail}")

    def close(self) -> None:
        """Stops the child (closing the pipe ends its loop; a stuck child is killed)."""
        if self._conn is not None:
            self._conn.close()
        if self._proc is not None:
            self._proc.join(timeout=5)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(timeout=5)
        self._proc = self._conn = None

    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _kill(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout=10)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    # --- one message ---------------------------------------------------------------------

    def run(self, value: bytes) -> tuple[bytes, bytes]:
        """The stage's (key, value) for one message, or PermanentError saying why not."""
        if self._proc is None or not self._proc.is_alive():
            self.start()
        assert self._conn is not None and self._proc is not None
        started = time.monotonic()
        try:
            self._conn.send_bytes(value)
            ready = self._conn.poll(self.timeout)
        except (BrokenPipeError, OSError):
            ready = True  # the child is gone; recv below says how
        if not ready:
            self._kill()
            raise PermanentError(
                self.stage,
                AnyStageReason.TIMEOUT,
                f"the {self.stage} stage took longer than {self.timeout:g} s; "
                "its process was killed",
            )
        try:
            answer = pickle.loads(self._conn.recv_bytes())
        except (EOFError, OSError):
            code = self._proc.exitcode
            with contextlib.suppress(Exception):
                self._proc.join(timeout=5)
                code = self._proc.exitcode
            self._kill()
            raise PermanentError(
                self.stage,
                AnyStageReason.STAGE_CRASHED,
                f"the {self.stage} stage process died on this message (exit code {code}) "
                f"after {time.monotonic() - started:.1f} s",
            ) from None
        if answer[0] == "ok":
            return answer[1], answer[2]
        _, stage, reason, message = answer
        raise PermanentError(Stage(stage) if stage else self.stage, reason, message)
