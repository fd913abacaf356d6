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
