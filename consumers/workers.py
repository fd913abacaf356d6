"""The two streaming workers: clean (raw -> clean topic) and index (clean topic -> Elasticsearch).

Each is a pure stage (consumers.process, Article validation) wrapped in consumers.loop's
at-least-once loop. Run them with `newsflow consume clean|index`; more processes with the
same group share the topic's partitions.
"""

from __future__ import annotations

import functools
import logging

from kafka.consumer.fetcher import ConsumerRecord
from pydantic import ValidationError

from consumers.health import Liveness, LivenessPolicy, WorkerMetrics
from consumers.loop import BatchPolicy, LoopPolicy, LoopStats, WorkerLoop
from consumers.runner import StageFn, StageProcess
from consumers.sinks import DeadLetterWriter, ElasticsearchSink, KafkaSink
from newsflow.elastic.client import make_es
from newsflow.elastic.index import ensure_index
from newsflow.kafka.clients import group_instance_id, make_consumer, make_producer
from newsflow.kafka.groups import unowned_partitions
from newsflow.kafka.topics import ensure_topics
from newsflow.settings import Limits, Settings
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
        idle_seconds=settings.bulk.idle_seconds,
    )


def liveness_for(
    name: str, settings: Settings, metrics: WorkerMetrics, group: str, topic: str
) -> Liveness:
    """The worker's liveness check, its health file and the group probe it consults."""
    if settings.worker.metrics_port:
        metrics.serve(settings.worker.metrics_port)
    return Liveness(
        name,
        LivenessPolicy(
            stall_seconds=settings.worker.stall_seconds,
            unassigned_seconds=settings.worker.unassigned_seconds,
        ),
        metrics=metrics,
        health_file=settings.worker.health_file,
        unassigned_probe=lambda: unowned_partitions(settings, group, topic),
    )


def clean_stage(limits: Limits) -> StageFn:
    """The clean stage as the child process runs it: raw message bytes -> (id, Article JSON)."""
    # Imported here, in the stage's child process only: the worker process itself never
    # cleans, and leaving trafilatura and spaCy out of it halves its start-up time and memory
    # (a restarted worker is back in its group sooner).
    from consumers.process import process_raw
    from consumers.tagging import load_tagger

    tagger = load_tagger()

    def run(value: bytes) -> tuple[bytes, bytes]:
        # A CleanError is a PermanentError of the clean stage: the loop dead-letters it.
        article = process_raw(parse_raw(value), tagger, limits)
        return article.id.encode(), article.model_dump_json().encode()

    return run


def run_clean_worker(
    settings: Settings,
    idle_exit_seconds: float | None = None,
    max_wait_seconds: float = 120.0,
) -> LoopStats:
    """Consumes raw articles, cleans and tags them, publishes Articles to the clean topic.

    The stage runs in a child process with a hard time limit per message
    (``limits.clean_timeout_seconds``); a message that overruns it is dead-lettered as
    ``timeout``.
    """
    ensure_topics(settings)
    stage = StageProcess(
        functools.partial(clean_stage, settings.limits),
        settings.limits.clean_timeout_seconds,
        stage=Stage.CLEAN,
    )
    stage.start()
    producer = make_producer(settings)
    sink = KafkaSink(producer, settings.topics.clean, stage=Stage.CLEAN)

    def handle(record: ConsumerRecord) -> None:
        key, value = stage.run(record.value or b"")
        sink.add(key, value)

    metrics = WorkerMetrics("clean")
    loop = WorkerLoop(
        consumer=make_consumer(
            settings, settings.groups.clean, group_instance_id=group_instance_id(settings, "clean")
        ),
        topic=settings.topics.raw,
        handler=handle,
        sink=sink,
        dlq=DeadLetterWriter(
            producer, settings.topics.dead_letter, settings.limits.max_message_bytes
        ),
        policy=policy_from(settings),
        name="clean",
        metrics=metrics,
        liveness=liveness_for(
            "clean", settings, metrics, settings.groups.clean, settings.topics.raw
        ),
    )
    try:
        return loop.run(idle_exit_seconds=idle_exit_seconds, max_wait_seconds=max_wait_seconds)
    finally:
        stage.close()
        producer.close(timeout=10)


def run_index_worker(
    settings: Settings,
    idle_exit_seconds: float | None = None,
    max_wait_seconds: float = 120.0,
) -> LoopStats:
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

    metrics = WorkerMetrics("index")
    loop = WorkerLoop(
        consumer=make_consumer(
            settings, settings.groups.index, group_instance_id=group_instance_id(settings, "index")
        ),
        topic=settings.topics.clean,
        handler=handle,
        sink=sink,
        dlq=DeadLetterWriter(
            producer, settings.topics.dead_letter, settings.limits.max_message_bytes
        ),
        policy=policy_from(settings),
        name="index",
        stage=Stage.INDEX,
        # Indexing a record is cheap; a larger buffer keeps bulk requests full.
        loop_policy=LoopPolicy(buffer_records=settings.bulk.max_docs),
        metrics=metrics,
        liveness=liveness_for(
            "index", settings, metrics, settings.groups.index, settings.topics.clean
        ),
    )
    try:
        return loop.run(idle_exit_seconds=idle_exit_seconds, max_wait_seconds=max_wait_seconds)
    finally:
        producer.close(timeout=10)
        es.close()
