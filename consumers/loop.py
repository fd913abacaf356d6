"""The thin at-least-once consumer loop that every worker runs.

poll -> handle each record (a pure stage) -> add results to a sink -> when the batch is due
(count, bytes or age), flush the sink, write dead letters, and only then commit the offsets.
A flush that fails transiently is retried with backoff and nothing is committed meanwhile, so
a crash at any point replays the uncommitted records; downstream writes are keyed by article
id, so a replay overwrites instead of duplicating.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata, TopicPartition

from newsflow.kafka.delivery import Outbox
from schemas import AnyStageReason, DeadLetter, Stage
from schemas.failures import PermanentError, TransientError, describe

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Where a worker's results go; ``flush`` makes everything added so far durable."""

    def pending(self) -> int: ...

    def pending_bytes(self) -> int: ...

    def flush(self) -> list[tuple[ConsumerRecord, PermanentError]]:
        """Writes the batch; returns records rejected for good, raises TransientError."""
        ...


Handler = Callable[[ConsumerRecord], None]


@dataclass(frozen=True)
class BatchPolicy:
    """When a batch is flushed: whichever of count, bytes or age is reached first."""

    max_records: int = 500
    max_bytes: int = 5_000_000
    max_seconds: float = 1.0


@dataclass
class LoopStats:
    consumed: int = 0
    dead_lettered: int = 0
    flushes: int = 0
    retries: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def dead_letter(record: ConsumerRecord, error: PermanentError) -> DeadLetter:
    """The dead-letter record for a message that failed for good, with its original bytes."""
    return DeadLetter(
        original=record.value or b"",
        original_key=record.key,
        stage=error.stage,
        error_type=error.reason,
        error_message=error.message[:2000],
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
    )


class DeadLetterWriter:
    """Publishes dead letters and waits for the broker's acknowledgement."""

    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        self.topic = topic
        self._outbox: Outbox[DeadLetter] = Outbox(producer, topic)

    def write(self, letters: list[DeadLetter]) -> None:
        for letter in letters:
            self._outbox.send(letter, letter.original_key, letter.model_dump_json().encode())
        settled = self._outbox.settle(timeout=30)
        if settled.failed:
            # The whole batch is written again on the retry: a letter twice beats none.
            error = settled.failed[0][1]
            raise TransientError(f"dead-letter topic not acknowledging: {error}") from error


class WorkerLoop:
    """Polls, hands records to the stage, flushes the sink, dead-letters, then commits."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        topic: str,
        handler: Handler,
        sink: Sink,
        dlq: DeadLetterWriter,
        policy: BatchPolicy,
        name: str = "worker",
        stage: Stage = Stage.CLEAN,
    ) -> None:
        self.consumer = consumer
        self.topic = topic
        self.handler = handler
        self.sink = sink
        self.dlq = dlq
        self.policy = policy
        self.name = name
        self.stage = stage
        self.stats = LoopStats()
        self._offsets: dict[TopicPartition, int] = {}
        self._dead: list[DeadLetter] = []
        self._batch_started: float | None = None
        self._stopping = False
        self._signals = 0

    # --- lifecycle -----------------------------------------------------------------------

    def stop(self) -> None:
        """Asks the loop to finish the batch in hand, commit and return."""
        self._stopping = True

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals > 1:
            # A second Ctrl-C means "now": nothing is committed, so nothing is lost either.
            raise KeyboardInterrupt
        log.info(
            "%s: %s received, finishing the batch in hand", self.name, signal.Signals(signum).name
        )
        self.stop()

    def run(
        self, idle_exit_seconds: float | None = None, max_wait_seconds: float = 120.0
    ) -> LoopStats:
        """Runs until stopped (SIGTERM/SIGINT) or, with ``idle_exit_seconds``, until drained.

        Drained means: every assigned partition is at its end offset and nothing arrived for
        ``idle_exit_seconds``. ``max_wait_seconds`` bounds the wait for a first assignment.
        """
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        self.consumer.subscribe([self.topic], listener=_Rebalance(self))
        started = last_record = time.monotonic()
        try:
            while not self._stopping:
                batch = self.consumer.poll(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        self._handle(record)
                    last_record = time.monotonic()
                if self._due():
                    self._flush_and_commit()
                if idle_exit_seconds is not None and not batch:
                    if self._pending():
                        self._flush_and_commit()
                    idle = time.monotonic() - last_record
                    if not self.consumer.assignment():
                        if time.monotonic() - started > max_wait_seconds:
                            log.warning("%s: no partitions assigned, giving up", self.name)
                            break
                    elif idle >= idle_exit_seconds and self._drained():
                        break
            self._flush_and_commit()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.consumer.close(autocommit=False)
        log.info(
            "%s: stopped after %d records (%d dead-lettered)",
            self.name,
            self.stats.consumed,
            self.stats.dead_lettered,
        )
        return self.stats

    # --- per record ----------------------------------------------------------------------

    def _handle(self, record: ConsumerRecord) -> None:
        if self._batch_started is None:
            self._batch_started = time.monotonic()
        self.stats.consumed += 1
        try:
            self.handler(record)
        except PermanentError as exc:
            self._add_dead(record, exc)
        except TransientError:
            raise
        except Exception as exc:  # a bug in a stage must cost one message, not the worker
            # One line per message; the traceback only with -v, or a flood of bad input
            # would bury the log.
            log.debug("%s: stage error", self.name, exc_info=True)
            error = PermanentError(self.stage, AnyStageReason.UNEXPECTED, describe(exc))
            self._add_dead(record, error)
        tp = TopicPartition(record.topic, record.partition)
        self._offsets[tp] = record.offset + 1

    def _add_dead(self, record: ConsumerRecord, error: PermanentError) -> None:
        log.warning(
            "%s: dead-lettering %s[%d]@%d: %s",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            error,
        )
        self._dead.append(dead_letter(record, error))
        self.stats.dead_lettered += 1
        self.stats.reasons[error.reason] = self.stats.reasons.get(error.reason, 0) + 1

    # --- batches -------------------------------------------------------------------------

    def _pending(self) -> bool:
        return bool(self._offsets) or self.sink.pending() > 0 or bool(self._dead)

    def _due(self) -> bool:
        if self._batch_started is None:
            return False
        return (
            self.sink.pending() + len(self._dead) >= self.policy.max_records
            or self.sink.pending_bytes() >= self.policy.max_bytes
            or time.monotonic() - self._batch_started >= self.policy.max_seconds
        )

    def _flush_and_commit(self) -> None:
        if not self._pending():
            return
        delay = 0.5
        while True:
            try:
                rejected = self.sink.flush()
                for record, error in rejected:
                    self._add_dead(record, error)
                if self._dead:
                    self.dlq.write(self._dead)
                break
            except TransientError as exc:
                self.stats.retries += 1
                log.warning(
                    "%s: downstream unavailable (%s); retrying in %.1f s", self.name, exc, delay
                )
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        self._dead = []
        offsets = {tp: OffsetAndMetadata(off, "", -1) for tp, off in self._offsets.items()}
        self._offsets = {}
        self._batch_started = None
        self.stats.flushes += 1
        try:
            self.consumer.commit(offsets)
        except CommitFailedError as exc:
            # The group rebalanced while we worked: the new owner replays these records, and
            # the keyed writes make that replay harmless.
            log.warning(
                "%s: commit failed after a rebalance (%s); records will replay", self.name, exc
            )

    def _drained(self) -> bool:
        assigned = list(self.consumer.assignment())
        if not assigned:
            return False
        ends: dict[TopicPartition, int] = self.consumer.end_offsets(assigned)
        return all(self.consumer.position(tp) >= ends.get(tp, 0) for tp in assigned)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Flushes and commits what we hold before partitions move to another worker."""

    def __init__(self, loop: WorkerLoop) -> None:
        self.loop = loop

    def on_partitions_revoked(self, revoked: Any) -> None:
        if self.loop._pending():
            self.loop._flush_and_commit()

    def on_partitions_assigned(self, assigned: Any) -> None:
        # An empty assignment is the first step of every join; only the real one is news.
        log.log(
            logging.INFO if assigned else logging.DEBUG,
            "%s: assigned %s",
            self.loop.name,
            sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned),
        )
