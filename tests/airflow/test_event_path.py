"""The event path end to end: index worker -> indexed topic -> asset watcher -> enrich run.

A real local Airflow (`newsflow airflow up`: api-server, scheduler, dag-processor, triggerer)
runs on its own AIRFLOW_HOME and port with this test's settings. An article goes through the
real index worker, which announces it on the indexed topic; the triggerer's Kafka watcher
turns the announcement into an asset event, the scheduler starts enrich_articles, and the
test polls Elasticsearch until the article carries its story id and embedding.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow_support import STEEL_TAGS, build_article, get_doc, seed_paragraphs
from elasticsearch import Elasticsearch

from newsflow import airflow_local
from newsflow.elastic.index import ensure_index
from newsflow.kafka.clients import make_producer
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
    ensure_index(es, dag_env.index)
    try:
        airflow_local.up(dag_env, home=home, port=_free_port(), wait_seconds=180)
        yield dag_env, home
    finally:
        airflow_local.down(dag_env, home=home)


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} missing)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _query(home: Path, sql: str) -> list[tuple[Any, ...]]:
    """Reads the local Airflow's metadata DB (read-only, so the components are undisturbed)."""
    with contextlib.closing(
        sqlite3.connect(f"file:{home / 'airflow.db'}?mode=ro", uri=True, timeout=10)
    ) as db:
        return list(db.execute(sql).fetchall())


def _utc(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _wait_for_watcher(home: Path, timeout: float) -> None:
    """Waits until the asset watcher runs and no enrich_articles run is active.

    On first sight of a DAG with catchup off, the scheduler also starts one run for the latest
    cron tick; an article indexed while that run is active could be enriched by it, and the
    test would prove nothing about the event path.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(sqlite3.OperationalError):  # tables not there yet
            watching = _query(home, "SELECT COUNT(*) FROM trigger")[0][0] > 0
            active = _query(
                home,
                "SELECT COUNT(*) FROM dag_run WHERE dag_id = 'enrich_articles' "
                "AND state IN ('queued', 'running')",
            )[0][0]
            if watching and not active:
                return
        time.sleep(2)
    raise AssertionError(f"asset watcher not running after {timeout:.0f}s")


#: enrich_articles' fallback cron (dags/enrich_articles.py): every 30 minutes.
CRON_MINUTES = 30


def _clear_of_the_cron(home: Path, margin: float) -> None:
    """Waits, if the fallback cron's next tick is under ``margin`` seconds away, until that
    tick's run has come and gone.

    A cron run starting while the article waits to be enriched may enrich it first (seen once
    in CI, the article indexed at 08:59:50): the test would then prove nothing about the event
    path, and failed. Outside that window only the event can start a run.
    """
    now = datetime.now(UTC)
    tick = now.replace(second=0, microsecond=0) + timedelta(
        minutes=CRON_MINUTES - now.minute % CRON_MINUTES
    )
    left = (tick - now).total_seconds()
    if left >= margin:
        return
    time.sleep(left)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the tick's run, once the scheduler made it
        started = _query(
            home,
            "SELECT COUNT(*) FROM dag_run WHERE dag_id = 'enrich_articles' "
            f"AND run_type = 'scheduled' AND start_date >= '{tick:%Y-%m-%d %H:%M:%S}'",
        )[0][0]
        if started:
            break
        time.sleep(2)
    _wait_for_watcher(home, timeout=300)  # and done


def test_indexed_article_is_enriched_by_an_event_triggered_run(
    es: Elasticsearch, local_airflow: tuple[Settings, Path]
) -> None:
    from consumers.workers import run_index_worker

    settings, home = local_airflow
    _wait_for_watcher(home, timeout=120)
    _clear_of_the_cron(home, margin=ENRICH_TIMEOUT)
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
            settings.topics.clean, key=article.id.encode(), value=article.model_dump_json().encode()
        )
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)
    # The lead's index worker: upserts into the alias and announces on the indexed topic.
    stats = run_index_worker(settings, idle_exit_seconds=3.0)
    assert stats.consumed == 1

    wanted = {"clustered_at", "embedded_at", "rolled_up_at"}
    deadline = time.monotonic() + ENRICH_TIMEOUT
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        es.indices.refresh(index=settings.index.alias)
        doc = get_doc(es, settings, article.id)
        if wanted <= (doc.get("enrichment") or {}).keys():
            break
        time.sleep(3)
    logs = "\n".join(
        f"--- {name}\n{_tail(home / 'logs' / f'{name}.log')}" for name in airflow_local.COMPONENTS
    )
    stamps = doc.get("enrichment") or {}
    assert wanted <= stamps.keys(), f"not enriched within {ENRICH_TIMEOUT:.0f}s\n{logs}"
    assert doc["story_id"] and len(doc["embedding"]) == 384

    # It was a run started by the asset event, not the fallback cron, that enriched it.
    runs = _query(
        home,
        "SELECT run_type, start_date FROM dag_run WHERE dag_id = 'enrich_articles' "
        "AND start_date IS NOT NULL",
    )
    clustered = _utc(stamps["clustered_at"])
    by_event = [r for r in runs if r[0] == "asset_triggered" and _utc(r[1]) <= clustered]
    others = [r for r in runs if r[0] != "asset_triggered" and _utc(r[1]) <= clustered]
    assert by_event, runs
    # The last run to start before the article was clustered is the event's.
    assert max(r[1] for r in by_event) > max((r[1] for r in others), default=""), runs


def _listening_ports(session: int) -> set[int]:
    """TCP ports that the processes of one session (a component and its children) listen on,
    read from /proc: each process's socket inodes against the kernel's LISTEN sockets."""
    inodes: set[str] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[3]) != session:
                continue
            for fd in (stat.parent / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or not ours to read
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_no_component_but_the_api_server_listens(local_airflow: tuple[Settings, Path]) -> None:
    """The scheduler and the triggerer each started Airflow's log server, bound to every
    interface of the machine (8793, 8794; Airflow has no setting for its address) while the
    rest listens on 127.0.0.1. They now start none (`--skip-serve-logs`: the api-server reads
    the log files in AIRFLOW_HOME/logs); only the api-server listens, on its port."""
    _, home = local_airflow
    _wait_for_watcher(home, timeout=120)  # the triggerer is up and running its trigger
    state = json.loads((home / "state.json").read_text())
    pids, port = state["pids"], state["port"]
    for name in ("scheduler", "triggerer", "dag-processor"):
        assert _listening_ports(pids[name]) == set(), name
    assert port in _listening_ports(pids["api-server"])


def test_up_on_a_port_another_program_holds_says_so_and_starts_nothing(
    dag_env: Settings, tmp_path: Path
) -> None:
    """It printed every component "yes" when another Airflow answered the health check, or
    failed with "api-server exited" and left the other three running."""
    home = tmp_path / "airflow"
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = int(other.getsockname()[1])
        with pytest.raises(airflow_local.AirflowLocalError, match=f"port {port} is in use"):
            airflow_local.up(dag_env, home=home, port=port, wait_seconds=30)
    assert not any(c.running for c in airflow_local.status(dag_env, home=home))
