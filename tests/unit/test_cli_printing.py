"""One printer for hits: full-text and semantic search both fall back to the lead, never None."""

from __future__ import annotations

from rich.console import Console

from newsflow.cli.printing import print_hits
from newsflow.elastic.hits import Hit
from newsflow.search import HL_END, HL_START


def _printed(hits: list[Hit]) -> str:
    console = Console(record=True, width=200)
    print_hits(console, "header", hits)
    return console.export_text()


def test_a_hit_without_title_is_listed_under_its_lead() -> None:
    # What a kNN (semantic) search returns: no score-worthy highlight, no title.
    untitled = Hit.of(
        {
            "_id": "a1",
            "_score": 0.91,
            "_source": {"body": ["Steel output fell by four percent in May.", "More."]},
        }
    )
    described = Hit.of({"_id": "a2", "_source": {"description": "A short description."}})
    bare = Hit.of({"_id": "a3", "_source": {}})
    text = _printed([untitled, described, bare])
    assert "None" not in text
    assert "1. Steel output fell by four percent in May." in text
    assert "2. A short description." in text
    assert "3. (untitled)" in text
    assert "id a1  score 0.91" in text and "id a2\n" in text


def test_a_full_text_hit_shows_its_metadata_and_snippets() -> None:
    hit = Hit.of(
        {
            "_id": "b1",
            "_score": 2.5,
            "_source": {
                "title": "Iron ore climbs",
                "site": "example.com",
                "published_at": "2026-11-20T08:00:00Z",
                "language": "en",
                "story_id": "s-1",
                "tags": {"persons": ["Huang Libin"], "topics": [{"value": "04000000"}]},
            },
            "highlight": {"body": [f"prices of {HL_START}iron ore{HL_END} rose"]},
        }
    )
    text = _printed([hit])
    assert "1. Iron ore climbs  example.com · 2026-11-20 · en" in text
    assert "id b1  score 2.50  story s-1" in text
    assert "Huang Libin  04000000" in text
    assert "… prices of iron ore rose …" in text
