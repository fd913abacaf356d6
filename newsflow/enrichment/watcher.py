"""The enrichment DAG's watcher on the indexed topic: one consumer, batches, commit after use.

Built on the Kafka provider's shared-stream trigger (``KafkaSharedStreamTrigger``): one
consumer in the triggerer, and an offset is committed only after the asset event derived from
it is stored. The trigger it replaced (``KafkaMessageQueueTrigger``) made a new consumer and
rejoined its group for every message.

The provider's producer turns each message into one asset event. Measured with
``benchmarks/bench_events.py`` (a local Airflow on the 2 cores), that cost 17.8 ms of the
triggerer's CPU and ~10 ms of the api-server's and scheduler's per announced article at
20 articles/s, and a burst of 3,000 announcements overflowed the subscriber's queue (1,024
raw events: the provider reads as fast as the broker answers, with no back-pressure), so the
trigger failed and restarted over and over, storing 31 of the announcements twice.

``IndexedBatchProducer`` therefore reads what is available (up to ``BATCH_MESSAGES``, waiting at
most ``poll_timeout``) and hands the filter one raw event per partition and read: the list of
its ``(key, value)`` pairs. The filter makes one asset event of a batch (the ids it
announces); the enrichment runs pick their work by query, so one wake-up covers a batch.
Commits keep the provider's guarantee: a batch's last offset is committed once its event is
stored, and a failed batch is read again from its first offset. At most ``MAX_IN_FLIGHT``
batches are unresolved at a time, so a backlog is read at the pace the triggerer stores
events instead of overflowing its queue.

Each wake-up is a DAG run of three task processes whatever its size, so while articles keep
coming the producer reads at most every ``wake_interval`` seconds (the DAG's
``Settings.enrich.wake_interval_seconds``): a first article after a quiet spell is read at
once, a full read is followed by the next at once (a backlog is not slowed), and otherwise
what arrives meanwhile waits in the topic for the next read. Without it, at 20 articles/s
the runs came back to back, one every ~5 s (``benchmarks/bench_events.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable, Sequence
from typing import Any, NamedTuple

from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook
from airflow.providers.apache.kafka.triggers.shared_stream import (
    KafkaSharedStreamProducer,
    KafkaSharedStreamTrigger,
)
from airflow.triggers.base import TriggerEvent
from airflow.triggers.shared_stream import AdvanceItem, reject_shared_stream_event
from asgiref.sync import sync_to_async

from newsflow.enrichment.events import parse_batch, read_delay

#: Messages one read takes at most (one asset event per partition of a read).
BATCH_MESSAGES = 1000
#: Batches handed to the triggerer and not yet resolved before reading waits. A batch is
#: resolved once its event is stored, which the triggerer learns a sync round (1-3 s) later,
#: so this over that delay bounds the rate (32 x 1000 / 3 s); it also bounds what is held in
#: memory (~32,000 small messages).
MAX_IN_FLIGHT = 32


class BatchPayload(NamedTuple):
    """Where one batch came from: a partition and its first and last offsets."""

    topic: str
    partition: int
    first: int
    last: int


class IndexedBatchProducer(KafkaSharedStreamProducer):
    """The provider's producer, reading batches with back-pressure (see the module doc).

    It reuses the provider's connection check, commit, seek and redelivery floor; only
    reading and the commit decision per batch differ.
    """

    def __init__(
        self,
        *,
        batch_messages: int = BATCH_MESSAGES,
        max_in_flight: int = MAX_IN_FLIGHT,
        wake_interval: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.batch_messages = batch_messages
        self.max_in_flight = max_in_flight
        self.wake_interval = wake_interval
        self._in_flight = 0
        self._room = asyncio.Event()
        self._room.set()

    async def open_stream(self) -> AsyncIterator[tuple[Any, Any]]:
        hook = KafkaConsumerHook(topics=self.topics, kafka_config_id=self.kafka_config_id)
        await self._ensure_manual_commit(hook)
        consumer = await sync_to_async(hook.get_consumer)()
        self._consumer = consumer
        consume = sync_to_async(consumer.consume)
        loop = asyncio.get_running_loop()
        last_read: float | None = None
        full = False
        while True:
            await self._room.wait()
            delay = read_delay(last_read, full, loop.time(), self.wake_interval)
            if delay > 0:
                # The consumer's heartbeats run on librdkafka's own thread, and the wait is
                # far below max.poll.interval.ms (5 min), so the group keeps this member.
                await asyncio.sleep(delay)
            messages = await consume(num_messages=self.batch_messages, timeout=self.poll_timeout)
            if messages:
                last_read, full = loop.time(), len(messages) >= self.batch_messages
            lanes: dict[tuple[str | None, int | None], list[Any]] = {}
            for message in messages:
                if message.error():
                    raise RuntimeError(f"Kafka consumer error: {message.error()}")
                lanes.setdefault((message.topic(), message.partition()), []).append(message)
            for (topic, partition), batch in lanes.items():
                assert topic is not None and partition is not None  # set on every record
                # One read brings several partitions' batches: each waits for room, or a
                # read of 4 partitions put 4 batches in flight past a limit of 3 (seen in
                # test_watcher under load).
                await self._room.wait()
                self._in_flight += 1
                if self._in_flight >= self.max_in_flight:
                    self._room.clear()
                pairs = [(m.key(), m.value()) for m in batch]
                yield pairs, BatchPayload(topic, partition, batch[0].offset(), batch[-1].offset())

    async def advance(self, batch: Sequence[AdvanceItem]) -> None:
        """Commits through the last offset of the batches resolved cleanly (or rejected);
        at the first failed one (or one no subscriber took), holds and seeks back to its
        first offset, as the provider does for one message."""
        self._in_flight -= len(batch)
        if self._in_flight < self.max_in_flight:
            self._room.set()
        start: BatchPayload = batch[0].broker_payload
        commit_through: int | None = None
        held: int | None = None
        for item in batch:
            payload: BatchPayload = item.broker_payload
            outcome = item.outcome
            if outcome.failed > 0 or (outcome.acked == 0 and outcome.rejected == 0):
                held = payload.first
                break
            commit_through = payload.last
        lane = (start.topic, start.partition)
        floor = self._resolve_floor(lane, start.first, commit_through, held)
        if commit_through is not None:
            target = commit_through + 1 if floor is None else min(commit_through + 1, floor)
            await sync_to_async(self._commit)(start.topic, start.partition, target)
        if held is not None:
            target = floor if floor is not None else held
            await sync_to_async(self._seek)(start.topic, start.partition, target)


class IndexedArticlesTrigger(KafkaSharedStreamTrigger):
    """Fires one event per batch of articles announced on the indexed topic, reading at most
    every ``wake_interval`` seconds while articles keep coming (see the module doc)."""

    def __init__(self, *, wake_interval: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wake_interval = wake_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return f"{__name__}.{type(self).__name__}", {**kwargs, "wake_interval": self.wake_interval}

    def shared_stream_key(self) -> Hashable:
        # Not the provider's key: a plain KafkaSharedStreamTrigger on the same topic must not
        # share this producer, whose raw events are batches.
        return (
            "newsflow-indexed-batches",
            tuple(self.topics),
            self.kafka_config_id,
            self.wake_interval,
        )

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> IndexedBatchProducer:
        return IndexedBatchProducer(
            topics=kwargs["topics"],
            kafka_config_id=kwargs["kafka_config_id"],
            poll_timeout=kwargs["poll_timeout"],
            wake_interval=kwargs.get("wake_interval", 0.0),
        )

    async def filter_shared_stream(
        self, shared_stream: AsyncIterator[Any]
    ) -> AsyncIterator[TriggerEvent]:
        async for pairs in shared_stream:
            payload = parse_batch(pairs)
            if payload is None:
                reject_shared_stream_event()
                continue
            yield TriggerEvent(payload)  # type: ignore[no-untyped-call]
