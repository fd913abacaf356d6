"""Entity counters per spelling: "Nato" and "NATO" each keep their own count."""

from __future__ import annotations

from airflow_support import build_article, index_articles
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
