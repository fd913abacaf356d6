"""Full-text search over the article alias: the query a user types, as an Elasticsearch request.

``build_query`` is pure (and unit-tested); ``search`` runs it and flattens the hits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

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


@dataclass
class Hit:
    id: str
    score: float
    title: str | None
    site: str | None
    published_at: str | None
    language: str | None
    url: str | None
    lead: str | None = None
    entities: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    snippets: list[str] = field(default_factory=list)


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
        "_source": [
            "id",
            "title",
            "site",
            "published_at",
            "language",
            "url",
            "description",
            "body",
            "tags.persons",
            "tags.organizations",
            "tags.locations",
            "tags.topics",
        ],
        "highlight": {
            "fields": {
                "body": {"fragment_size": 160, "number_of_fragments": 2},
                "title": {},
            },
            "pre_tags": [HL_START],
            "post_tags": [HL_END],
        },
    }


def _lead(src: dict[str, Any]) -> str | None:
    """What stands in for a missing title: the description, else the first words of the body."""
    if src.get("description"):
        return str(src["description"])[:120]
    body = src.get("body") or []
    if not body:
        return None
    first = str(body[0])
    return first if len(first) <= 100 else first[:100].rsplit(" ", 1)[0] + " …"


def to_hit(raw: dict[str, Any]) -> Hit:
    """One search hit, flattened for printing."""
    src = raw.get("_source", {})
    highlight = raw.get("highlight", {})
    tags = src.get("tags") or {}
    entities = [
        *tags.get("persons", []),
        *tags.get("organizations", []),
        *tags.get("locations", []),
    ]
    return Hit(
        id=str(raw.get("_id")),
        score=float(raw.get("_score") or 0.0),
        title=src.get("title"),
        site=src.get("site"),
        published_at=src.get("published_at"),
        language=src.get("language"),
        url=src.get("url"),
        lead=_lead(src),
        entities=entities,
        topics=[t.get("value", "") for t in tags.get("topics", [])],
        snippets=list(highlight.get("body", [])),
    )


def search(
    es: Elasticsearch, settings: Settings, text: str, filters: SearchFilters, size: int = 10
) -> tuple[int, list[Hit]]:
    """Runs a search on the article alias; returns the total hit count and the top hits."""
    response = es.search(index=settings.index_alias, **build_query(text, filters, size))
    total = response["hits"]["total"]
    count = int(total["value"] if isinstance(total, dict) else total)
    return count, [to_hit(h) for h in response["hits"]["hits"]]
