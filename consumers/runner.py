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

The child is a fresh interpreter (`python -m consumers.runner FD`), never a fork of the
worker: a fork would copy the Kafka client's threads' locks mid-use. It is started directly
rather than by multiprocessing's "spawn", which re-runs the parent's ``__main__`` in the
child (a CLI or test runner without a main guard would start itself again). Parent and child
talk over a socket pair with multiprocessing's message framing: the parent first sends the
pickled stage factory, the child builds the stage (loading its models) and says it is ready,
then it answers one message at a time with the stage's result or its PermanentError. A child
that dies (a crash in C, out of memory) costs the message it was working on, which is
dead-lettered with a reason, and a new child is started for the next one.

Work that is the process's and not the message's may ask for more time while a message is
in hand (``more_time``): the stage loads a language's NER model when the first article in
that language comes (a French model took 6 s of CPU to load here, most of the time limit),
and that must not make the article a timeout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
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
_MORE_TIME = "more_time"

# In a stage's child: the connection to the worker, for ``more_time`` (None elsewhere).
_parent: Connection | None = None


def more_time(seconds: float, why: str) -> None:
    """Asks the worker for ``seconds`` more on the message in hand, for work that is not the
    message's own (loading a model the first article of its language needs). Called from a
    stage in its child process; elsewhere (a stage run in-process, tests) it does nothing."""
    if _parent is not None:
        with contextlib.suppress(OSError):  # the worker is gone: the child ends soon anyway
            _parent.send_bytes(pickle.dumps((_MORE_TIME, seconds, why)))


class StageStartError(RuntimeError):
    """The stage's child process could not start (an import or model load failed)."""


def _cap_memory(limit: int) -> None:
    """Caps this process's address space at ``limit`` bytes (0: no cap).

    Past it an allocation fails: Python raises MemoryError (answered as "out_of_memory"), C
    code that cannot cope dies (answered as "stage_crashed" by the parent). Either costs one
    message, not the host's memory. The address space, not the resident size: the kernel
    enforces it at allocation time, and a stage's mappings are mostly its own heap.
    """
    if limit <= 0:
        return
    # Only ever lowered: a process started under a lower cap (a container's, a caller's
    # ulimit) keeps it, and raising a hard limit is refused (ValueError) anyway.
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)

    def lowered(current: int) -> int:
        return limit if current == resource.RLIM_INFINITY else min(current, limit)

    resource.setrlimit(resource.RLIMIT_AS, (lowered(soft), lowered(hard)))


def _child_main(conn: Connection, parent: int, memory_limit: int = 0) -> None:
    """The child's loop: build the stage once, then answer one message at a time."""
    global _parent
    _cap_memory(memory_limit)
    try:
        try:
            factory: StageFactory = pickle.loads(conn.recv_bytes())
            stage = factory()
        except BaseException as exc:
            conn.send_bytes(pickle.dumps(("start_failed", describe(exc))))
            return
        conn.send_bytes(_READY)
    except (EOFError, OSError):
        return  # the worker died (or was killed) while this child was loading its stage
    # From now on a message is in hand whenever the stage runs: more_time may ask for some.
    # (Building the stage has the start's own, longer limit.)
    _parent = conn
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
        except MemoryError:
            # The parent replaces this child after this answer (StageProcess.run).
            answer = (
                "failed",
                "",
                str(AnyStageReason.OUT_OF_MEMORY),
                f"the stage needed more than its {memory_limit // 2**20} MB of memory",
            )
        except PermanentError as exc:
            answer = ("failed", str(exc.stage), str(exc.reason), exc.message)
        except Exception as exc:  # a bug in a stage costs one message, not the child
            log.debug("stage error", exc_info=True)
            answer = ("failed", "", str(AnyStageReason.UNEXPECTED), describe(exc)[:2000])
        try:
            conn.send_bytes(pickle.dumps(answer))
        except OSError:
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
        memory_limit: int = 0,
    ) -> None:
        self.factory = factory
        #: The child's address space in bytes (0: uncapped); see _cap_memory.
        self.memory_limit = memory_limit
        self.timeout = timeout
        self.stage = stage
        self.start_timeout = start_timeout
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._started = False

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Starts the child and waits until its stage is built (models loaded)."""
        if self._proc is not None and self._proc.poll() is None:
            return
        if self._started:
            self.restarts += 1
        self._started = True
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        # The child imports what the factory names from the same places the parent does.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        level = logging.getLogger().getEffectiveLevel()
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "consumers.runner",
                    str(theirs.fileno()),
                    str(os.getpid()),
                    str(level),
                    str(self.memory_limit),
                ],
                pass_fds=(theirs.fileno(),),
                env=env,
            )
        finally:
            theirs.close()
        conn = Connection(ours.detach())
        self._proc, self._conn = proc, conn
        try:
            conn.send_bytes(pickle.dumps(self.factory))
            ready = conn.poll(self.start_timeout)
        except OSError:
            ready = True  # it is gone already; recv below says how
        if not ready:
            self._kill()
            raise StageStartError(f"{self.stage} stage did not start in {self.start_timeout:g} s")
        try:
            first = conn.recv_bytes()
        except (EOFError, OSError):
            code = proc.poll()
            self._kill()
            raise StageStartError(f"{self.stage} stage exited on start (code {code})") from None
        if first != _READY:
            _, detail = pickle.loads(first)
            self._kill()
            raise StageStartError(f"{self.stage} stage failed to start: {detail}")

    def close(self, grace: float = 5.0) -> None:
        """Stops the child: closing the socket ends its loop; a child still busy after
        ``grace`` seconds (0: one being abandoned, on Ctrl-C) is killed."""
        if self._conn is not None:
            self._conn.close()
        if self._proc is not None:
            try:
                self._proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = self._conn = None

    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=10)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    # --- one message ---------------------------------------------------------------------

    def run(self, value: bytes) -> tuple[bytes, bytes]:
        """The stage's (key, value) for one message, or PermanentError saying why not."""
        if self._proc is None or self._proc.poll() is not None:
            self.start()
        assert self._conn is not None and self._proc is not None
        started = time.monotonic()
        deadline, granted = started + self.timeout, 0.0
        with contextlib.suppress(OSError):  # the child is gone; recv below says how
            self._conn.send_bytes(value)
        while True:
            try:
                ready = self._conn.poll(max(0.0, deadline - time.monotonic()))
            except OSError:
                ready = True
            if not ready:
                self._kill()
                raise PermanentError(
                    self.stage,
                    AnyStageReason.TIMEOUT,
                    f"the {self.stage} stage took longer than {self.timeout:g} s"
                    + (f" (and {granted:g} s more it asked for)" if granted else "")
                    + "; its process was killed",
                )
            try:
                answer = pickle.loads(self._conn.recv_bytes())
            except (EOFError, OSError):
                answer = None
            if answer is None or answer[0] != _MORE_TIME:
                break
            _, seconds, why = answer
            deadline += seconds
            granted += seconds
            log.info("%s stage: %s; %g s more for this message", self.stage, why, seconds)
        if answer is None:
            code = None
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._proc.wait(timeout=5)
            self._kill()
            raise PermanentError(
                self.stage,
                AnyStageReason.STAGE_CRASHED,
                f"the {self.stage} stage process died on this message (exit code {code}) "
                f"after {time.monotonic() - started:.1f} s",
            )
        if answer[0] == "ok":
            return answer[1], answer[2]
        _, stage, reason, message = answer
        if reason == AnyStageReason.OUT_OF_MEMORY:
            # A heap that hit the cap stays large and fragmented: the next message gets a
            # fresh child, as after a crash.
            self._kill()
        raise PermanentError(Stage(stage) if stage else self.stage, reason, message)


if __name__ == "__main__":
    # The child: `python -m consumers.runner FD PARENT_PID LOG_LEVEL MEMORY_LIMIT`, from
    # StageProcess.start.
    # Ctrl-C in a terminal signals the whole process group, this child too. The parent decides
    # what it means (a worker finishes its message and stops; `clean` stops), and the child
    # ends when the parent closes the socket or kills it; dying of KeyboardInterrupt here
    # turned the message in hand into a `stage_crashed` dead letter, with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=int(sys.argv[3]), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Run by the module the stages import (for more_time), not by this copy of it that
    # `python -m` runs as __main__.
    from consumers import runner

    runner._child_main(Connection(int(sys.argv[1])), int(sys.argv[2]), int(sys.argv[4]))
