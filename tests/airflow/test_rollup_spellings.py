"""Entity counters per spelling: "Nato" and "NATO" each keep their own count."""

from __future__ import annotations

from airflow_support import UNRELATED, build_article, index_articles
from elasticsearch import Elasticsearch

from newsflow.enrichment.rollup import entity_doc_id, rollup_pending
from newsflow.settings import Settings


def test_names_that_differ_only_in_case_are_counted_apart(
    es: Elasticsearch, dag_env: Settings
) -> None:
    settings = dag_env
    articles = [
        build_article(
            [f"{name} ministers met in Brussels on Tuesday to discuss air defence, report {i}."],
            f"feed:{name}{i}",
            f"https://site{i}.example.com/{name}",
            f"{name} ministers meet",
            {"organizations": [name]},
        )
        for i, name in enumerate(["Nato", "Nato", "NATO"])
    ]
    index_articles(es, settings, articles)
    # What an earlier version wrote: the lower-cased name's id, holding one spelling.
    es.index(
        index=settings.index.entities,
        id=entity_doc_id("nato"),
        document={"value": "NATO", "label": "ORG", "articles": 1, "stories": 1},
        refresh=True,
    )
    rollup_pending(es, settings)
    es.indices.refresh(index=settings.index.entities)
    hits = es.search(index=settings.index.entities, query={"match_all": {}}, size=100)
    counts = {h["_source"]["value"]: h["_source"]["articles"] for h in hits["hits"]["hits"]}
    assert counts.get("Nato") == 2 and counts.get("NATO") == 1, counts
    assert len([v for v in counts if v.lower() == "nato"]) == 2  # the stale copy is gone


def test_an_entity_no_article_has_any_more_loses_its_counter(
    es: Elasticsearch, dag_env: Settings
) -> None:
    """A corrected story under the same URL is written whole, its salience dropped, and
    rolled up again: the counters of its new entities were refreshed, but the entity the
    correction took out kept counting the article for good."""
    settings = dag_env
    url = "https://city.example.org/library"
    first = build_article(
        [*UNRELATED, "Jon Wilson chaired the meeting."],
        "feed:city",
        url,
        "Council approves library budget",
        {"persons": ["Jon Wilson"], "locations": ["Portland"]},
    )
    index_articles(es, settings, [first])
    rollup_pending(es, settings)
    es.indices.refresh(index=settings.index.entities)
    assert es.exists(index=settings.index.entities, id=entity_doc_id("Jon Wilson"))

    # The correction: same id (same URL), the name fixed.
    fixed = build_article(
        [*UNRELATED, "John Wilson chaired the meeting."],
        "feed:city",
        url,
        "Council approves library budget",
        {"persons": ["John Wilson"], "locations": ["Portland"]},
    )
    assert fixed.id == first.id
    index_articles(es, settings, [fixed])
    rollup_pending(es, settings)

    es.indices.refresh(index=settings.index.entities)
    hits = es.search(index=settings.index.entities, query={"match_all": {}}, size=100)
    counters = {h["_source"]["value"]: h["_source"]["articles"] for h in hits["hits"]["hits"]}
    assert counters == {"John Wilson": 1, "Portland": 1}
