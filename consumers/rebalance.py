"""The worker loop's rebalance listener: it only queues revocations, and never blocks.

kafka-python 3 calls the listener on the client's IO thread, where a flush or a commit would
stop heartbeats (or fail outright). So it only hands the revoked partitions to the loop
(consumers.loop), which drops their buffered records and uncommitted offsets on its own
thread; the new owner replays them from the last commit.
"""

from __future__ import annotations

import logging
import queue
from collections import deque
from typing import Any

from kafka import ConsumerRebalanceListener
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition

from consumers.health import Liveness

log = logging.getLogger("consumers.loop")  # its lines read as the loop's, as they always have


class Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Queues revocations for the loop and tells its liveness check about assignments."""

    def __init__(
        self, revocations: queue.SimpleQueue[set[TopicPartition]], liveness: Liveness, name: str
    ) -> None:
        self.revocations = revocations
        self.liveness = liveness
        self.name = name

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.revocations.put({TopicPartition(tp.topic, tp.partition) for tp in revoked})

    def on_partitions_lost(self, lost: Any) -> None:
        self.on_partitions_revoked(lost)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.liveness.assigned(bool(assigned))
        # An empty assignment is the first step of every join; only the real one is news.
        log.log(
            logging.INFO if assigned else logging.DEBUG,
            "%s: assigned %s",
            self.name,
            sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned),
        )


def drop_revoked(
    buffer: deque[ConsumerRecord], revoked: set[TopicPartition]
) -> tuple[deque[ConsumerRecord], dict[TopicPartition, int]]:
    """The buffered records of partitions still owned, and for each revoked partition the
    offset of its first dropped record (where reading must resume if it comes back)."""
    kept: deque[ConsumerRecord] = deque()
    first_dropped: dict[TopicPartition, int] = {}
    for record in buffer:
        tp = TopicPartition(record.topic, record.partition)
        if tp not in revoked:
            kept.append(record)
        elif tp not in first_dropped:  # a poll returns each partition's records in order
            first_dropped[tp] = record.offset
    return kept, first_dropped
