"""What the worker loop (consumers.loop) works with: its sinks, its batch and poll policies,
its counters, and the dead letter it makes of a failed record.

Kept apart from the loop so sinks and workers can name these without the loop's machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition

from schemas import DeadLetter
from schemas.failures import PermanentError


class Sink(Protocol):
    """Where a worker's results go; ``flush`` makes everything added so far durable."""

    def pending(self) -> int: ...

    def pending_bytes(self) -> int: ...

    def flush(self) -> list[tuple[ConsumerRecord, PermanentError]]:
        """Writes the batch; returns records rejected for good, raises TransientError."""
        ...


@dataclass(frozen=True)
class Rest:
    """What a flush that sent every record of its batch back to its topic, none of them due
    for ``seconds``, allows: those partitions need not be read again before then (reading
    them would only send the same records back), unless something else arrives on them."""

    seconds: float
    #: Records the flush sent back to each partition the batch came from.
    sent_back: dict[TopicPartition, int]


@runtime_checkable
class Resting(Protocol):
    """A sink that may send a whole batch back to wait (the fetch sink's deferred links)."""

    def rest(self) -> Rest | None:
        """The rest the last flush allows (None: read on), handed out once."""
        ...


@runtime_checkable
class Holding(Protocol):
    """A sink that keeps records unfinished across flushes (the fetch sink's window of links
    in flight): the loop commits each partition only up to its first unfinished record."""

    def full(self) -> bool:
        """Whether the sink takes no more records until a flush finishes some."""
        ...

    def takes(self, record: ConsumerRecord) -> bool:
        """Whether the sink takes ``record`` now; if not, the loop hands over nothing more of
        its partition (order within a partition is kept) and reads no further on it, until
        the sink takes it (the fetch sink: its host has enough links waiting already)."""
        ...

    def held(self) -> dict[TopicPartition, int]:
        """The first offset per partition whose record is not finished yet."""
        ...

    def release(self, revoked: set[TopicPartition]) -> dict[TopicPartition, int]:
        """Forgets the records of revoked partitions; returns each one's first offset."""
        ...


class DeadLetters(Protocol):
    """Where dead letters go; ``write`` returns once they are durable."""

    def write(self, letters: list[DeadLetter]) -> None: ...


Handler = Callable[[ConsumerRecord], None]


@dataclass(frozen=True)
class BatchPolicy:
    """When a batch is flushed: whichever of count, bytes or age is reached first.

    A batch is also flushed as soon as the worker has nothing more in hand and is caught up
    with the broker (its last poll brought nothing new, or every record its last fetches saw
    has been handed over), once it is ``idle_seconds`` old: with a backlog batches still fill
    up to their limits, while a trickle of records is not held back for the whole
    ``max_seconds`` (on the index worker that wait was up to a second of produce ->
    searchable latency).
    """

    max_records: int = 500
    max_bytes: int = 5_000_000
    max_seconds: float = 1.0
    idle_seconds: float | None = None


@dataclass(frozen=True)
class LoopPolicy:
    """How the loop stays responsive to its group while it works."""

    #: Longest stretch of stage work between two calls to ``poll``.
    poll_interval: float = 0.5
    #: Records held locally; above this the assigned partitions are paused.
    buffer_records: int = 50


@dataclass
class LoopStats:
    consumed: int = 0
    dead_lettered: int = 0
    flushes: int = 0
    retries: int = 0
    rebalances: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    #: The loop ended because it was told to (SIGTERM/SIGINT), not because it was drained.
    signalled: bool = False


#: The Kafka header `newsflow dlq replay` puts on a message it sends back: how many times
#: the message had failed (its dead letter's ``attempts``). A worker that dead-letters it
#: again counts one more, and replay gives up on a message that failed too often, so a
#: poison message cannot go round dead letter -> replay -> dead letter for good.
FAILED_BEFORE_HEADER = "newsflow-failed-before"

Headers = list[tuple[str, bytes]]


def failed_before(record: ConsumerRecord) -> int:
    """How many times ``record``'s message had failed before (0 unless a replay sent it)."""
    for name, value in record.headers or ():
        if name == FAILED_BEFORE_HEADER:
            try:
                return max(0, int(value))
            except ValueError:
                return 0
    return 0


def failed_before_header(times: int) -> Headers:
    """The headers that tell a worker a message already failed ``times`` times."""
    return [(FAILED_BEFORE_HEADER, str(times).encode())] if times > 0 else []


def dead_letter(record: ConsumerRecord, error: PermanentError) -> DeadLetter:
    """The dead-letter record for a message that failed for good, with its original bytes
    and how many times it has failed now."""
    return DeadLetter(
        original=record.value or b"",
        original_key=record.key,
        stage=error.stage,
        error_type=error.reason,
        error_message=error.message[:2000],
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        attempts=failed_before(record) + 1,
    )
