"""One printer for hits: full-text and semantic search both fall back to the lead, never None."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from newsflow.cli.printing import displayable, matches_header, print_hits
from newsflow.elastic.hits import Hit
from newsflow.search import Markers

MARKERS = Markers.fresh()


def _printed(hits: list[Hit]) -> str:
    console = Console(record=True, width=200)
    print_hits(console, Text("header"), hits, MARKERS)
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
            "highlight": {"body": [f"prices of {MARKERS.start}iron ore{MARKERS.end} rose"]},
        }
    )
    text = _printed([hit])
    assert "1. Iron ore climbs  example.com · 2026-11-20 · en" in text
    assert "id b1  score 2.50  story s-1" in text
    assert "Huang Libin  04000000" in text
    assert "… prices of iron ore rose …" in text


def test_stored_text_is_printed_as_text_never_parsed() -> None:
    hostile = "[/bold] \u2984 [red]x \u2983 \x1b]0;title\x07 \u202egnp.exe"
    hit = Hit.of(
        {
            "_id": "c1",
            "_source": {"title": hostile, "tags": {"persons": ["[bold]Eve"]}},
            "highlight": {"body": [f"{hostile} {MARKERS.start}ore{MARKERS.end} {hostile}"]},
        }
    )
    text = _printed([hit])
    assert "1. [/bold] \u2984 [red]x \u2983" in text
    assert "[bold]Eve" in text
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text


def test_markers_of_another_search_are_only_text() -> None:
    other = Markers.fresh()
    assert other != MARKERS
    assert MARKERS.spans(f"a {other.start}b{other.end} {MARKERS.start}c{MARKERS.end}") == [
        (f"a {other.start}b{other.end} ", False),
        ("c", True),
    ]


def test_long_fields_are_cut_and_the_header_is_plain_text() -> None:
    hit = Hit.of({"_id": "d1", "_source": {"title": "w" * 100_000}})
    text = _printed([hit])
    assert "w" * 299 + "…" in text.replace("\n", "") and "w" * 301 not in text.replace("\n", "")
    console = Console(record=True, width=200)
    console.print(matches_header(3, "article(s) match", "[/italic] x"))
    assert console.export_text().strip() == "3 article(s) match [/italic] x"


def test_dead_letters_by_reason_read_as_words_most_first() -> None:
    from newsflow.cli.printing import by_reason
    from schemas.reasons import FetchReason

    counts = {FetchReason.NOT_FOUND: 1, FetchReason.TOO_LARGE: 3}
    assert by_reason(counts) == " (too_large 3, not_found 1)"  # not "<FetchReason.TOO_LARGE: ..."
    assert by_reason({}) == ""


def test_a_hit_that_is_only_its_feeds_summary_says_so() -> None:
    summary = Hit.of({"_id": "s", "_source": {"title": "Budget vote", "summary_only": True}})
    page = Hit.of({"_id": "p", "_source": {"title": "Budget vote", "summary_only": False}})
    text = _printed([summary, page])
    assert text.count("feed summary only") == 1
    assert "1. Budget vote  feed summary only" in text


def test_displayable_masks_a_urls_password_before_a_table_folds_it() -> None:
    """Masked by the redacting stream only after rich had folded the column, a password split
    across two lines went through at 80 columns (security review)."""
    url = "https://reader:VeryLongFeedPassword0123456789abcdef@feeds.example.com/rss.xml"
    assert displayable(url, 300) == "https://reader:***@feeds.example.com/rss.xml"
    table = Table()
    table.add_column("url", overflow="fold", max_width=12)
    table.add_row(displayable(url, 300))
    console = Console(width=40, record=True, file=io.StringIO())
    console.print(table)
    shown = "".join(c for c in console.export_text() if c not in " \n│┃━─┏┓┗┛┡┩└┘")
    assert "reader:***@feeds.example.com/rss.xml" in shown and "Password" not in shown
