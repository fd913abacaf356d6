"""Entity salience, trend ranking and the trigger's message parsing: pure functions."""

from __future__ import annotations

from newsflow.elastic.hits import StoredArticle
from newsflow.enrichment.events import parse_indexed
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
