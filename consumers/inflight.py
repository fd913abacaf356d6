"""One batch's flush in a thread of its own, so the loop reads the next batch meanwhile.

Without it the index worker alternates: poll and parse a batch, then wait for Elasticsearch's
bulk answer, then commit. Elasticsearch sits idle while the worker reads, and the worker sits
idle while Elasticsearch indexes (80 % of the index worker's time was that wait). With a
batch in flight the two overlap.

The at-least-once contract does not change: a batch's offsets are committed only after its
flush (the bulk, its announcements and its dead letters) was acknowledged, and by the loop's
own thread (the Kafka consumer is not thread-safe). At most one batch is in flight, and the
next is handed over only after the previous one landed and was committed, so writes and
commits keep their order. A flush that fails transiently is retried here with backoff, as the
loop would; meanwhile the loop keeps answering its group.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition

from consumers.batches import DeadLetters, Sink, dead_letter
from schemas import DeadLetter
from schemas.failures import PermanentError, TransientError

log = logging.getLogger(__name__)

#: Longest wait between two attempts at a flush that fails transiently. Capped low for the
#: reason Kafka's reconnect backoff is (newsflow.kafka.clients): the wait grows while the
#: service is away, and the last one is served after it is back. At 30 s, indexing resumed
#: 22-26 s after Elasticsearch answered again (soak, Elasticsearch down 20 s and restarting
#: for ~20 s more); a refused attempt every 5 s costs it nothing, and 429s are still spaced.
MAX_RETRY_DELAY = 5.0
#: Wait before the second attempt; it doubles with each failure, up to MAX_RETRY_DELAY.
FIRST_RETRY_DELAY = 0.5


def retry_delay(failures: int) -> float:
    """Seconds to wait after ``failures`` transient failures in a row (1 or more)."""
    return min(FIRST_RETRY_DELAY * 2.0 ** min(failures - 1, 16), MAX_RETRY_DELAY)


@runtime_checkable
class Detachable(Protocol):
    """A sink whose batch can be flushed from another thread while it takes the next one."""

    def detach(self) -> Sink:
        """Everything added so far, as a sink of its own; this sink starts over empty."""
        ...


@dataclass
class Batch:
    """What one flush makes durable, and the offsets it allows to commit."""

    sink: Sink
    dead: list[DeadLetter]
    offsets: dict[TopicPartition, int]
    started: float
    # Filled in by the flight: records the sink refused for good (already dead-lettered).
    rejected: list[tuple[ConsumerRecord, PermanentError]] = field(default_factory=list)
    retries: int = 0


class Flight:
    """Flushes one batch in a daemon thread, retrying transient failures until it lands."""

    def __init__(self, batch: Batch, dlq: DeadLetters, name: str) -> None:
        self.batch = batch
        self._dlq = dlq
        self._name = name
        self._done = threading.Event()
        self._abort = threading.Event()
        # The last transient failure while it is still being retried (None once it landed).
        self.waiting: str | None = None
        # Whether the batch is durable (False after an abort: it must replay, not commit).
        self.flushed = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"{name}-flush", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._abort.is_set():
                try:
                    self._flush_once()
                    self.waiting = None
                    self.flushed = True
                    return
                except TransientError as exc:
                    self.batch.retries += 1
                    self.waiting = str(exc)
                    delay = retry_delay(self.batch.retries)
                    log.warning(
                        "%s: downstream unavailable (%s); retrying in %.1f s",
                        self._name,
                        exc,
                        delay,
                    )
                    self._abort.wait(delay)
        except BaseException as exc:  # handed to the loop's thread, which raises it
            self.error = exc
        finally:
            self._done.set()

    def _flush_once(self) -> None:
        rejected = self.batch.sink.flush()
        # Kept across attempts: a refused record is dead-lettered once, with the batch.
        self.batch.rejected += rejected
        self.batch.dead += [dead_letter(record, error) for record, error in rejected]
        if self.batch.dead:
            self._dlq.write(self.batch.dead)

    def landed(self, timeout: float = 0.0) -> bool:
        """Whether the flush is over (waiting up to ``timeout`` s); raises what it raised."""
        if not self._done.wait(timeout):
            return False
        if self.error is not None:
            raise self.error
        return True

    @property
    def aborted(self) -> bool:
        """Whether the flight was told to stop retrying."""
        return self._abort.is_set()

    def abort(self) -> None:
        """Stops retrying (the batch is not committed, so it replays); for a hard exit."""
        self._abort.set()
