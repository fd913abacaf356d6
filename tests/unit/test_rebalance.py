"""What the worker loop drops when partitions are revoked, and where it resumes reading."""

from __future__ import annotations

from collections import deque

from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition

from consumers.rebalance import drop_revoked


def _record(partition: int, offset: int) -> ConsumerRecord:
    return ConsumerRecord("t", partition, -1, offset, 0, 0, b"k", b"v", [], None, 1, 1, 0)


def test_revoked_partitions_leave_the_buffer_and_say_where_they_resume() -> None:
    buffer = deque([_record(0, 7), _record(1, 40), _record(0, 8), _record(2, 3), _record(1, 41)])
    kept, first = drop_revoked(buffer, {TopicPartition("t", 0), TopicPartition("t", 1)})
    assert [(r.partition, r.offset) for r in kept] == [(2, 3)]
    assert first == {TopicPartition("t", 0): 7, TopicPartition("t", 1): 40}


def test_a_revoked_partition_without_buffered_records_needs_no_rewind() -> None:
    buffer = deque([_record(2, 3), _record(2, 4)])
    kept, first = drop_revoked(buffer, {TopicPartition("t", 0)})
    assert list(kept) == list(buffer) and first == {}
