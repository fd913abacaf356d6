"""The two streaming workers: clean (raw -> clean topic) and index (clean topic -> Elasticsearch).

Each is a pure stage (consumers.process, Article validation) wrapped in consumers.loop's
at-least-once loop. Run them with `newsflow consume clean|index`; more processes with the
same group share the topic's partitions.
"""

from __future__ import annotations

import logging

from kafka.consumer.fetcher import ConsumerRecord
from pydantic import ValidationError

from consumers.loop import BatchPolicy, DeadLetterWriter, LoopStats, WorkerLoop
from consumers.process import Tagger, process_raw
from consumers.sinks import ElasticsearchSink, KafkaSink
from consumers.tagging import load_tagger
from newsflow.elastic.client import make_es
from newsflow.elastic.index import ensure_index
from newsflow.kafka.clients import make_consumer, make_producer
from newsflow.kafka.topics import ensure_topics
from newsflow.settings import Settings
from schemas import Article, DecodeReason, RawArticle, Stage
from schemas.failures import PermanentError

log = logging.getLogger(__name__)


def _decode_error(exc: ValidationError) -> PermanentError:
    kinds = {e["type"] for e in exc.errors()}
    invalid_json = kinds & {"json_invalid", "json_type"}
    reason = DecodeReason.UNDECODABLE if invalid_json else DecodeReason.SCHEMA_INVALID
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "message"
    return PermanentError(Stage.DECODE, reason, f"{where}: {first.get('msg', exc)}")


def parse_raw(value: bytes | None) -> RawArticle:
    """The RawArticle in a raw-topic message, or PermanentError saying why it is not one."""
    try:
        return RawArticle.model_validate_json(value or b"")
    except ValidationError as exc:
        raise _decode_error(exc) from exc


def parse_article(value: bytes | None) -> Article:
    """The Article in a clean-topic message, or PermanentError saying why it is not one."""
    try:
        return Article.model_validate_json(value or b"")
    except ValidationError as exc:
        raise _decode_error(exc) from exc


def policy_from(settings: Settings) -> BatchPolicy:
    return BatchPolicy(
        max_records=settings.bulk.max_docs,
        max_bytes=settings.bulk.max_bytes,
        max_seconds=settings.bulk.max_seconds,
    )


def run_clean_worker(
    settings: Settings, tagger: Tagger | None = None, idle_exit_seconds: float | None = None
) -> LoopStats:
    """Consumes raw articles, cleans and tags them, publishes Articles to the clean topic."""
    if tagger is None:
        tagger = load_tagger()
    ensure_topics(settings)
    producer = make_producer(settings)
    sink = KafkaSink(producer, settings.topics.clean, stage=Stage.CLEAN)

    def handle(record: ConsumerRecord) -> None:
        # A CleanError is a PermanentError of the clean stage: the loop dead-letters it.
        article = process_raw(parse_raw(record.value), tagger, settings.limits)
        sink.add(article.id.encode(), article.model_dump_json().encode())

    loop = WorkerLoop(
        consumer=make_consumer(settings, settings.groups.clean),
        topic=settings.topics.raw,
        handler=handle,
        sink=sink,
        dlq=DeadLetterWriter(producer, settings.topics.dead_letter),
        policy=policy_from(settings),
        name="clean",
    )
    try:
        return loop.run(idle_exit_seconds=idle_exit_seconds)
    finally:
        producer.close(timeout=10)


def run_index_worker(settings: Settings, idle_exit_seconds: float | None = None) -> LoopStats:
    """Consumes Articles from the clean topic and upserts them into the index alias in bulk."""
    ensure_topics(settings)
    es = make_es(settings)
    ensure_index(es, settings.index)
    producer = make_producer(settings)
    sink = ElasticsearchSink(
        es,
        settings.index.alias,
        announcer=KafkaSink(producer, settings.topics.indexed, stage=Stage.INDEX),
    )

    def handle(record: ConsumerRecord) -> None:
        sink.add(parse_article(record.value), record)

    loop = WorkerLoop(
        consumer=make_consumer(settings, settings.groups.index),
        topic=settings.topics.clean,
        handler=handle,
        sink=sink,
        dlq=DeadLetterWriter(producer, settings.topics.dead_letter),
        policy=policy_from(settings),
        name="index",
        stage=Stage.INDEX,
    )
    try:
        return loop.run(idle_exit_seconds=idle_exit_seconds)
    finally:
        producer.close(timeout=10)
        es.close()
