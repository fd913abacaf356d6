"""Airflow test setup: a throwaway AIRFLOW_HOME with a migrated SQLite DB, and seeded articles.

Airflow reads its configuration when ``airflow`` is first imported, so the environment is set
here, at conftest import, before any test module of this folder imports it. Kafka and
Elasticsearch are the real ones from the `stack` fixture; each test's `settings` carry unique
topic and index names, and ``dag_env`` exports them as ``NEWSFLOW_*`` so that DAG parsing and
the tasks run by ``dag.test()`` use them too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from newsflow.kafka.topics import ensure_topics
from newsflow.settings import PROJECT_ROOT, Settings

DAGS = PROJECT_ROOT / "dags"

_HOME = Path(tempfile.mkdtemp(prefix="newsflow-airflow-tests-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(_HOME / "logs"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
)

# Imported after the environment is set: it must not import airflow itself at import time.
from airflow_support import (  # noqa: E402
    LIBRARY_TAGS,
    STEEL_TAGS,
    UNRELATED,
    build_article,
    index_articles,
    seed_paragraphs,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything in this folder needs the airflow extra; `-m "not airflow"` skips it.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.airflow)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrates the session's SQLite metadata DB once (dag.test() records runs in it)."""
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return _HOME


@pytest.fixture
def dag_env(stack: object, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The test's settings, exported as NEWSFLOW_* for DAG files and tasks, topics created."""

    for key, value in settings.to_env().items():
        monkeypatch.setenv(key, value)
    # Created up front: a topic auto-created by a first send races with consumers joining.
    ensure_topics(settings)
    return settings


@pytest.fixture
def seeded(es: Elasticsearch, dag_env: Settings, airflow_db: Path) -> Iterator[dict[str, Any]]:
    """Two near-identical copies of the seed from two sources, and one unrelated article."""
    paras = seed_paragraphs()
    now = datetime.now(UTC)
    title = "China to cut steel output to reach carbon goals"
    first = build_article(
        paras,
        "wire:xinhua",
        "https://english.example-wire.cn/2021/steel-carbon",
        title,
        STEEL_TAGS,
        published_at=datetime(2021, 4, 20, 8, 0, tzinfo=UTC),
    )
    # The syndicated copy: another site, a light edit, published two hours later.
    copy_paras = [*paras[:3], paras[3].replace("Huang Libin", "Huang Libin, state media said")]
    second = build_article(
        copy_paras,
        "feed:daily-metals",
        "https://daily-metals.example.com/news/china-steel-cuts",
        title + " | Daily Metals",
        STEEL_TAGS,
        published_at=datetime(2021, 4, 20, 10, 0, tzinfo=UTC),
    )
    other = build_article(
        UNRELATED,
        "feed:portland-news",
        "https://portland-news.example.org/library-budget",
        "Council approves library budget",
        LIBRARY_TAGS,
        published_at=datetime(2021, 4, 20, 9, 0, tzinfo=UTC),
    )
    assert first.id != second.id
    index_articles(es, dag_env, [first, second, other])
    yield {"first": first, "second": second, "other": other, "now": now}
