"""Sending to Kafka and waiting for the broker's acknowledgement: the one place it is done.

``Outbox.send`` hands a record to the producer and keeps its future; ``Outbox.settle``
flushes the producer and sorts every record sent since the last settle into acknowledged and
failed. The producers made by newsflow.kafka.clients wait for all in-sync replicas
(``acks=all``), so an acknowledged record is durable: callers commit offsets, count a record
as published or drop it from a retry buffer only once ``settle`` says it was acknowledged.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from kafka import KafkaProducer
from kafka.errors import KafkaError

T = TypeVar("T")


@dataclass
class Settled(Generic[T]):
    """The outcome of one settle: what the broker acknowledged and what failed, with why."""

    acked: list[T] = field(default_factory=list)
    failed: list[tuple[T, KafkaError]] = field(default_factory=list)


class Outbox(Generic[T]):
    """Records sent to one topic whose acknowledgement has not been checked yet.

    Each record travels with an item of the caller's (the article, the dead letter, the
    key and value to resend) so that ``settle`` can say which ones made it.
    """

    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self._pending: list[tuple[T, Any]] = []

    def __len__(self) -> int:
        return len(self._pending)

    def send(
        self,
        item: T,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Hands one record to the producer (which batches it on the wire).

        Raises the producer's KafkaError when it refuses the record at once: too large for
        the producer's limit, or no topic metadata within ``max_block_ms`` (broker down).
        """
        future = self.producer.send(self.topic, key=key, value=value, headers=headers)
        self._pending.append((item, future))

    def settle(self, timeout: float | None = None) -> Settled[T]:
        """Flushes the producer (waiting at most ``timeout`` seconds) and sorts every pending
        record into acknowledged and failed; the outbox is empty afterwards."""
        settled: Settled[T] = Settled()
        if not self._pending:
            return settled
        # A flush that times out leaves some records unsettled: they fail below, one by one.
        with contextlib.suppress(KafkaError):
            self.producer.flush(timeout=timeout)
        for item, future in self._pending:
            try:
                # Settled by the flush, or not within its timeout: never wait again here.
                future.get(timeout=0)
            except KafkaError as exc:
                settled.failed.append((item, exc))
            else:
                settled.acked.append(item)
        self._pending = []
        return settled
