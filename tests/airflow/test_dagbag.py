"""Every DAG imports cleanly and does no I/O at parse time."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from airflow_support import DAGS

from newsflow.settings import Settings

# Audit events that mean a DAG file talks to the outside world while being parsed.
_IO_EVENTS = {"socket.connect", "socket.getaddrinfo", "subprocess.Popen", "urllib.Request"}
_seen: list[tuple[str, Any]] = []
_watching = False


def _audit(event: str, args: Any) -> None:
    if _watching and event in _IO_EVENTS:
        _seen.append((event, args))


sys.addaudithook(_audit)


def test_dags_import_without_errors_or_io(monkeypatch: pytest.MonkeyPatch) -> None:
    global _watching
    # Point every client at an address nothing listens on: a connect attempt would also hang
    # or fail loudly rather than quietly succeed.
    monkeypatch.setenv("NEWSFLOW_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("NEWSFLOW_ES_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("NEWSFLOW_TOPIC_INDEXED", "dagbag.indexed")
    from airflow.dag_processing.dagbag import DagBag

    _seen.clear()
    _watching = True
    try:
        bag = DagBag(dag_folder=str(DAGS))
    finally:
        _watching = False
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"enrich_articles", "trends", "maintenance", "poll_feeds"}
    # No I/O at import is what keeps parsing fast; a file slower than Airflow's own
    # dagbag_import_timeout would be in import_errors above.
    assert _seen == [], f"DAG files did I/O at import: {_seen[:5]}"


def test_enrich_articles_watches_the_indexed_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSFLOW_TOPIC_INDEXED", "dagbag.indexed")
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS)).dags["enrich_articles"]
    assert [t.task_id for t in dag.topological_sort()] == ["cluster", "embed", "rollup"]
    # Embeddings run whether clustering succeeded or not; roll-up needs both to have.
    assert dag.get_task("embed").trigger_rule == "all_done"
    rollup = dag.get_task("rollup")
    assert rollup.trigger_rule == "all_success"
    assert rollup.upstream_task_ids == {"cluster", "embed"}
    timetable = dag.timetable
    # Asset-or-time: event driven, with the cron as fallback.
    assert type(timetable).__name__ == "AssetOrTimeSchedule"
    asset = timetable.asset_condition
    (watcher,) = asset.watchers
    classpath, kwargs = watcher.trigger.serialize()
    # The provider's shared-stream trigger: one consumer, commit after the event is stored.
    assert classpath == "newsflow.enrichment.watcher.IndexedArticlesTrigger"
    assert kwargs["topics"] == ["dagbag.indexed"]
    assert kwargs["kafka_config_id"] == "newsflow_kafka"
    assert Settings().topics.indexed == "dagbag.indexed"


def test_maintenance_params_and_schedules() -> None:
    from airflow.dag_processing.dagbag import DagBag

    dags = DagBag(dag_folder=str(DAGS)).dags
    params = dags["maintenance"].params
    assert params["reindex"] is False and params["replay_dlq"] is False and params["check"] is True
    assert dags["trends"].timetable.expression == "0 * * * *"
    assert dags["maintenance"].timetable.expression == "0 0 * * *"
    assert dags["poll_feeds"].timetable.expression == "*/5 * * * *"
    assert [t.task_id for t in dags["poll_feeds"].topological_sort()] == ["feed_groups", "poll"]
