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


def test_the_catch_up_copies_what_was_written_during_the_copy(
    es: Elasticsearch, settings: Settings
) -> None:
    """A backlogged article (cleaned long before it was indexed) and an enrichment update
    that reach the old index while the copy runs are in the new index after the catch-up;
    documents not written since are not copied again."""
    from datetime import UTC, datetime, timedelta

    from newsflow.enrichment.es import bulk_update
    from newsflow.enrichment.maintenance import catch_up

    old = ensure_index(es, settings.index)
    _index_articles(es, settings, 3)
    new = index_name(settings.index, 2)
    es.indices.create(index=new)
    es.indices.refresh(index=old)
    for hit in es.search(index=old, size=10)["hits"]["hits"]:
        es.index(index=new, id=hit["_id"], document=hit["_source"])
    es.indices.refresh(index=new)
    since = datetime.now(UTC)

    # While "the copy ran": an article cleaned a day ago, indexed only now, and a story id.
    text = "The harbour board met again after a day in the queue."
    raw = RawArticle(
        id="reindex-late",
        source="test://reindex/late",
        url="https://news.example.org/2026/11/late",
        content_type=ContentType.TEXT,
        body=text.encode(),
    )
    late = build_article(raw, Extracted(paragraphs=[text], extractor="t"), Tags())
    late = late.model_copy(update={"ingested_at": datetime.now(UTC) - timedelta(days=1)})
    sink = ElasticsearchSink(es, settings.index.alias)
    sink.add(late, ConsumerRecord("news.clean", 0, -1, 9, 0, 0, None, b"", [], None, 0, 0, 0))
    assert sink.flush() == []
    bulk_update(es, settings, {"reindex-1": {"story_id": "s-harbour"}}, index=old)

    assert catch_up(es, old, new, since) == 2
    assert es.get(index=new, id="reindex-late")["found"]
    assert es.get(index=new, id="reindex-1")["_source"]["story_id"] == "s-harbour"
    assert "updated_at" in es.get(index=new, id="reindex-late")["_source"]


def test_reindex_gives_documents_indexed_before_site_domains_their_domains(
    es: Elasticsearch, settings: Settings
) -> None:
    """A document indexed before the index had site_domains is found by `search --site` only
    by its exact host; the maintenance reindex writes the field, so its parent domain finds
    it too after the copy."""
    from newsflow.search import SearchFilters, search

    ensure_index(es, settings.index)
    text = "The harbour board met on Monday and approved the terminal."
    raw = RawArticle(
        id="reindex-old",
        source="test://reindex/old",
        url="https://sport.example.org/2026/11/old",
        content_type=ContentType.TEXT,
        body=text.encode(),
    )
    old = build_article(raw, Extracted(paragraphs=[text], extractor="t"), Tags())
    es.index(index=settings.index.alias, id=old.id, document=old.model_dump(mode="json"))
    es.indices.refresh(index=settings.index.alias)

    def found(site: str) -> list[str]:
        return [h.id for h in search(es, settings, "harbour", SearchFilters(site=site)).hits]

    assert found("sport.example.org") == ["reindex-old"]
    assert found("example.org") == []
    reindex(es, settings)
    stored = es.get(index=settings.index.alias, id="reindex-old")["_source"]
    assert stored["site_domains"] == ["sport.example.org", "example.org"]
    assert found("example.org") == ["reindex-old"]
