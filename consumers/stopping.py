"""SIGTERM and SIGINT before a worker's loop runs: a clean exit that consumed nothing.

consumers.loop's WorkerLoop.run takes the two signals over once it starts: finish the batch
in hand, commit, exit 0. Before that the process had Python's defaults: a worker SIGTERMed
while it imported its modules, waited for Kafka or loaded its stage's models died of the
signal (exit -15) with no line in its log, as a rolling restart or a scale-down saw when it
caught a worker still starting.

``EarlyStop`` holds the signals from the first moment the command runs. Until ``arm`` (while
modules are still being imported, where an exception would come out as a traceback) it only
remembers a signal; from ``arm`` on, and at ``arm`` if one came meanwhile, it raises
``StoppedAtStart``, which unwinds start-up through its ``finally`` blocks (a stage child is
stopped, clients closed) and which the CLI turns into one log line and exit 0. Nothing was
consumed, so nothing is lost and nothing needs committing.

Once the loop has ended (``loop_ended``) a signal is only logged. What the worker owed is
committed by then: the loop commits a batch only after its sends were acknowledged, and a
batch it did not commit replays. Raising then cut the clients' close short (the producer's,
the stage child's) and replaced the worker's summary with "stopped before its loop ran or
after it ended", for nothing.

Only the standard library here: it is imported before anything heavy.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)

#: The signals a worker stops on.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StoppedAtStart(BaseException):
    """A stop signal came before the worker's loop ran.

    A BaseException, as KeyboardInterrupt is: start-up code that catches Exception (waiting
    for a broker, loading a model) must not swallow it.
    """

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"{signal_name} received during start-up")
        self.signal_name = signal_name


class EarlyStop:
    """The stop signals' handler from process start until the worker loop takes them over."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._armed = False
        self._ended = False

    def install(self) -> None:
        for s in STOP_SIGNALS:
            signal.signal(s, self._on_signal)

    def arm(self) -> None:
        """From now on a stop signal raises StoppedAtStart (at once, if one came already)."""
        self._armed = True
        if self.received is not None:
            raise StoppedAtStart(self.received)

    def loop_ended(self) -> None:
        """The worker loop is over: from now on a stop signal is logged, not raised."""
        self._ended = True

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum).name
        if self._ended:
            log.info("%s received after the worker loop ended; closing", self.received)
            return
        if self._armed:
            raise StoppedAtStart(self.received)


def _installed() -> EarlyStop | None:
    """The EarlyStop holding SIGTERM, if one does."""
    early = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return early if isinstance(early, EarlyStop) else None


def loop_ended() -> None:
    """Tells the EarlyStop that holds the signals, if any, that the worker loop is over
    (called by the loop before it hands the signals back)."""
    if threading.current_thread() is not threading.main_thread():
        return
    early = _installed()
    if early is not None:
        early.loop_ended()


def arm_early_stop() -> None:
    """Arms the EarlyStop that holds the signals (installing one if none does: a worker run
    some other way than from `newsflow consume`); a no-op off the main thread, where Python
    sets no signal handler."""
    if threading.current_thread() is not threading.main_thread():
        return
    early = _installed()
    if early is None:
        early = EarlyStop()
        early.install()
    early.arm()
