"""The article index refreshes as Elasticsearch does by default, against the real node.

Its template sets no ``refresh_interval``: a shard nobody searches skips its scheduled
refreshes (benchmarks/bench_refresh.py measures what that saves), and a search still finds
every acknowledged article. An index made by an earlier template, with "1s" written into it,
is brought to the default by ``ensure_index``; an interval someone chose is left alone.
"""

from __future__ import annotations

import time

import pytest
from elasticsearch import Elasticsearch
from kafka.consumer.fetcher import ConsumerRecord

from consumers.cleaning.model import Extracted
from consumers.process import build_article
from consumers.sinks import ElasticsearchSink
from newsflow.elastic.index import (
    REFRESH_SETTING,
    article_mappings,
    ensure_index,
    index_name,
)
from newsflow.enrichment.maintenance import reindex
from newsflow.settings import Settings
from schemas import ContentType, RawArticle, Tags

pytestmark = pytest.mark.integration

TEXT = "The harbour board met on Monday and approved the new ferry timetable for the winter."


def _own_interval(es: Elasticsearch, index: str) -> str | None:
    """The refresh interval written into the index itself (None: Elasticsearch's default)."""
    live = es.indices.get_settings(index=index, name=REFRESH_SETTING, flat_settings=True)
    value = live.get(index, {}).get("settings", {}).get(REFRESH_SETTING)
    return None if value is None else str(value)


def _old_index(es: Elasticsearch, settings: Settings, interval: str) -> str:
    name = index_name(settings.index)
    es.indices.create(
        index=name,
        settings={"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": interval},
        mappings=article_mappings("standard"),
        aliases={settings.index.alias: {"is_write_index": True}},
    )
    return name


def test_an_unsearched_index_still_shows_every_article_to_the_next_search(
    es: Elasticsearch, settings: Settings
) -> None:
    name = ensure_index(es, settings.index)
    assert _own_interval(es, name) is None
    defaults = es.indices.get_settings(index=name, include_defaults=True, flat_settings=True)
    assert defaults[name]["defaults"][REFRESH_SETTING] == "1s"
    # Idle at once: every scheduled refresh is skipped from now on, so only a search makes
    # the articles visible.
    es.indices.put_settings(index=name, settings={"index.search.idle.after": "0s"})
    sink = ElasticsearchSink(es, settings.index.alias)
    record = ConsumerRecord("news.clean", 0, -1, 0, 0, 0, None, b"", [], None, 0, 0, 0)
    ids = [f"refresh-{i}" for i in range(5)]
    for article_id in ids:
        raw = RawArticle(
            id=article_id,
            source=f"test://refresh/{article_id}",
            content_type=ContentType.TEXT,
            body=TEXT.encode(),
        )
        article = build_article(raw, Extracted(paragraphs=[TEXT], extractor="test"), Tags())
        sink.add(article, record)
    assert sink.flush() == []

    # No explicit refresh: the search of an idle shard refreshes it (once the node has marked
    # the refresh pending, at its next one-second tick) and waits for it.
    deadline = time.monotonic() + 30
    found: list[str] = []
    while time.monotonic() < deadline:
        hits = es.search(index=settings.index.alias, query={"match": {"body": "ferry"}}, size=10)
        found = sorted(h["_id"] for h in hits["hits"]["hits"])
        if found == ids:
            break
        time.sleep(0.2)
    assert found == ids


def test_ensure_index_resets_the_old_templates_interval_on_a_live_index(
    es: Elasticsearch, settings: Settings
) -> None:
    name = _old_index(es, settings, "1s")
    assert ensure_index(es, settings.index) == name
    assert _own_interval(es, name) is None
    assert ensure_index(es, settings.index) == name  # idempotent


def test_ensure_index_keeps_an_interval_someone_chose(
    es: Elasticsearch, settings: Settings
) -> None:
    name = _old_index(es, settings, "30s")
    assert ensure_index(es, settings.index) == name
    assert _own_interval(es, name) == "30s"


def test_the_reindexed_version_refreshes_by_default(es: Elasticsearch, settings: Settings) -> None:
    # The copy is loaded with refreshes off, then handed back to the default.
    ensure_index(es, settings.index)
    result = reindex(es, settings)
    assert _own_interval(es, result.new_index) is None
