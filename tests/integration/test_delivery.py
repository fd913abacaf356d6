"""The one send-and-wait-for-ack helper against the real broker of the local stack."""

from __future__ import annotations

import pytest
from kafka import TopicPartition
from kafka.errors import MessageSizeTooLargeError

from newsflow.kafka.clients import make_consumer, make_producer
from newsflow.kafka.delivery import Outbox
from newsflow.kafka.topics import ensure_topics
from newsflow.settings import Settings
from newsflow.stack import StackStatus

pytestmark = pytest.mark.integration


def _read_all(settings: Settings, topic: str) -> list[tuple[bytes, bytes]]:
    consumer = make_consumer(settings, None, consumer_timeout_ms=3000)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return sorted((r.key, r.value) for r in consumer)
    finally:
        consumer.close()


def test_acknowledged_records_are_on_the_topic(stack: StackStatus, settings: Settings) -> None:
    ensure_topics(settings)
    producer = make_producer(settings)
    try:
        outbox: Outbox[int] = Outbox(producer, settings.topics.raw)
        for n in range(20):
            outbox.send(n, f"k{n:02d}".encode(), f"v{n}".encode())
        assert len(outbox) == 20
        settled = outbox.settle(timeout=30)
        assert sorted(settled.acked) == list(range(20)) and settled.failed == []
        assert len(outbox) == 0 and outbox.settle().acked == []
        # Larger than the producer may send: refused at once, nothing pending.
        too_big = b"x" * (settings.limits.max_message_bytes + 1)
        with pytest.raises(MessageSizeTooLargeError):
            outbox.send(99, b"big", too_big)
        assert len(outbox) == 0
    finally:
        producer.close(timeout=10)
    records = _read_all(settings, settings.topics.raw)
    assert records == [(f"k{n:02d}".encode(), f"v{n}".encode()) for n in range(20)]
