"""`newsflow search` past its first page, newest first, and what a hit shows, in the real
Elasticsearch.

Before: no way past the first -n hits; no date order for a query with words (only an empty
query listed the newest first); a hit whose words matched only in its title printed no
snippet, and its highlighted title was asked for and never shown.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import newsflow_cli
import pytest
from elasticsearch import Elasticsearch
from indexed_articles import article, in_story, index_articles

from newsflow.elastic.index import EMBEDDING_DIMS, ensure_index
from newsflow.enrichment.embeddings import KNN_MAX_CANDIDATES, knn_vector
from newsflow.search import MAX_WINDOW, QueryError, SearchFilters, Sort, search
from newsflow.settings import Settings
from schemas import Article

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def _article(
    doc_id: str,
    text: str,
    title: str | None = None,
    published: datetime | None = None,
    ingested: datetime | None = None,
    description: str | None = None,
) -> Article:
    return article(
        doc_id,
        text,
        url=f"https://paging.example.org/{doc_id}",
        published=published,
        ingested=ingested or NOW,
        title=title,
        description=description,
    )


def _harbour(n: int) -> Article:
    # Scores differ (more mentions of the word rank higher) and some tie: paging must keep
    # ties in one order too.
    mentions = " ".join(["harbour"] * (1 + n % 4))
    return _article(f"h{n:02d}", f"The {mentions} board met on day {n}.")


def _ids(es: Elasticsearch, settings: Settings, **kwargs: object) -> list[str]:
    return [h.id for h in search(es, settings, "harbour", SearchFilters(), **kwargs).hits]  # type: ignore[arg-type]


def test_pages_list_every_hit_once_in_order(es: Elasticsearch, settings: Settings) -> None:
    ensure_index(es, settings.index)
    index_articles(es, settings, [_harbour(n) for n in range(23)])
    in_story(es, settings, {"s-a": ["h00", "h04", "h08"], "s-b": ["h01", "h05"]})

    for one_per_story, listed in ((False, 23), (True, 23 - 2 - 1)):
        whole = _ids(es, settings, size=100, one_per_story=one_per_story)
        assert len(whole) == listed
        count = -(-listed // 5)
        pages = [
            search(es, settings, "harbour", SearchFilters(), 5, one_per_story, page=page)
            for page in range(1, count + 1)
        ]
        assert [h.id for p in pages for h in p.hits] == whole
        assert [p.offset for p in pages] == list(range(0, listed, 5))
        assert {(p.total, p.listed, p.listed_exact) for p in pages} == {(23, listed, True)}
        # Past the end: one line saying how far the listing goes.
        past = rf"page {count + 1} is past the end: {listed} hits fill {count} pages of 5"
        with pytest.raises(QueryError, match=past):
            search(es, settings, "harbour", SearchFilters(), 5, one_per_story, page=count + 1)

    # A story's own listing pages too.
    story = SearchFilters(story="s-a")
    first, second = (search(es, settings, "harbour", story, 2, page=p) for p in (1, 2))
    assert len(first.hits) == 2 and len(second.hits) == 1 and second.listed == 3
    with pytest.raises(QueryError, match="page 3 is past the end: 3 hits fill 2 pages of 2"):
        search(es, settings, "harbour", story, 2, page=3)
    # Nothing matches: page 1 is an empty listing, not an error.
    assert search(es, settings, "nowhere", SearchFilters(), page=1).hits == []
    # Past what Elasticsearch pages through: refused before asking it.
    with pytest.raises(QueryError, match=f"at most its first {MAX_WINDOW:,}"):
        search(es, settings, "harbour", SearchFilters(), 100, page=MAX_WINDOW // 100 + 1)

    env = newsflow_cli.child_env(settings)
    shown = newsflow_cli.run(["search", "harbour", "--all-copies", "-n", "10", "--page", "2"], env)
    assert shown.returncode == 0, shown.stderr
    assert "23 article(s) match" in shown.stdout
    assert "\n11. " in shown.stdout and "\n20. " in shown.stdout and "\n21. " not in shown.stdout
    assert "showing 11\u201320 of 23; --page 3 for more" in shown.stdout
    last = newsflow_cli.run(["search", "harbour", "-n", "10", "--page", "2"], env)
    assert "showing 11\u201320 of 20 (each story once)" in last.stdout
    assert "--page 3" not in last.stdout
    beyond = newsflow_cli.run(["search", "harbour", "-n", "10", "--page", "3"], env)
    assert beyond.returncode == 2
    assert "page 3 is past the end: 20 hits fill 2 pages of 10" in beyond.stderr
    assert len(beyond.stderr.strip().splitlines()) == 1


def test_newest_first_with_words_counts_undated_articles_by_ingestion(
    es: Elasticsearch, settings: Settings
) -> None:
    ensure_index(es, settings.index)
    day = timedelta(days=1)
    articles = [
        # The best match is the oldest: relevance and date order disagree.
        _article("old", "Harbour harbour harbour news.", published=NOW - 300 * day),
        _article("week", "Harbour news.", published=NOW - 7 * day),
        _article("undated-2d", "Harbour news.", ingested=NOW - 2 * day),
        _article("hour", "Harbour news.", published=NOW - timedelta(hours=1)),
        _article("undated-30d", "Harbour news.", ingested=NOW - 30 * day),
        _article("other", "Nothing about ports.", published=NOW),
    ]
    index_articles(es, settings, articles)
    newest = ["hour", "undated-2d", "week", "undated-30d", "old"]
    for one_per_story in (True, False):
        assert _ids(es, settings, one_per_story=one_per_story, sort=Sort.NEWEST) == newest
        assert _ids(es, settings, one_per_story=one_per_story)[0] == "old"
        paged = [
            h.id
            for page in (1, 2, 3)
            for h in search(
                es, settings, "harbour", SearchFilters(), 2, one_per_story, Sort.NEWEST, page
            ).hits
        ]
        assert paged == newest
    # The words still select and are still highlighted.
    (hour,) = search(es, settings, "harbour", SearchFilters(), 1, sort=Sort.NEWEST).hits
    assert "Harbour" in hour.snippets[0]

    env = newsflow_cli.child_env(settings)
    shown = newsflow_cli.run(["search", "harbour", "--sort", "newest"], env)
    assert shown.returncode == 0, shown.stderr
    order = [shown.stdout.index(f"id {doc_id}\n") for doc_id in newest]
    assert order == sorted(order)
    # The score is only how recent a hit is: not printed as if it were how well it matched.
    assert " score " not in shown.stdout
    ranked = newsflow_cli.run(["search", "harbour"], env)
    assert " score " in ranked.stdout
    wrong = newsflow_cli.run(["search", "harbour", "--sort", "oldest"], env)
    assert wrong.returncode == 2 and "relevance" in wrong.stderr


def test_a_hit_shows_its_highlighted_title_and_something_of_its_text(
    es: Elasticsearch, settings: Settings
) -> None:
    ensure_index(es, settings.index)
    articles = [
        _article("title", "The board met on Monday and approved the plan.", title="Harbour plan"),
        _article(
            "lead",
            "The board met on Tuesday.",
            title="A plan",
            description="The harbour board approved its budget.",
        ),
    ]
    index_articles(es, settings, articles)
    found = search(es, settings, "harbour", SearchFilters())
    by_id = {h.id: h for h in found.hits}
    (title,) = by_id["title"].highlight["title"]
    assert [t for t, marked in found.markers.spans(title) if marked] == ["Harbour"]
    assert by_id["title"].snippets == []
    (lead,) = by_id["lead"].snippets
    assert [t for t, marked in found.markers.spans(lead) if marked] == ["harbour"]

    shown = newsflow_cli.run(["search", "harbour"], newsflow_cli.child_env(settings))
    assert shown.returncode == 0, shown.stderr
    # The title-only hit shows its first lines; the lead-only hit its matching lead.
    assert "The board met on Monday and approved the plan." in shown.stdout
    assert "The harbour board approved its budget." in shown.stdout
    assert ". Harbour plan" in shown.stdout


def test_a_deep_semantic_page_asks_for_no_more_candidates_than_elasticsearch_allows(
    es: Elasticsearch, settings: Settings
) -> None:
    """`--semantic --page 40 -n 100` asks for the 4 000 nearest (x4 with one per story):
    num_candidates was 4 x k, and Elasticsearch refused more than 10 000 with a 400."""
    ensure_index(es, settings.index)
    index_articles(es, settings, [_harbour(n) for n in range(3)])
    for n in range(3):
        vector = [1.0, float(n)] + [0.0] * (EMBEDDING_DIMS - 2)
        es.update(index=settings.index.alias, id=f"h{n:02d}", doc={"embedding": vector})
    es.indices.refresh(index=settings.index.alias)
    nearest = knn_vector(es, settings, [1.0] + [0.0] * (EMBEDDING_DIMS - 1), KNN_MAX_CANDIDATES)
    assert [h.id for h in nearest] == ["h00", "h01", "h02"]


def test_a_semantic_page_without_embeddings_says_why(es: Elasticsearch, settings: Settings) -> None:
    """`--semantic --page 2` before enrichment said "page 2 is past the end", not why."""
    ensure_index(es, settings.index)
    index_articles(es, settings, [_harbour(0)])
    env = newsflow_cli.child_env(settings)
    shown = newsflow_cli.run(["search", "harbour", "--semantic", "--page", "2"], env)
    assert shown.returncode == 0, shown.stderr
    assert "no article has an embedding yet" in shown.stdout


def test_an_article_dated_after_its_ingestion_counts_from_its_ingestion(
    es: Elasticsearch, settings: Settings
) -> None:
    """A page dated after it was ingested (a wrong time zone, a scheduled post) listed as the
    newest in `--sort newest`, and `--since 24h` kept it, though it came in two days ago."""
    ensure_index(es, settings.index)
    day = timedelta(days=1)
    articles = [
        _article(
            "scheduled",
            "Harbour news.",
            published=NOW + timedelta(minutes=1),
            ingested=NOW - 2 * day,
        ),
        _article("hour", "Harbour news.", published=NOW - timedelta(hours=1)),
        _article("undated-1d", "Harbour news.", ingested=NOW - day),
        _article("week", "Harbour news.", published=NOW - 7 * day),
    ]
    index_articles(es, settings, articles)
    stored = es.get(index=settings.index.alias, id="scheduled")["_source"]
    assert stored["dated_at"] == stored["ingested_at"] and stored["published_at"] > NOW.isoformat()

    newest = ["hour", "undated-1d", "scheduled", "week"]
    for one_per_story in (True, False):
        assert _ids(es, settings, one_per_story=one_per_story, sort=Sort.NEWEST) == newest
    since = search(es, settings, "harbour", SearchFilters(since=NOW - day), sort=Sort.NEWEST)
    assert [h.id for h in since.hits] == ["hour", "undated-1d"]
    until = search(es, settings, "harbour", SearchFilters(until=NOW - day), sort=Sort.NEWEST)
    assert [h.id for h in until.hits] == ["scheduled", "week"]
    shown = newsflow_cli.run(
        ["search", "harbour", "--sort", "newest"], newsflow_cli.child_env(settings)
    )
    order = [shown.stdout.index(f"id {doc_id}\n") for doc_id in newest]
    assert order == sorted(order), shown.stdout
    # Its line shows the day it is listed by, and the date the page gave.
    scheduled = NOW + timedelta(minutes=1)
    ingested = (NOW - 2 * day).date().isoformat()
    assert f"ingested {ingested} (dated {scheduled.date().isoformat()})" in shown.stdout
