"""The event path end to end: index worker -> indexed topic -> asset watcher -> enrich run.

A real local Airflow (`newsflow airflow up`: api-server, scheduler, dag-processor, triggerer)
runs on its own AIRFLOW_HOME and port with this test's settings. An article goes through the
real index worker, which announces it on the indexed topic; the triggerer's Kafka watcher
turns the announcement into an asset event, the scheduler starts enrich_articles, and the
test polls Elasticsearch until the article carries its story id and embedding.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_support import STEEL_TAGS, build_article, get_doc, seed_paragraphs
from elasticsearch import Elasticsearch

from newsflow import airflow_local
from newsflow.clients import make_producer
from newsflow.index import ensure_index
from newsflow.settings import Settings

#: Airflow start, DAG parse, watcher subscribe, then three task processes on two shared cores.
ENRICH_TIMEOUT = 240.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def local_airflow(
    es: Elasticsearch, dag_env: Settings, tmp_path: Path
) -> Iterator[tuple[Settings, Path]]:
    home = tmp_path / "airflow"
    ensure_index(es, dag_env)
    try:
        airflow_local.up(dag_env, home=home, port=_free_port(), wait_seconds=180)
        yield dag_env, home
    finally:
        airflow_local.down(dag_env, home=home)


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} missing)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def test_indexed_article_is_enriched_by_an_event_triggered_run(
    es: Elasticsearch, local_airflow: tuple[Settings, Path]
) -> None:
    from consumers.workers import run_index_worker

    settings, home = local_airflow
    article = build_article(
        seed_paragraphs(),
        "wire:event-path",
        "https://event-path.example.com/steel",
        "China to cut steel output to reach carbon goals",
        STEEL_TAGS,
    )
    producer = make_producer(settings)
    try:
        producer.send(
            settings.topic_clean, key=article.id.encode(), value=article.model_dump_json().encode()
        )
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)
    # The lead's index worker: upserts into the alias and announces on the indexed topic.
    stats = run_index_worker(settings, idle_exit_seconds=3.0)
    assert stats.consumed >= 1

    deadline = time.monotonic() + ENRICH_TIMEOUT
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        es.indices.refresh(index=settings.index_alias)
        doc = get_doc(es, settings, article.id)
        stamps = doc.get("enrichment") or {}
        if {"clustered_at", "embedded_at", "rolled_up_at"} <= stamps.keys():
            break
        time.sleep(3)
    logs = "\n".join(
        f"--- {name}\n{_tail(home / 'logs' / f'{name}.log')}" for name in airflow_local.COMPONENTS
    )
    assert {"clustered_at", "embedded_at", "rolled_up_at"} <= (
        doc.get("enrichment") or {}
    ).keys(), f"not enriched within {ENRICH_TIMEOUT:.0f}s\n{logs}"
    assert doc["story_id"] and len(doc["embedding"]) == 384
    # It was the event, not the fallback cron, that started the run.
    with sqlite3.connect(f"file:{home / 'airflow.db'}?mode=ro", uri=True) as db:
        runs = db.execute(
            "SELECT run_type, state FROM dag_run WHERE dag_id = 'enrich_articles'"
        ).fetchall()
    assert ("asset_triggered", "success") in runs, runs
