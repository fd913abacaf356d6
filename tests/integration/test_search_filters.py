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
from newsflow.elastic.index import ensure_index
from newsflow.search import SearchFilters, parse_since, search
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
