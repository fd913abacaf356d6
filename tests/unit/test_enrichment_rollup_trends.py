"""Entity salience, trend ranking and the trigger's message parsing: pure functions."""

from __future__ import annotations

import json

from newsflow.elastic.hits import StoredArticle
from newsflow.enrichment.events import MAX_PAYLOAD_IDS, parse_batch, parse_indexed, read_delay
from newsflow.enrichment.rollup import article_entities, salience
from newsflow.enrichment.trends import rank_trends


def test_salience_ranks_title_and_lead_mentions_first() -> None:
    src = {
        "title": "Huang Libin outlines steel cuts",
        "body": [
            "The Ministry of Industry said on Tuesday that Huang Libin will lead the effort.",
            "Analysts in Shanghai expect Tangshan mills to cut output. Shanghai traders agreed.",
        ],
        "tags": {
            "persons": ["Huang Libin"],
            "organizations": ["Ministry of Industry"],
            "locations": ["Shanghai", "Tangshan", "Nowhere"],
        },
    }
    ranked = salience(StoredArticle.model_validate(src))
    assert ranked[0].value == "Huang Libin"
    assert ranked[0].score == 1.0
    scores = {s.value: s.score for s in ranked}
    assert scores["Ministry of Industry"] > scores["Tangshan"]
    assert 0 < scores["Nowhere"] < scores["Tangshan"]
    assert {s.label for s in ranked} == {"PER", "ORG", "LOC"}


def test_article_entities_merges_entity_tags_and_lists() -> None:
    src = {"tags": {"entities": [{"value": "ACME", "label": "ORG"}], "organizations": ["ACME"]}}
    assert article_entities(StoredArticle.model_validate(src)) == {"ACME": "ORG"}
    assert salience(StoredArticle.model_validate({"tags": {}})) == []


def test_rank_trends_rises_against_previous_window() -> None:
    trends = rank_trends("1h", "entity", {"a": 5, "b": 5, "c": 1}, {"a": 5, "c": 2}, top=2)
    assert [(t.value, t.rank) for t in trends] == [("b", 1), ("a", 2)]
    assert trends[0].previous == 0 and trends[0].rise == 5.0
    assert trends[1].delta == 0 and trends[1].rise == 0.0


def test_parse_indexed_message() -> None:
    value = b'{"id": "abc", "index": "news-articles-v1", "indexed_at": "2026-01-01T00:00:00Z"}'
    assert parse_indexed(b"abc", value) == {
        "id": "abc",
        "index": "news-articles-v1",
        "indexed_at": "2026-01-01T00:00:00Z",
    }
    assert parse_indexed(b"abc", b"not json") is None
    assert parse_indexed(None, b"{}") is None
    assert parse_indexed(b"k", b"{}") == {"id": "k", "index": None, "indexed_at": None}


def test_parse_batch_makes_one_payload_of_many_announcements() -> None:
    def announce(n: int) -> tuple[bytes, bytes]:
        value = {"id": f"a{n}", "index": "news-v1", "indexed_at": f"2026-01-01T00:00:{n:02d}Z"}
        return f"a{n}".encode(), json.dumps(value).encode()

    pairs = [announce(1), (b"junk", b"not json"), announce(2), (b"k3", b"{}")]
    assert parse_batch(pairs) == {
        "ids": ["a1", "a2", "k3"],  # the key stands in for a missing id, as for one message
        "count": 3,
        "index": "news-v1",
        "indexed_at": "2026-01-01T00:00:02Z",
    }
    assert parse_batch([(None, b"not json"), (None, b"{}")]) is None  # nothing announced
    many = parse_batch([announce(n % 60) for n in range(1000)])
    assert many is not None and many["count"] == 1000 and len(many["ids"]) == MAX_PAYLOAD_IDS


def test_read_delay_spaces_reads_while_articles_keep_coming_but_never_a_backlog() -> None:
    assert read_delay(None, False, 100.0, 30.0) == 0.0  # nothing read yet: read at once
    assert read_delay(100.0, False, 110.0, 30.0) == 20.0  # until 30 s after the last read
    assert read_delay(100.0, False, 131.0, 30.0) == 0.0  # a quiet spell: the next at once
    assert read_delay(100.0, True, 100.5, 30.0) == 0.0  # a full read: more is waiting
    assert read_delay(100.0, False, 100.5, 0.0) == 0.0  # no interval: on every arrival


def test_runs_within_one_hour_share_one_window_end() -> None:
    """`newsflow enrich` writes trends for the hour in progress: two runs in one hour make the
    same document ids (ending "now", every run added a new set)."""
    from datetime import UTC, datetime

    from newsflow.enrichment.trends import Trend, hour_in_progress_end, trend_doc_id

    early = hour_in_progress_end(datetime(2026, 12, 2, 9, 5, 30, tzinfo=UTC))
    late = hour_in_progress_end(datetime(2026, 12, 2, 9, 59, 59, tzinfo=UTC))
    assert early == late == datetime(2026, 12, 2, 10, tzinfo=UTC)
    on_the_hour = datetime(2026, 12, 2, 10, tzinfo=UTC)
    assert hour_in_progress_end(on_the_hour) == on_the_hour
    t = Trend("1h", "entity", "NATO", 3, 1, 1)
    assert trend_doc_id(early, t) == trend_doc_id(late, t)
