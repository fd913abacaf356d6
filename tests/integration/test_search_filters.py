"""`newsflow search` filters in the real Elasticsearch: what a user types finds what it names.

A site by its host or by the name the page gives itself, an entity in any case, a topic by its
code (with or without the scheme) or its name, and --since counting an undated article from
when it was ingested.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch
from test_search_confidence import index_articles

from consumers.cleaning.model import Extracted
from consumers.process import build_article
from newsflow.elastic.index import EMBEDDING_DIMS, ensure_index
from newsflow.enrichment.embeddings import knn_vector
from newsflow.search import SearchFilters, filter_clauses, parse_since, search
from newsflow.settings import Settings
from schemas import Article, ContentType, RawArticle, Tag, Tags

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def _article(doc_id: str, url: str, tags: Tags, published: datetime | None) -> Article:
    raw = RawArticle(
        id=doc_id,
        source=f"test://filters/{doc_id}",
        url=url,
        content_type=ContentType.HTML,
        body=b"x",
    )
    extracted = Extracted(
        paragraphs=["The harbour board approved the new container terminal on Monday."],
        extractor="test",
        published_at=published,
    )
    return build_article(raw, extracted, tags)


def _ids(es: Elasticsearch, settings: Settings, **filters: object) -> list[str]:
    found = search(es, settings, "harbour", SearchFilters(**filters))  # type: ignore[arg-type]
    return sorted(h.id for h in found.hits)


def test_filters_find_what_the_user_names(es: Elasticsearch, settings: Settings) -> None:
    ensure_index(es, settings.index)
    economy = Tag(value="economy, business and finance", label="medtop:04000000", score=0.9)
    nrk = _article(
        "nrk",
        "https://www.nrk.no/sport/a-1.2345",
        Tags(language="no", locations=["Oslo"], topics=[economy]),
        NOW - timedelta(days=400),
    )
    nrk = nrk.model_copy(update={"site": "NRK"})  # the page's own name for its site
    daily = _article(
        "daily",
        "https://chinadaily.com.cn/a/2026/iron.html",
        Tags(language="en", locations=["China"]),
        None,  # undated: ingested now
    )
    index_articles(es, settings, [nrk, daily])

    assert _ids(es, settings, site="nrk.no") == ["nrk"]
    assert _ids(es, settings, site="NRK") == ["nrk"]
    assert _ids(es, settings, site="https://www.nrk.no/") == ["nrk"]
    assert _ids(es, settings, site="chinadaily.com.cn") == ["daily"]
    assert _ids(es, settings, entity="china") == ["daily"]
    assert _ids(es, settings, entity="OSLO") == ["nrk"]
    assert _ids(es, settings, language="EN") == ["daily"]
    for topic in ("04000000", "medtop:04000000", "Economy, Business and Finance"):
        assert _ids(es, settings, topic=topic) == ["nrk"], topic
    assert _ids(es, settings, since=parse_since("30d", NOW)) == ["daily"]
    assert _ids(es, settings, since=parse_since("1000d", NOW)) == ["daily", "nrk"]
    assert _ids(es, settings, since=NOW + timedelta(days=1)) == []


def test_semantic_search_keeps_to_the_filters(es: Elasticsearch, settings: Settings) -> None:
    """`search --semantic --lang de` gave English articles: the filters were not passed on."""
    ensure_index(es, settings.index)
    english = _article("en", "https://example.com/en", Tags(language="en"), None)
    deutsch = _article("de", "https://example.de/de", Tags(language="de"), None)
    index_articles(es, settings, [english, deutsch])
    near, far = [1.0] + [0.0] * (EMBEDDING_DIMS - 1), [0.0, 1.0] + [0.0] * (EMBEDDING_DIMS - 2)
    for doc_id, vector in (("en", near), ("de", far)):
        es.update(index=settings.index.alias, id=doc_id, doc={"embedding": vector}, refresh=True)
    anywhere = knn_vector(es, settings, near, 2)
    assert [h.id for h in anywhere] == ["en", "de"]
    german_only = knn_vector(
        es, settings, near, 2, filters=filter_clauses(SearchFilters(language="de"))
    )
    assert [h.id for h in german_only] == ["de"]
    elsewhere = knn_vector(
        es,
        settings,
        near,
        2,
        exclude_ids=["en"],
        filters=filter_clauses(SearchFilters(site="example.com")),
    )
    assert elsewhere == []
