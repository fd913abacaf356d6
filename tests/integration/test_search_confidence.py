"""Extraction confidence in the real Elasticsearch: mapped and filterable.

(An index created before the field existed gets it added: tests/integration/test_index_mapping.py.)
"""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch
from indexed_articles import article, index_articles

from newsflow.elastic.index import ensure_index
from newsflow.search import SearchFilters, search
from newsflow.settings import Settings
from schemas import Article, Tags

pytestmark = pytest.mark.integration


def _article(doc_id: str, text: str, confidence: float) -> Article:
    return article(
        doc_id,
        text,
        tags=Tags(),
        extractor="rs-trafilatura+textmass",
        versions={"rs-trafilatura": "0.1.1"},
        confidence=confidence,
        signals={"agreement": confidence},
    )


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
