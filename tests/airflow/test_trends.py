"""trends run with dag.test(): windows, counts and rises in the trends index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow_support import (
    LIBRARY_TAGS,
    STEEL_TAGS,
    UNRELATED,
    build_article,
    index_articles,
    run_dag,
    seed_paragraphs,
)
from elasticsearch import Elasticsearch

from newsflow.enrichment.clustering import cluster_pending
from newsflow.enrichment.rollup import rollup_pending
from newsflow.enrichment.trends import write_trends
from newsflow.settings import Settings


def test_trends_run(es: Elasticsearch, dag_env: Settings, airflow_db: object) -> None:
    settings = dag_env
    now = datetime.now(UTC)
    paras = seed_paragraphs()
    articles = []
    # The steel story: three articles in the last hour, none the hour before.
    for i in range(3):
        articles.append(
            build_article(
                [*paras[:3], f"{paras[3]} Update {i}."],
                f"feed:site{i}",
                f"https://site{i}.example.com/steel",
                "China to cut steel output",
                STEEL_TAGS,
                ingested_at=now - timedelta(minutes=10 + i),
            )
        )
    # The library story: one article now, two in the previous hour (a fall).
    for i, minutes in enumerate((20, 70, 80)):
        articles.append(
            build_article(
                [*UNRELATED, f"Report {i}."],
                f"feed:city{i}",
                f"https://city{i}.example.org/library",
                "Council approves library budget",
                LIBRARY_TAGS,
                ingested_at=now - timedelta(minutes=minutes),
            )
        )
    index_articles(es, settings, articles)
    # Trends count stories and salient entities: the enrichment stages provide them.
    cluster_pending(es, settings)
    rollup_pending(es, settings)

    run = run_dag("trends")
    assert run.state == "success"

    es.indices.refresh(index=settings.index.trends)
    resp = es.search(
        index=settings.index.trends,
        query={"bool": {"filter": [{"term": {"window": "1h"}}, {"term": {"kind": "entity"}}]}},
        size=100,
    )
    by_value = {h["_source"]["value"]: h["_source"] for h in resp["hits"]["hits"]}
    assert by_value["Huang Libin"]["count"] == 3
    assert by_value["Huang Libin"]["previous"] == 0
    assert by_value["Huang Libin"]["rise"] == 3.0
    # The three steel entities tie on count and rise; ties are ranked by value.
    steel = ["China", "Huang Libin", "Ministry of Industry and Information Technology"]
    assert [by_value[v]["rank"] for v in steel] == [1, 2, 3]
    assert by_value["Keith Wilson"]["rank"] > 3
    assert by_value["Keith Wilson"]["count"] == 1
    assert by_value["Keith Wilson"]["previous"] == 2
    assert by_value["Keith Wilson"]["delta"] == -1

    day = es.search(
        index=settings.index.trends,
        query={"bool": {"filter": [{"term": {"window": "24h"}}, {"term": {"kind": "story"}}]}},
        size=100,
    )["hits"]["hits"]
    assert sorted(h["_source"]["count"] for h in day) == [3, 3]
    topics = es.count(
        index=settings.index.trends,
        query={"bool": {"filter": [{"term": {"window": "7d"}}, {"term": {"kind": "topic"}}]}},
    )["count"]
    assert topics == 2

    # Re-running the same interval overwrites, never duplicates.
    total = es.count(index=settings.index.trends)["count"]
    from newsflow.enrichment.trends import write_trends

    end = datetime.fromisoformat(resp["hits"]["hits"][0]["_source"]["window_end"])
    write_trends(es, settings, end=end)
    assert es.count(index=settings.index.trends)["count"] == total


def test_old_news_ingested_now_does_not_trend(es: Elasticsearch, dag_env: Settings) -> None:
    """A first crawl of a sitemap brings a site's back catalogue: thousands of articles
    published years ago, ingested now. They filled the trends of the hour; an article counts
    now only if it was published at most two days before the window (or has no date)."""
    settings = dag_env
    now = datetime.now(UTC)
    paras = seed_paragraphs()
    # One steel article published today, one undated; the library story from the archive.
    articles = [
        build_article(
            paras,
            "feed:today",
            "https://today.example.com/steel",
            "China to cut steel output",
            STEEL_TAGS,
            published_at=now - timedelta(hours=3),
            ingested_at=now - timedelta(minutes=5),
        ),
        build_article(
            [*paras[:3], "Undated copy."],
            "feed:undated",
            "https://undated.example.com/steel",
            "China to cut steel output",
            STEEL_TAGS,
            ingested_at=now - timedelta(minutes=6),
        ),
    ]
    articles += [
        build_article(
            [*UNRELATED, f"Archive {i}."],
            f"sitemap:archive{i}",
            f"https://archive.example.org/2019/library-{i}",
            "Council approves library budget",
            LIBRARY_TAGS,
            published_at=datetime(2019, 5, 1, tzinfo=UTC),
            ingested_at=now - timedelta(minutes=7 + i),
        )
        for i in range(5)
    ]
    index_articles(es, settings, articles)
    rollup_pending(es, settings)

    write_trends(es, settings, end=now)
    es.indices.refresh(index=settings.index.trends)
    hits = es.search(
        index=settings.index.trends,
        query={"bool": {"filter": [{"term": {"window": "1h"}}, {"term": {"kind": "entity"}}]}},
        size=100,
    )["hits"]["hits"]
    counts = {h["_source"]["value"]: h["_source"]["count"] for h in hits}
    assert counts["Huang Libin"] == 2  # today's and the undated one
    assert "Keith Wilson" not in counts  # five archive articles, none of them news


def test_rerun_of_a_window_end_drops_rows_that_left_the_top(
    es: Elasticsearch, dag_env: Settings
) -> None:
    """`newsflow enrich` within the hour, a retried task and the hour's DAG run all write the
    same window end. A value that was in the top of an earlier run but not of a later one
    kept its row (count, rank and all): the window then had two rank-1 stories."""
    settings = dag_env
    now = datetime.now(UTC)
    end = now
    library = build_article(
        UNRELATED,
        "feed:city",
        "https://city.example.org/library",
        "Council approves library budget",
        LIBRARY_TAGS,
        ingested_at=now - timedelta(minutes=30),
    )
    index_articles(es, settings, [library])
    cluster_pending(es, settings)
    rollup_pending(es, settings)
    write_trends(es, settings, end=end, top=1)

    # Later in the hour the steel story arrives, twice: it is now the top story.
    paras = seed_paragraphs()
    steel = [
        build_article(
            [*paras[:3], f"{paras[3]} Update {i}."],
            f"feed:site{i}",
            f"https://site{i}.example.com/steel",
            "China to cut steel output",
            STEEL_TAGS,
            ingested_at=now - timedelta(minutes=10 + i),
        )
        for i in range(2)
    ]
    index_articles(es, settings, steel)
    cluster_pending(es, settings)
    rollup_pending(es, settings)
    written = write_trends(es, settings, end=end, top=1)

    es.indices.refresh(index=settings.index.trends)
    rows = es.search(
        index=settings.index.trends,
        query={"term": {"window_end": end.isoformat()}},
        size=1000,
    )["hits"]["hits"]
    assert len(rows) == written
    stories = [r["_source"] for r in rows if r["_source"]["window"] == "1h"]
    stories = [s for s in stories if s["kind"] == "story"]
    assert [(s["count"], s["rank"]) for s in stories] == [(2, 1)]
