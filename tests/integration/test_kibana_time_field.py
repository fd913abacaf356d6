"""The Kibana articles view's time range, as Discover asks it, in the real Elasticsearch.

Kibana cannot run here; what it does with a data view's time field is a range query on that
field, which can. The articles view used ``published_at``, and an article without a
publication date was outside every time range: Discover, the saved search and the charts
hid it, while `newsflow search` found it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch
from indexed_articles import article, index_articles

from newsflow.elastic.index import ensure_index
from newsflow.kibana import ARTICLES_DATA_VIEW, PUBLISHED_DATA_VIEW, load_objects
from newsflow.settings import Settings
from schemas import ContentType

pytestmark = pytest.mark.integration


def _time_field(view_id: str) -> str:
    (view,) = [o for o in load_objects() if o["id"] == view_id and o["type"] == "index-pattern"]
    return str(view["attributes"]["timeFieldName"])


def test_the_articles_view_time_range_holds_undated_articles(
    es: Elasticsearch, settings: Settings
) -> None:
    ensure_index(es, settings.index)
    now = datetime.now(UTC)
    articles = [
        article(doc_id, "Harbour news.", content_type=ContentType.TEXT, published=published)
        for doc_id, published in (
            ("dated", now - timedelta(minutes=5)),
            ("undated", None),
            # Dated tomorrow, ingested now (a wrong time zone, a scheduled post): outside
            # every range up to "now" until tomorrow, then the newest article for good.
            ("future", now + timedelta(days=1)),
        )
    ]
    index_articles(es, settings, articles)

    def in_last_hour(view_id: str) -> list[str]:
        # What Discover sends for "Last 1 hour" on the view.
        window = {"gte": (now - timedelta(hours=1)).isoformat(), "lte": "now"}
        found = es.search(
            index=settings.index.alias,
            query={"range": {_time_field(view_id): window}},
            source=False,
        )
        return sorted(hit["_id"] for hit in found["hits"]["hits"])

    assert in_last_hour(ARTICLES_DATA_VIEW) == ["dated", "future", "undated"]
    # The publication-date view is by its nature the dated articles only, each by its date
    # but never after it was ingested.
    assert in_last_hour(PUBLISHED_DATA_VIEW) == ["dated", "future"]
