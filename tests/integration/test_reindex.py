"""Reindex with alias swap against the real Elasticsearch: old versions are pruned, the
documents stay, and the previous version is kept for a rollback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch
from indexed_articles import article, index_articles, index_as_before

from newsflow.elastic.index import current_index, ensure_index, index_name
from newsflow.enrichment.es import bulk_update
from newsflow.enrichment.maintenance import catch_up, prune_versions, reindex
from newsflow.search import SearchFilters, Sort, search
from newsflow.settings import Settings
from schemas import ContentType, Tags

pytestmark = pytest.mark.integration


def _index_articles(es: Elasticsearch, settings: Settings, n: int) -> None:
    plans = [
        article(
            f"reindex-{i}",
            f"Story {i}: the harbour board met on Monday and approved plan number {i}.",
            url=f"https://news.example.org/2026/11/plan-{i}",
            content_type=ContentType.TEXT,
            tags=Tags(),
        )
        for i in range(n)
    ]
    index_articles(es, settings, plans)


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
    late = article(
        "reindex-late",
        "The harbour board met again after a day in the queue.",
        url="https://news.example.org/2026/11/late",
        content_type=ContentType.TEXT,
        tags=Tags(),
        ingested=datetime.now(UTC) - timedelta(days=1),
    )
    index_articles(es, settings, [late])
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
    it too after the copy. One whose site_domains were written in punycode (as the index
    worker wrote them before it spelled every host in Unicode) gets them respelled."""
    ensure_index(es, settings.index)
    old = article("reindex-old", url="https://sport.example.org/2026/11/old", tags=Tags())
    puny = article("reindex-puny", url="https://news.xn--bcher-kva.example/a", tags=Tags())
    index_as_before(es, settings, [old, puny])
    as_written = ["news.xn--bcher-kva.example", "xn--bcher-kva.example"]
    es.update(index=settings.index.alias, id=puny.id, doc={"site_domains": as_written})
    es.indices.refresh(index=settings.index.alias)

    def found(site: str) -> list[str]:
        return [h.id for h in search(es, settings, "harbour", SearchFilters(site=site)).hits]

    assert found("sport.example.org") == ["reindex-old"]
    assert found("example.org") == []
    reindex(es, settings)
    stored = es.get(index=settings.index.alias, id="reindex-old")["_source"]
    assert stored["site_domains"] == ["sport.example.org", "example.org"]
    assert found("example.org") == ["reindex-old"]
    respelled = es.get(index=settings.index.alias, id="reindex-puny")["_source"]
    assert respelled["site_domains"] == ["news.bücher.example", "bücher.example"]
    assert found("bücher.example") == found("xn--bcher-kva.example") == ["reindex-puny"]


def test_reindex_dates_documents_indexed_before_dated_at_never_after_their_ingestion(
    es: Elasticsearch, settings: Settings
) -> None:
    """A document indexed before dated_at existed is listed by its publication date as it
    is, a future one as the newest; the maintenance reindex writes dated_at (never after
    its ingestion), and an undated document gets none (it counts by its ingestion)."""
    ensure_index(es, settings.index)
    now = datetime.now(UTC)
    day = timedelta(days=1)
    before = [
        article("future", published=now + timedelta(minutes=1), ingested=now - 2 * day),
        article("recent", published=now - timedelta(hours=1)),
        article("undated", ingested=now - day),
    ]
    index_as_before(es, settings, before)

    def newest() -> list[str]:
        found = search(es, settings, "harbour", SearchFilters(), sort=Sort.NEWEST)
        return [h.id for h in found.hits]

    assert newest() == ["future", "recent", "undated"]
    reindex(es, settings)
    stored = {
        doc_id: es.get(index=settings.index.alias, id=doc_id)["_source"]
        for doc_id in ("future", "recent", "undated")
    }
    assert stored["future"]["dated_at"] == stored["future"]["ingested_at"]
    assert stored["recent"]["dated_at"] == stored["recent"]["published_at"]
    assert "dated_at" not in stored["undated"]
    assert newest() == ["recent", "undated", "future"]


def test_reindex_drops_links_indexed_before_the_pipeline_refused_them(
    es: Elasticsearch, settings: Settings
) -> None:
    """Articles indexed before the pipeline refused non-http(s) links kept their
    ``javascript:`` url, canonical URL or ``data:`` image (fields Kibana shows for clicking)
    until re-indexed; the maintenance reindex now nulls them, and drops a login from a link,
    as the schemas do for new articles. http(s) and relative links are copied as they were."""
    ensure_index(es, settings.index)
    good = article(
        "reindex-links",
        "The harbour board met on Monday and approved the terminal.",
        url="https://news.example.org/2026/11/links",
        content_type=ContentType.TEXT,
        tags=Tags(),
    )
    stored = good.model_dump(mode="json")
    # As an older pipeline wrote them: the schema of today refuses these values.
    hostile = {
        **stored,
        "id": "reindex-hostile",
        "url": "javascript:alert(document.cookie)",
        "canonical_url": " JaVa\tScRiPt:alert(1)",
        "image": "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=",
    }
    logged_in = {
        **stored,
        "id": "reindex-login",
        "url": "https://user:pw@news.example.org/2026/11/login",
        "canonical_url": "/2026/11/login",
        "image": "https://news.example.org/img/login.jpg",
    }
    for doc in (stored, hostile, logged_in):
        es.index(index=settings.index.alias, id=doc["id"], document=doc)
    es.indices.refresh(index=settings.index.alias)

    result = reindex(es, settings)
    assert result.count == 3

    def links(doc_id: str) -> tuple[object, object, object]:
        source = es.get(index=settings.index.alias, id=doc_id)["_source"]
        return source["url"], source["canonical_url"], source["image"]

    assert links("reindex-hostile") == (None, None, None)
    assert links("reindex-login") == (
        "https://news.example.org/2026/11/login",
        "/2026/11/login",
        "https://news.example.org/img/login.jpg",
    )
    assert links("reindex-links") == (stored["url"], stored["canonical_url"], stored["image"])
    # The cleaned document is still an Article the pipeline would write.
    from schemas import Article

    Article.model_validate(es.get(index=settings.index.alias, id="reindex-hostile")["_source"])
