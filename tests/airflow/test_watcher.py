"""The enrichment watcher's producer against the real broker: batches, back-pressure, commits.

``IndexedBatchProducer`` (newsflow/enrichment/watcher.py) is driven here as the triggerer's
shared-stream manager drives it: ``open_stream`` is read, and each batch is resolved through
``advance``. The Kafka connection is the one newsflow.airflow_local gives Airflow.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from airflow.triggers.shared_stream import AdvanceItem, AdvanceOutcome
from kafka.structs import TopicPartition

from newsflow.airflow_local import KAFKA_CONN_ID, kafka_connection
from newsflow.enrichment.watcher import BatchPayload, IndexedBatchProducer
from newsflow.kafka.clients import make_consumer, make_producer
from newsflow.settings import Settings

ANNOUNCEMENTS = 3000
#: Small enough that the announcements make more batches (6 partitions, reads of 500).
MAX_IN_FLIGHT = 3
ACKED = AdvanceOutcome(acked=1, failed=0)
FAILED = AdvanceOutcome(acked=0, failed=1)


@pytest.fixture
def watcher_env(dag_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The test's settings, with the Kafka connection the triggerer's producer reads."""
    connection = json.dumps(kafka_connection(dag_env))
    monkeypatch.setenv(f"AIRFLOW_CONN_{KAFKA_CONN_ID.upper()}", connection)
    return dag_env


def _publish(settings: Settings, count: int, start: int = 0) -> None:
    producer = make_producer(settings)
    try:
        for n in range(start, start + count):
            key = f"article-{n:05d}"
            value = {"id": key, "index": "news-v1", "indexed_at": "2026-12-01T00:00:00Z"}
            producer.send(
                settings.topics.indexed, key=key.encode(), value=json.dumps(value).encode()
            )
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)


def _committed(settings: Settings) -> dict[int, int]:
    group = kafka_connection(settings)["extra"]["group.id"]
    consumer = make_consumer(settings, group)
    try:
        parts = consumer.partitions_for_topic(settings.topics.indexed) or set()
        tps = [TopicPartition(settings.topics.indexed, p) for p in sorted(parts)]
        ends = consumer.end_offsets(tps)
        return {tp.partition: (consumer.committed(tp) or 0) - ends[tp] for tp in tps}
    finally:
        consumer.close()


def test_batches_commit_once_resolved_wait_when_unresolved_and_come_back_when_failed(
    watcher_env: Settings,
) -> None:
    settings = watcher_env
    _publish(settings, ANNOUNCEMENTS)

    async def scenario() -> tuple[list[BatchPayload], BatchPayload, list[BatchPayload], bool]:
        producer = IndexedBatchProducer(
            topics=[settings.topics.indexed],
            kafka_config_id=KAFKA_CONN_ID,
            poll_timeout=1.0,
            batch_messages=500,
            max_in_flight=MAX_IN_FLIGHT,
        )
        stream: AsyncIterator[tuple[Any, Any]] = producer.open_stream()
        try:
            first: list[BatchPayload] = []
            while len(first) < MAX_IN_FLIGHT:
                pairs, payload = await asyncio.wait_for(anext(stream), timeout=60)
                assert len(pairs) == payload.last - payload.first + 1  # one partition, in order
                first.append(payload)
            # As many batches unresolved as allowed: reading waits for a resolution.
            waiting = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(2.0)
            held_back = not waiting.done()
            # Resolve them per partition (the manager's lanes), failing the first of one lane.
            lanes: dict[int, list[BatchPayload]] = {}
            for payload in first:
                lanes.setdefault(payload.partition, []).append(payload)
            failed = next(iter(lanes.values()))[0]
            for batches in lanes.values():
                await producer.advance(
                    [AdvanceItem(p, FAILED if p == failed else ACKED) for p in batches]
                )
            later = [(await waiting)[1]]
            await producer.advance([AdvanceItem(later[0], ACKED)])
            # Read and resolve the rest until every partition is committed to its end.
            while any(_committed(settings).values()):
                _, payload = await asyncio.wait_for(anext(stream), timeout=60)
                later.append(payload)
                await producer.advance([AdvanceItem(payload, ACKED)])
            return first, failed, later, held_back
        finally:
            await stream.aclose()
            await producer.aclose()

    first, failed, later, held_back = asyncio.run(scenario())
    assert held_back, f"a {MAX_IN_FLIGHT + 1}th batch was read before any was resolved"
    # Batches, not messages: far fewer raw events than announcements.
    assert len(first) + len(later) < ANNOUNCEMENTS / 50
    # The failed batch was read again from its first offset; nothing was skipped.
    again = [p for p in later if p.partition == failed.partition]
    assert again and again[0].first == failed.first
    seen = {(p.partition, o) for p in first + later for o in range(p.first, p.last + 1)}
    assert len(seen) == ANNOUNCEMENTS
    assert set(_committed(settings).values()) == {0}  # every partition committed to its end


WAKE_INTERVAL = 3.0


def test_reads_are_spaced_by_the_wake_interval(
    watcher_env: Settings,
) -> None:
    settings = watcher_env
    _publish(settings, 1)

    async def scenario() -> tuple[float, list[BatchPayload]]:
        producer = IndexedBatchProducer(
            topics=[settings.topics.indexed],
            kafka_config_id=KAFKA_CONN_ID,
            poll_timeout=1.0,
            wake_interval=WAKE_INTERVAL,
        )
        stream: AsyncIterator[tuple[Any, Any]] = producer.open_stream()
        loop = asyncio.get_running_loop()
        try:
            # Taken before the first read starts, so the producer's own clock of that read
            # is no earlier: what follows measures a lower bound, which no load can break.
            before_first = loop.time()
            _, payload = await asyncio.wait_for(anext(stream), timeout=60)
            await producer.advance([AdvanceItem(payload, ACKED)])
            # More announcements arrive right after the first was read (a steady stream).
            await asyncio.to_thread(_publish, settings, 120, 1)
            later: list[BatchPayload] = []
            while sum(p.last - p.first + 1 for p in later) < 120:
                _, payload = await asyncio.wait_for(anext(stream), timeout=60)
                later.append(payload)
                if len(later) == 1:
                    waited = loop.time() - before_first
                await producer.advance([AdvanceItem(payload, ACKED)])
            return waited, later
        finally:
            await stream.aclose()
            await producer.aclose()

    waited, later = asyncio.run(scenario())
    assert waited >= WAKE_INTERVAL, f"read again {waited:.2f} s after the first read"
    seen = {(p.partition, o) for p in later for o in range(p.first, p.last + 1)}
    assert len(seen) == 120  # nothing skipped or read twice
    assert set(_committed(settings).values()) == {0}
