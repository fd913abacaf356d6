"""enrich_articles run with dag.test() on seeded articles: stories, vectors, salience, counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from airflow_support import (
    STEEL_TAGS,
    build_article,
    get_doc,
    index_articles,
    run_dag,
    seed_paragraphs,
)
from elasticsearch import Elasticsearch
from kafka.consumer.fetcher import ConsumerRecord
from typer.testing import CliRunner

from consumers.sinks import ElasticsearchSink
from newsflow.cli import app
from newsflow.elastic.index import EMBEDDING_DIMS
from newsflow.enrichment.clustering import PENDING_FIELD, cluster_pending, story_id_for
from newsflow.enrichment.embeddings import knn_vector, related
from newsflow.enrichment.es import count_pending
from newsflow.settings import Settings


def test_enrich_articles_run(es: Elasticsearch, dag_env: Settings, seeded: dict[str, Any]) -> None:
    settings = dag_env
    run = run_dag("enrich_articles")
    assert run.state == "success"

    first, second, other = seeded["first"], seeded["second"], seeded["other"]
    a, b, c = (get_doc(es, settings, x.id) for x in (first, second, other))

    # Two copies of the seed from different sources: one story, the earlier one canonical.
    assert a["story_id"] == b["story_id"] == story_id_for(first.id)
    assert a["story_canonical"] is True and b["story_canonical"] is False
    assert a["story_size"] == b["story_size"] == 2
    # The unrelated article is a story of its own.
    assert c["story_id"] == story_id_for(other.id) != a["story_id"]
    assert c["story_canonical"] is True and c["story_size"] == 1

    for doc in (a, b, c):
        vec = np.asarray(doc["embedding"], dtype=np.float32)
        assert vec.shape == (EMBEDDING_DIMS,)
        assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-3
        stamps = doc["enrichment"]
        assert {"clustered_at", "embedded_at", "rolled_up_at"} <= stamps.keys()
        assert set(stamps["stages"]) == {"cluster", "embed", "rollup"}
        # Partial updates: what the cleaner wrote is still there.
        assert doc["simhash"] and doc["body"] and doc["tags"]["persons"]
    assert float(np.dot(a["embedding"], b["embedding"])) > 0.9
    assert float(np.dot(a["embedding"], c["embedding"])) < 0.5

    top = a["salience"][0]
    assert top["score"] == 1.0
    assert {s["value"] for s in a["salience"]} >= {"Huang Libin", "China"}

    es.indices.refresh(index=settings.index.entities)
    counters = es.search(index=settings.index.entities, query={"term": {"value": "Huang Libin"}})[
        "hits"
    ]["hits"]
    assert len(counters) == 1
    assert counters[0]["_source"]["articles"] == 2
    assert counters[0]["_source"]["stories"] == 1

    # kNN: the copy is the nearest neighbour of the original; `related` leaves it out (it is
    # the same story, the article again) and shows the other story.
    nearest = knn_vector(es, settings, a["embedding"], 1, exclude_ids=[first.id])
    assert [h.id for h in nearest] == [second.id]
    assert [h.id for h in related(es, settings, first.id, k=2)] == [other.id]

    # A second run finds nothing pending and changes nothing.
    before = {x.id: get_doc(es, settings, x.id)["enrichment"] for x in (first, second, other)}
    assert run_dag("enrich_articles").state == "success"
    after = {x.id: get_doc(es, settings, x.id)["enrichment"] for x in (first, second, other)}
    assert before == after


def test_newsflow_enrich_reports_each_batch_of_what_was_pending(
    es: Elasticsearch, dag_env: Settings, seeded: dict[str, Any]
) -> None:
    settings = dag_env
    assert count_pending(es, settings, PENDING_FIELD) == 3
    done: list[int] = []
    assert cluster_pending(es, settings, batch_size=2, progress=done.append) == 3
    assert done == [2, 1]  # one call per batch: what the bar of `newsflow enrich` advances by
    assert count_pending(es, settings, PENDING_FIELD) == 0
    # The command, end to end: every stage over what is pending, counts printed.
    result = CliRunner().invoke(app, ["enrich", "--stage", "cluster", "--stage", "rollup"])
    assert result.exit_code == 0, result.output
    assert "cluster: 0" in result.output and "rollup: 3" in result.output
    assert count_pending(es, settings, "enrichment.rolled_up_at") == 0


def _copies(first: int, last: int) -> list[Any]:
    """Syndicated copies of the seed article, copy n published n hours after 08:00 UTC."""
    paras = seed_paragraphs()
    return [
        build_article(
            paras,
            f"feed:copy-{n}",
            f"https://copy-{n}.example.org/steel",
            "China to cut steel output to reach carbon goals",
            STEEL_TAGS,
            published_at=datetime(2021, 4, 20, 8, tzinfo=UTC) + timedelta(hours=n),
        )
        for n in range(first, last + 1)
    ]


def _stories(es: Elasticsearch, settings: Settings, ids: list[str]) -> set[tuple[str, int]]:
    es.indices.refresh(index=settings.index.alias)
    docs = [get_doc(es, settings, i) for i in ids]
    assert sum(d["story_canonical"] for d in docs) == 1
    return {(d["story_id"], d["story_size"]) for d in docs}


def test_a_big_story_is_relabelled_whole_without_being_read(
    es: Elasticsearch, dag_env: Settings
) -> None:
    """Past ``whole_story_limit`` members a touched story takes part through its canonical
    member and its size; its other members are relabelled by update-by-query. With one
    candidate per new article, most members are in no pool, and every one must still carry
    the story's new id and size."""
    settings = dag_env
    story = _copies(1, 6)
    index_articles(es, settings, story)
    assert cluster_pending(es, settings) == 6
    assert _stories(es, settings, [a.id for a in story]) == {(story_id_for(story[0].id), 6)}

    # A later copy joins: same canonical, every member's size grows.
    later = _copies(7, 7)
    index_articles(es, settings, later)
    assert cluster_pending(es, settings, candidates_per_article=1, whole_story_limit=2) == 1
    story += later
    assert _stories(es, settings, [a.id for a in story]) == {(story_id_for(story[0].id), 7)}

    # An earlier copy arrives late: it is the canonical now, so the story's id changes too.
    earlier = _copies(0, 0)
    index_articles(es, settings, earlier)
    assert cluster_pending(es, settings, candidates_per_article=1, whole_story_limit=2) == 1
    story = earlier + story
    assert _stories(es, settings, [a.id for a in story]) == {(story_id_for(earlier[0].id), 8)}
    assert get_doc(es, settings, earlier[0].id)["story_canonical"] is True


def test_many_copies_of_one_story_end_up_in_one_story(es: Elasticsearch, dag_env: Settings) -> None:
    """Copies tie on every candidate score; a story's canonical member must win the ties, or
    the candidates are copies not clustered yet and one story splits into several."""
    settings = dag_env
    story = _copies(1, 40)
    index_articles(es, settings, story)
    assert cluster_pending(es, settings, batch_size=5, candidates_per_article=2) == 40
    assert _stories(es, settings, [a.id for a in story]) == {(story_id_for(story[0].id), 40)}


@pytest.mark.parametrize("whole_story_limit", [1_000, 1], ids=["read-whole", "big-story"])
def test_copies_left_behind_by_a_changed_text_get_their_size_and_a_canonical(
    es: Elasticsearch, dag_env: Settings, whole_story_limit: int
) -> None:
    """The canonical article of a story is written again with another text under its id (the
    index sink drops what was derived from the old text, story included): the next clustering
    must give the copies it left behind their new size and a canonical member, as a read story
    and as a big one (relabelled by id)."""
    settings = dag_env
    story = _copies(1, 3)
    index_articles(es, settings, story)
    assert cluster_pending(es, settings) == 3
    old_story = story_id_for(story[0].id)
    assert _stories(es, settings, [a.id for a in story]) == {(old_story, 3)}

    # The first copy's page now tells another story, through the real index sink.
    other = build_article(
        ["The harbour board rejected the new container terminal on Monday, officials said."],
        "feed:copy-1",
        story[0].url,
        "Harbour board rejects terminal",
        {},
        published_at=story[0].published_at,
    ).model_copy(update={"id": story[0].id})
    sink = ElasticsearchSink(es, settings.index.alias)
    sink.add(other, ConsumerRecord("news.clean", 0, -1, 0, 0, 0, None, b"", [], None, 0, 0, 0))
    assert sink.flush() == []
    es.indices.refresh(index=settings.index.alias)
    rewritten = get_doc(es, settings, other.id)
    assert rewritten["story_previous"] == old_story and "story_id" not in rewritten

    assert cluster_pending(es, settings, whole_story_limit=whole_story_limit) == 1
    left_behind = [a.id for a in story[1:]]
    assert _stories(es, settings, left_behind) == {(story_id_for(story[1].id), 2)}
    assert get_doc(es, settings, story[1].id)["story_canonical"] is True
    moved = get_doc(es, settings, other.id)
    assert (moved["story_size"], moved["story_canonical"]) == (1, True)
    # Not the id of the story it left (its own id's hash): `--story` would list it there.
    assert moved["story_id"] not in (old_story, story_id_for(story[1].id))
    assert moved["story_previous"] is None


def test_stories_a_batch_touches_are_read_whole_past_one_searchs_window(
    es: Elasticsearch, dag_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch touching eleven stories of 1,000 members (each under the whole-story limit)
    read 11,000 members; one search of at most 10,000 hits (Elasticsearch's result window)
    left a thousand out, and the story they were in got a size that did not count them.

    The same at a tenth of the size: this index's result window is 1,000 and the pages are
    smaller than it, so eleven stories of 100 members do not fit one search either."""
    from elasticsearch import helpers

    from newsflow.elastic.index import ensure_index
    from newsflow.enrichment import clustering

    settings = dag_env
    stories, members, window = 11, 100, 1_000
    monkeypatch.setattr(clustering, "MEMBERS_PAGE", 300)
    monkeypatch.setattr(clustering, "RELABEL_PAGE", 300)
    published = datetime(2026, 3, 1, tzinfo=UTC)
    ensure_index(es, settings.index)
    es.indices.put_settings(
        index=settings.index.alias, settings={"index": {"max_result_window": window}}
    )
    assert stories * members > window
    originals = [
        build_article(
            [" ".join(f"w{k}x{j}" for j in range(60)), f"Paragraph of story {k}."],
            f"wire:{k}",
            f"https://wire{k}.example.com/story",
            f"Headline {k} alpha{k} beta{k} gamma{k}",
            {},
            published_at=published,
        )
        for k in range(stories)
    ]

    def copy(k: int, i: int) -> Any:
        return originals[k].model_copy(
            update={"id": f"s{k:02d}-m{i:04d}", "url": f"https://copy{i}.example.com/{k}"}
        )

    def clustered() -> Any:
        # As an earlier run left them: one story each, its first id the canonical member.
        for k in range(stories):
            sid = story_id_for(copy(k, 0).id)
            for i in range(members):
                doc = copy(k, i).model_dump(mode="json")
                doc.update(
                    story_id=sid,
                    story_canonical=i == 0,
                    story_size=members,
                    enrichment={"clustered_at": published.isoformat(), "stages": ["cluster"]},
                )
                yield {"_index": settings.index.alias, "_id": doc["id"], "_source": doc}

    helpers.bulk(es, clustered(), chunk_size=2_000, refresh="wait_for")
    # One later copy of each story arrives.
    later = [
        copy(k, members).model_copy(update={"published_at": published + timedelta(hours=1)})
        for k in range(stories)
    ]
    index_articles(es, settings, later)

    assert cluster_pending(es, settings) == stories

    es.indices.refresh(index=settings.index.alias)
    resp = es.search(
        index=settings.index.alias,
        size=0,
        aggs={
            "story": {
                "terms": {"field": "story_id", "size": 100},
                "aggs": {
                    "smallest": {"min": {"field": "story_size"}},
                    "largest": {"max": {"field": "story_size"}},
                    "canonical": {"filter": {"term": {"story_canonical": True}}},
                },
            }
        },
    )
    got = sorted(
        (
            b["key"],
            b["doc_count"],
            int(b["smallest"]["value"]),
            int(b["largest"]["value"]),
            b["canonical"]["doc_count"],
        )
        for b in resp["aggregations"]["story"]["buckets"]
    )
    want = sorted(
        (story_id_for(copy(k, 0).id), members + 1, members + 1, members + 1, 1)
        for k in range(stories)
    )
    assert got == want


def test_a_backlog_is_worked_off_over_runs_within_each_runs_limit(
    es: Elasticsearch,
    dag_env: Settings,
    seeded: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Clustering and roll-up ran until nothing was pending: a backlog bigger than the task's
    timeout allows (a first run over an archive) had the task killed halfway, a big story
    half relabelled, and embeddings and roll-up never ran. Each takes at most its limit a run
    now (the Airflow Variables newsflow_cluster_limit, newsflow_rollup_limit), as embeddings
    did, and the next run goes on."""
    from newsflow.enrichment import rollup

    settings = dag_env
    for name in ("cluster", "embed", "rollup"):
        monkeypatch.setenv(f"AIRFLOW_VAR_NEWSFLOW_{name.upper()}_LIMIT", "2")

    assert run_dag("enrich_articles").state == "success"
    assert count_pending(es, settings, PENDING_FIELD) == 1
    assert count_pending(es, settings, rollup.PENDING_FIELD) == 1

    assert run_dag("enrich_articles").state == "success"
    assert count_pending(es, settings, PENDING_FIELD) == 0
    assert count_pending(es, settings, rollup.PENDING_FIELD) == 0
    first, second = seeded["first"], seeded["second"]
    stories = {get_doc(es, settings, a.id)["story_id"] for a in (first, second)}
    assert stories == {story_id_for(first.id)}
