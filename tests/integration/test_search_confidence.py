"""Extraction confidence in the real Elasticsearch: mapped and filterable.

(An index created before the field existed gets it added: tests/integration/test_index_mapping.py.)
"""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch
from kafka.consumer.fetcher import ConsumerRecord

from consumers.cleaning.model import Extracted
from consumers.process import build_article
from consumers.sinks import ElasticsearchSink
from newsflow.elastic.index import ensure_index
from newsflow.search import SearchFilters, search
from newsflow.settings import Settings
from schemas import Article, ContentType, RawArticle, Tags

pytestmark = pytest.mark.integration


def _article(doc_id: str, text: str, confidence: float) -> Article:
    raw = RawArticle(
        id=doc_id,
        source=f"test://confidence/{doc_id}",
        url=f"https://news.example.org/{doc_id}",
        content_type=ContentType.HTML,
        body=text.encode(),
    )
    extracted = Extracted(
        paragraphs=[text],
        extractor="rs-trafilatura+textmass",
        versions={"rs-trafilatura": "0.1.1"},
        confidence=confidence,
        signals={"agreement": confidence},
    )
    return build_article(raw, extracted, Tags())


def index_articles(es: Elasticsearch, settings: Settings, articles: list[Article]) -> None:
    """Indexes ``articles`` through the index worker's sink, searchable at once."""
    sink = ElasticsearchSink(es, settings.index.alias)
    for offset, article in enumerate(articles):
        record = ConsumerRecord("news.clean", 0, -1, offset, 0, 0, None, b"", [], None, 0, 0, 0)
        sink.add(article, record)
    assert sink.flush() == []
    es.indices.refresh(index=settings.index.alias)


def test_search_keeps_only_articles_at_or_above_the_minimum_confidence(
    es: Elasticsearch, settings: Settings
) -> None:
    ensure_index(es, settings.index)
    sure = _article("sure", "The harbour board approved the container terminal.", 0.93)
    doubtful = _article("doubtful", "The harbour board menu sign in subscribe terminal.", 0.41)
    index_articles(es, settings, [sure, doubtful])

    assert search(es, settings, "harbour terminal", SearchFilters()).total == 2
    found = search(es, settings, "harbour terminal", SearchFilters(min_confidence=0.8))
    assert (found.total, [h.id for h in found.hits]) == (1, ["sure"])
    stored = es.get(index=settings.index.alias, id="sure")["_source"]["extraction"]
    assert stored["extractor"] == "rs-trafilatura+textmass"
    assert stored["versions"] == {"rs-trafilatura": "0.1.1"}
    assert stored["confidence"] == pytest.approx(0.93)
