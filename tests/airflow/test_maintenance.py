"""maintenance run with dag.test(): reindex + alias swap, consistency check, DLQ replay."""

from __future__ import annotations

from typing import Any

import numpy as np
from airflow_support import get_doc, run_dag
from elasticsearch import Elasticsearch

from newsflow.elastic.index import current_index, index_name
from newsflow.enrichment.embeddings import embed_pending
from newsflow.kafka.clients import make_producer
from newsflow.settings import Settings


def _publish(settings: Settings, topic: str, articles: list[Any]) -> None:
    producer = make_producer(settings)
    try:
        for a in articles:
            producer.send(topic, key=a.id.encode(), value=a.model_dump_json().encode())
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)


def test_maintenance_reindexes_checks_and_replays(
    es: Elasticsearch, dag_env: Settings, seeded: dict[str, Any]
) -> None:
    settings = dag_env
    articles = [seeded["first"], seeded["second"], seeded["other"]]
    # What the pipeline would have put on its topics for these indexed articles.
    _publish(settings, settings.topics.raw, articles)
    _publish(settings, settings.topics.clean, articles)
    embed_pending(es, settings)
    before = get_doc(es, settings, seeded["first"].id)
    old = current_index(es, settings.index)
    assert old == index_name(settings.index, 1)
    count = es.count(index=settings.index.alias)["count"]

    run = run_dag(
        "maintenance",
        run_conf={"reindex": True, "replay_dlq": True, "check": True, "grace_minutes": 0},
    )
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"replay_dlq": "success", "reindex": "success", "check": "success"}

    # The alias now points at version 2 only, with the same documents, vectors included.
    aliases = es.indices.get_alias(name=settings.index.alias)
    assert list(aliases) == [index_name(settings.index, 2)]
    assert es.count(index=index_name(settings.index, 2))["count"] == count
    after = get_doc(es, settings, seeded["first"].id)
    assert np.allclose(after["embedding"], before["embedding"], atol=1e-6)
    assert after["enrichment"] == before["enrichment"]

    # An article seen on the clean topic but missing from the index fails the check loudly.
    lost = seeded["other"].model_copy(update={"id": "lost-article-0001"})
    _publish(settings, settings.topics.clean, [lost])
    failed = run_dag("maintenance", run_conf={"check": True, "grace_minutes": 0})
    assert failed.state == "failed"
    states = {ti.task_id: ti.state for ti in failed.get_task_instances()}
    assert states["check"] == "failed"
    assert states["reindex"] == "skipped" and states["replay_dlq"] == "skipped"


def test_the_check_reads_its_window_of_the_topics(
    es: Elasticsearch, dag_env: Settings, seeded: dict[str, Any]
) -> None:
    """Messages stamped before the window are not judged; the whole topics still can be."""
    from datetime import UTC, datetime, timedelta

    from newsflow.enrichment.maintenance import check_consistency

    settings = dag_env
    indexed = [seeded["first"], seeded["second"]]
    _publish(settings, settings.topics.clean, indexed)
    # Cleaned three days ago and never indexed: outside the default two-day window.
    old = seeded["other"].model_copy(update={"id": "old-lost-article-0001"})
    stamp = int((datetime.now(UTC) - timedelta(days=3)).timestamp() * 1000)
    producer = make_producer(settings)
    try:
        # Into every partition, after the recent messages: the window is by stamp, not only
        # by where it starts in each partition.
        for partition in sorted(producer.partitions_for(settings.topics.clean)):
            producer.send(
                settings.topics.clean,
                key=old.id.encode(),
                value=old.model_dump_json().encode(),
                partition=partition,
                timestamp_ms=stamp,
            )
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)

    report = check_consistency(es, settings, grace=timedelta(0), raise_on_gap=False)
    assert report.ok and report.clean_ids == 2

    whole = check_consistency(es, settings, grace=timedelta(0), raise_on_gap=False, window=None)
    assert whole.missing == ["old-lost-article-0001"] and whole.clean_ids == 3
    narrow = check_consistency(
        es, settings, grace=timedelta(0), raise_on_gap=False, window=timedelta(days=4)
    )
    assert narrow.missing == ["old-lost-article-0001"]
