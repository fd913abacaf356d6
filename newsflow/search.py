"""Full-text search over the article alias: the query a user types, as an Elasticsearch request.

``build_query`` is pure (and unit-tested); ``search`` runs it and returns typed hits
(newsflow.elastic.hits), the same kind semantic search returns, so both print one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from newsflow.elastic.hits import DISPLAY_FIELDS, Hit, hits_of, total_of
from newsflow.settings import Settings

# Highlight markers: characters no article uses, so a printer can style them safely.
HL_START = "\u2983"
HL_END = "\u2984"


@dataclass(frozen=True)
class SearchFilters:
    """Optional filters of `newsflow search`."""

    since: datetime | None = None
    site: str | None = None
    language: str | None = None
    entity: str | None = None
    topic: str | None = None
    # Only articles whose extraction confidence is at least this (0-1).
    min_confidence: float | None = None


def build_query(text: str, filters: SearchFilters, size: int = 10) -> dict[str, Any]:
    """The search request body: best-fields match on title/body with highlighted snippets."""
    must: list[dict[str, Any]] = []
    if text.strip():
        must.append(
            {
                "multi_match": {
                    "query": text,
                    "fields": [
                        "title^3",
                        "description^2",
                        "body",
                        "tags.persons^2",
                        "tags.organizations^2",
                        "tags.locations",
                    ],
                    "type": "best_fields",
                    "operator": "and",
                }
            }
        )
    else:
        must.append({"match_all": {}})
    should: list[dict[str, Any]] = []
    if text.strip():
        # Exact phrases rank first: "iron ore" beats a page with "iron" and "ore" apart.
        should.append({"match_phrase": {"body": {"query": text, "boost": 2}}})
        should.append({"match_phrase": {"title": {"query": text, "boost": 4}}})
    flt: list[dict[str, Any]] = []
    if filters.since is not None:
        flt.append({"range": {"published_at": {"gte": filters.since.isoformat()}}})
    if filters.site:
        flt.append({"term": {"site": filters.site}})
    if filters.language:
        flt.append({"term": {"language": filters.language}})
    if filters.entity:
        flt.append(
            {
                "bool": {
                    "should": [
                        {"term": {f"tags.{kind}.keyword": filters.entity}}
                        for kind in ("persons", "organizations", "locations")
                    ]
                    + [{"term": {"tags.entities.value": filters.entity}}],
                    "minimum_should_match": 1,
                }
            }
        )
    if filters.topic:
        flt.append({"term": {"tags.topics.value": filters.topic}})
    if filters.min_confidence is not None:
        flt.append({"range": {"extraction.confidence": {"gte": filters.min_confidence}}})
    return {
        "query": {"bool": {"must": must, "should": should, "filter": flt}},
        "size": size,
        "_source": DISPLAY_FIELDS,
        "highlight": {
            "fields": {
                "body": {"fragment_size": 160, "number_of_fragments": 2},
                "title": {},
            },
            "pre_tags": [HL_START],
            "post_tags": [HL_END],
        },
    }


def search(
    es: Elasticsearch, settings: Settings, text: str, filters: SearchFilters, size: int = 10
) -> tuple[int, list[Hit]]:
    """Runs a search on the article alias; returns the total hit count and the top hits."""
    response = es.search(index=settings.index.alias, **build_query(text, filters, size))
    return total_of(response), hits_of(response)
