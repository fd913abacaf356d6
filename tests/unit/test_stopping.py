"""The stop signals around a worker's loop (consumers.stopping), with real signals."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from consumers.stopping import STOP_SIGNALS, EarlyStop, StoppedAtStart, loop_ended


@pytest.fixture
def early() -> Iterator[EarlyStop]:
    """An EarlyStop holding SIGTERM and SIGINT; the previous handlers back afterwards."""
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    stop = EarlyStop()
    stop.install()
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def test_a_signal_before_arming_is_remembered_and_raised_at_arm(early: EarlyStop) -> None:
    signal.raise_signal(signal.SIGTERM)
    with pytest.raises(StoppedAtStart, match="SIGTERM received during start-up"):
        early.arm()


def test_a_signal_once_armed_stops_the_start_up(early: EarlyStop) -> None:
    early.arm()
    with pytest.raises(StoppedAtStart):
        signal.raise_signal(signal.SIGINT)


def test_a_signal_after_the_loop_ended_does_not_cut_the_close_short(early: EarlyStop) -> None:
    """A second SIGTERM after the loop handed the signals back raised StoppedAtStart inside
    the producer's close; what the loop owed was committed by then, so it is only noted."""
    early.arm()
    loop_ended()  # finds the installed EarlyStop, as WorkerLoop.run does
    signal.raise_signal(signal.SIGTERM)
    signal.raise_signal(signal.SIGINT)
    assert early.received == "SIGINT"
