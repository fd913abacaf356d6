"""Articles for search and index tests: built as the clean stage builds them, indexed as the
index worker indexes them (or as an older one did, without the fields it adds since)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch
from kafka.consumer.fetcher import ConsumerRecord

from consumers.cleaning.model import Extracted
from consumers.process import build_article
from consumers.sinks import ElasticsearchSink
from newsflow.settings import Settings
from schemas import Article, ContentType, RawArticle, Tags

#: The text an article has unless a test says otherwise: "harbour" finds it.
HARBOUR = "The harbour board approved the new container terminal on Monday."


def article(
    doc_id: str,
    text: str = HARBOUR,
    *,
    url: str | None = None,
    source: str | None = None,
    tags: Tags | None = None,
    published: datetime | None = None,
    ingested: datetime | None = None,
    content_type: ContentType = ContentType.HTML,
    metadata: dict[str, str] | None = None,
    **extracted: Any,
) -> Article:
    """An article as the clean stage builds it: ``text`` its one paragraph, at ``url``
    (https://news.example.org/<id> unless given), English unless ``tags`` say otherwise.
    ``extracted`` goes to the extraction (title, description, confidence, ...)."""
    raw = RawArticle(
        id=doc_id,
        source=source or f"test://articles/{doc_id}",
        url=url or f"https://news.example.org/{doc_id}",
        content_type=content_type,
        body=text.encode(),
        metadata=metadata or {},
    )
    found = Extracted(
        paragraphs=[text], published_at=published, **{"extractor": "test", **extracted}
    )
    built = build_article(raw, found, tags if tags is not None else Tags(language="en"))
    return built if ingested is None else built.model_copy(update={"ingested_at": ingested})


def index_articles(es: Elasticsearch, settings: Settings, articles: list[Article]) -> None:
    """Indexes ``articles`` through the index worker's sink, searchable at once."""
    sink = ElasticsearchSink(es, settings.index.alias)
    for offset, one in enumerate(articles):
        record = ConsumerRecord("news.clean", 0, -1, offset, 0, 0, None, b"", [], None, 0, 0, 0)
        sink.add(one, record)
    assert sink.flush() == []
    es.indices.refresh(index=settings.index.alias)


def index_as_before(es: Elasticsearch, settings: Settings, articles: list[Article]) -> None:
    """Indexes ``articles`` as the message alone, the way an index worker did before it added
    fields of its own (site_domains, dated_at): what the maintenance reindex must fill in."""
    for one in articles:
        es.index(index=settings.index.alias, id=one.id, document=one.model_dump(mode="json"))
    es.indices.refresh(index=settings.index.alias)


def in_story(es: Elasticsearch, settings: Settings, story: dict[str, list[str]]) -> None:
    """Gives articles the story fields the enrichment DAG writes (first id canonical)."""
    for story_id, ids in story.items():
        for doc_id in ids:
            doc = {
                "story_id": story_id,
                "story_size": len(ids),
                "story_canonical": doc_id == ids[0],
            }
            es.update(index=settings.index.alias, id=doc_id, doc=doc)
    es.indices.refresh(index=settings.index.alias)
