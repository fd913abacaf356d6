"""The dead-letter topic: list what failed and why, and replay it after the cause is fixed.

Replay sends each dead letter's original bytes, with its original key, back to the topic of
the stage that rejected it (links for fetch failures, raw for decode/clean/tag failures,
clean for index failures).
A consumer group tracks what was replayed, so a second replay does not resend the same
letters; a letter that fails again simply comes back as a new dead letter.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field

from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition
from pydantic import ValidationError

from consumers.batches import BatchPolicy
from consumers.loop import WorkerLoop
from consumers.sinks import DeadLetterWriter, KafkaSink
from newsflow.kafka.clients import make_consumer, make_producer
from newsflow.settings import Settings
from schemas import DeadLetter, Stage
from schemas.failures import PermanentError

log = logging.getLogger(__name__)


def target_topic(letter: DeadLetter, settings: Settings) -> str:
    """The topic a dead letter is replayed into: the input topic of the stage that failed."""
    if letter.stage == Stage.INDEX:
        return settings.topics.clean
    if letter.stage == Stage.FETCH:
        return settings.topics.links
    return settings.topics.raw


def list_dead_letters(settings: Settings, limit: int = 1000) -> list[DeadLetter]:
    """Reads the dead-letter topic from the beginning (no group, nothing committed)."""
    consumer = make_consumer(settings, None, consumer_timeout_ms=2000)
    try:
        partitions = consumer.partitions_for_topic(settings.topics.dead_letter) or set()
        tps = [TopicPartition(settings.topics.dead_letter, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        letters: list[DeadLetter] = []
        while len(letters) < limit and any(consumer.position(tp) < ends[tp] for tp in tps):
            batch = consumer.poll(timeout_ms=1000)
            if not batch:
                continue
            for records in batch.values():
                for record in records:
                    try:
                        letters.append(DeadLetter.model_validate_json(record.value or b""))
                    except ValidationError:
                        log.warning("unreadable dead letter at offset %d", record.offset)
        return letters[:limit]
    finally:
        consumer.close()


def whole_original(settings: Settings, letter: DeadLetter) -> bytes | None:
    """The full original of a truncated dead letter, read again from where it was consumed.

    None when the topic no longer holds that offset (retention), or holds something else.
    """
    if letter.topic is None or letter.partition is None or letter.offset is None:
        return None
    consumer = make_consumer(settings, None)
    try:
        tp = TopicPartition(letter.topic, letter.partition)
        consumer.assign([tp])
        consumer.seek(tp, letter.offset)
        for _ in range(20):
            batch = consumer.poll(timeout_ms=500, max_records=1)
            for record in batch.get(tp, []):
                value = record.value or b""
                if record.offset != letter.offset:
                    return None  # the offset is gone: retention removed it
                if letter.original_sha256 and (
                    hashlib.sha256(value).hexdigest() != letter.original_sha256
                ):
                    return None
                return value
        return None
    finally:
        consumer.close()


@dataclass
class ReplaySummary:
    replayed: int = 0
    by_topic: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    unrecoverable: int = 0


def replay(
    settings: Settings, stages: set[Stage] | None = None, idle_exit_seconds: float = 3.0
) -> ReplaySummary:
    """Republishes dead letters (optionally only some stages') to their stage's input topic."""
    summary = ReplaySummary()
    producer = make_producer(settings)
    sinks: dict[str, KafkaSink] = {}

    class _Fanout:
        def pending(self) -> int:
            return sum(s.pending() for s in sinks.values())

        def pending_bytes(self) -> int:
            return sum(s.pending_bytes() for s in sinks.values())

        def flush(self) -> list[tuple[ConsumerRecord, PermanentError]]:
            for sink in sinks.values():
                sink.flush()
            return []

    def handle(record: ConsumerRecord) -> None:
        try:
            letter = DeadLetter.model_validate_json(record.value or b"")
        except ValidationError:
            summary.skipped += 1
            return
        if stages is not None and letter.stage not in stages:
            summary.skipped += 1
            return
        original = letter.original
        if letter.original_truncated:
            whole = whole_original(settings, letter)
            if whole is None:
                log.warning(
                    "dead letter for %s[%s]@%s kept only the first %d of %s bytes, and the "
                    "topic no longer holds the message; not replayed",
                    letter.topic,
                    letter.partition,
                    letter.offset,
                    len(letter.original),
                    letter.original_size,
                )
                summary.unrecoverable += 1
                return
            original = whole
        topic = target_topic(letter, settings)
        sink = sinks.setdefault(topic, KafkaSink(producer, topic, stage=Stage.PRODUCE))
        sink.add(letter.original_key or b"", original)
        summary.replayed += 1
        summary.by_topic[topic] += 1

    loop = WorkerLoop(
        consumer=make_consumer(settings, settings.groups.replay),
        topic=settings.topics.dead_letter,
        handler=handle,
        sink=_Fanout(),
        dlq=DeadLetterWriter(
            producer, settings.topics.dead_letter, settings.limits.max_message_bytes
        ),
        policy=BatchPolicy(max_records=500, max_bytes=settings.bulk.max_bytes, max_seconds=1.0),
        name="dlq-replay",
        stage=Stage.PRODUCE,
    )
    try:
        loop.run(idle_exit_seconds=idle_exit_seconds, max_wait_seconds=30)
    finally:
        producer.close(timeout=10)
    log.info("replayed %d dead letters (%s)", summary.replayed, dict(summary.by_topic))
    return summary
