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

from consumers.errors import PermanentError
from consumers.health import Liveness, LivenessPolicy, WorkerMetrics
from consumers.loop import BatchPolicy, LoopPolicy, LoopStats, WorkerLoop
from consumers.runner import StageFn, StageProcess
from consumers.sinks import DeadLetterWriter, ElasticsearchSink, KafkaSink
from newsflow.clients import group_instance_id, make_consumer, make_es, make_producer
from newsflow.groups import unowned_partitions
from newsflow.index import ensure_index
from newsflow.settings import Settings
from newsflow.topics import ensure_topics
from schemas import Article, RawArticle, Stage

log = logging.getLogger(__name__)


def _decode_error(exc: ValidationError) -> PermanentError:
    kinds = {e["type"] for e in exc.errors()}
    reason = "undecodable" if kinds & {"json_invalid", "json_type"} else "schema_invalid"
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "message"
    return PermanentError("decode", reason, f"{where}: {first.get('msg', exc)}")


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
        max_records=settings.bulk_max_docs,
        max_bytes=settings.bulk_max_bytes,
        max_seconds=settings.bulk_max_seconds,
    )


def liveness_for(
    name: str, settings: Settings, metrics: WorkerMetrics, group: str, topic: str
) -> Liveness:
    """The worker's liveness check, its health file and the group probe it consults."""
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    return Liveness(
        name,
        LivenessPolicy(
            stall_seconds=settings.worker_stall_seconds,
            unassigned_seconds=settings.worker_unassigned_seconds,
        ),
        metrics=metrics,
        health_file=settings.health_file,
        unassigned_probe=lambda: unowned_partitions(settings, group, topic),
    )


def clean_stage(settings: Settings) -> StageFn:
    """The clean stage as the child process runs it: raw message bytes -> (id, Article JSON)."""
    # Imported here, in the stage's child process only: the worker process itself never
    # cleans, and leaving trafilatura and spaCy out of it halves its start-up time and memory
    # (a restarted worker is back in its group sooner).
    from consumers.cleaning.model import CleanError
    from consumers.process import process_raw
    from consumers.tagging import load_tagger

    tagger = load_tagger()

    def run(value: bytes) -> tuple[bytes, bytes]:
        raw = parse_raw(value)
        try:
            article = process_raw(raw, tagger, settings)
        except CleanError as exc:
            raise PermanentError("clean", exc.reason, exc.message) from exc
        return article.id.encode(), article.model_dump_json().encode()

    return run


def run_clean_worker(
    settings: Settings,
    idle_exit_seconds: float | None = None,
    max_wait_seconds: float = 120.0,
) -> LoopStats:
    """Consumes raw articles, cleans and tags them, publishes Articles to the clean topic.

    The stage runs in a child process with a hard time limit per message
    (``clean_timeout_seconds``); a message that overruns it is dead-lettered as ``timeout``.
    """
    ensure_topics(settings)
    stage = StageProcess(
        functools.partial(clean_stage, settings), settings.clean_timeout_seconds, stage="clean"
    )
    stage.start()
    producer = make_producer(settings)
    sink = KafkaSink(producer, settings.topic_clean, stage="clean")

    def handle(record: ConsumerRecord) -> None:
        key, value = stage.run(record.value or b"")
        sink.add(key, value)

    metrics = WorkerMetrics("clean")
    loop = WorkerLoop(
        consumer=make_consumer(
            settings,
            settings.consumer_group_clean,
            group_instance_id=group_instance_id(settings, "clean"),
        ),
        topic=settings.topic_raw,
        handler=handle,
        sink=sink,
        dlq=DeadLetterWriter(producer, settings.topic_dead_letter, settings.max_message_bytes),
        policy=policy_from(settings),
        name="clean",
        metrics=metrics,
        liveness=liveness_for(
            "clean", settings, metrics, settings.consumer_group_clean, settings.topic_raw
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
    ensure_index(es, settings)
    producer = make_producer(settings)
    sink = ElasticsearchSink(
        es,
        settings.index_alias,
        announcer=KafkaSink(producer, settings.topic_indexed, stage="index"),
    )

    def handle(record: ConsumerRecord) -> None:
        sink.add(parse_article(record.value), record)

    metrics = WorkerMetrics("index")
    loop = WorkerLoop(
        consumer=make_consumer(
            settings,
            settings.consumer_group_index,
            group_instance_id=group_instance_id(settings, "index"),
        ),
        topic=settings.topic_clean,
        handler=handle,
        sink=sink,
        dlq=DeadLetterWriter(producer, settings.topic_dead_letter, settings.max_message_bytes),
        policy=policy_from(settings),
        name="index",
        stage=Stage.INDEX,
        # Indexing a record is cheap; a larger buffer keeps bulk requests full.
        loop_policy=LoopPolicy(buffer_records=settings.bulk_max_docs),
        metrics=metrics,
        liveness=liveness_for(
            "index", settings, metrics, settings.consumer_group_index, settings.topic_clean
        ),
    )
    try:
        return loop.run(idle_exit_seconds=idle_exit_seconds, max_wait_seconds=max_wait_seconds)
    finally:
        producer.close(timeout=10)
        es.close()
