"""Reindex with alias swap against the real Elasticsearch: old versions are pruned, the
documents stay, and the previous version is kept for a rollback."""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch
from kafka.consumer.fetcher import ConsumerRecord

from consumers.cleaning.model import Extracted
from consumers.process import build_article
from consumers.sinks import ElasticsearchSink
from newsflow.elastic.index import current_index, ensure_index, index_name
from newsflow.enrichment.maintenance import prune_versions, reindex
from newsflow.settings import Settings
from schemas import ContentType, RawArticle, Tags

pytestmark = pytest.mark.integration


def _index_articles(es: Elasticsearch, settings: Settings, n: int) -> None:
    sink = ElasticsearchSink(es, settings.index.alias)
    for i in range(n):
        text = f"Story {i}: the harbour board met on Monday and approved plan number {i}."
        raw = RawArticle(
            id=f"reindex-{i}",
            source=f"test://reindex/{i}",
            url=f"https://news.example.org/2026/11/plan-{i}",
            content_type=ContentType.TEXT,
            body=text.encode(),
        )
        record = ConsumerRecord("news.clean", 0, -1, i, 0, 0, None, b"", [], None, 0, 0, 0)
        sink.add(build_article(raw, Extracted(paragraphs=[text], extractor="t"), Tags()), record)
    assert sink.flush() == []


def _versions(es: Elasticsearch, settings: Settings) -> set[str]:
    return set(es.indices.get_alias(index=f"{settings.index.prefix}*"))


def test_reindex_keeps_one_previous_version_and_prunes_the_rest(
    es: Elasticsearch, settings: Settings
) -> None:
    assert settings.index.keep_versions == 1
    ensure_index(es, settings.index)
    _index_articles(es, settings, 5)
    v1, v2, v3 = (index_name(settings.index, v) for v in (1, 2, 3))

    first = reindex(es, settings)
    assert (first.old_index, first.new_index, first.count) == (v1, v2, 5)
    assert first.deleted == ()
    assert _versions(es, settings) == {v1, v2}

    second = reindex(es, settings)
    assert (second.old_index, second.new_index, second.count) == (v2, v3, 5)
    assert second.deleted == (v1,)
    assert _versions(es, settings) == {v2, v3}
    assert current_index(es, settings.index) == v3

    # Keeping none deletes the previous version too; the serving one is never touched.
    assert prune_versions(es, settings, keep=0) == (v2,)
    assert _versions(es, settings) == {v3}
    assert es.count(index=settings.index.alias)["count"] == 5
