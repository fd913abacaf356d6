"""Reading a compacted topic as a table: the latest value of every key.

A compacted topic keeps (at least) the last message per key for good, so reading it from the
beginning to its end offsets rebuilds the state its writers left, whichever process or
machine wrote it. The feed poller keeps each feed's state this way.
"""

from __future__ import annotations

import time

from kafka.structs import TopicPartition

from newsflow.kafka.clients import make_consumer
from newsflow.settings import Settings


def read_table(settings: Settings, topic: str, timeout: float = 60.0) -> dict[bytes, bytes]:
    """Key -> latest value of ``topic`` (a key whose latest value is empty is deleted)."""
    consumer = make_consumer(settings, None)
    try:
        deadline = time.monotonic() + timeout
        partitions = consumer.partitions_for_topic(topic)
        while not partitions and time.monotonic() < deadline:
            time.sleep(0.2)  # a topic created a moment ago: its metadata is on its way
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise TimeoutError(f"topic {topic} has no partitions after {timeout:g} s")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        table: dict[bytes, bytes] = {}
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end in {timeout:g} s")
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    if record.key is None:
                        continue
                    if record.value:
                        table[record.key] = record.value
                    else:
                        table.pop(record.key, None)
        return table
    finally:
        consumer.close()
