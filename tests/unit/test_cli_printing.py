"""One printer for hits: full-text and semantic search both fall back to the lead, never None."""

from __future__ import annotations

import io
import re

from rich.console import Console
from rich.table import Table
from rich.text import Text

from newsflow.cli.printing import displayable, matches_header, page_hint, print_hits
from newsflow.elastic.hits import Hit
from newsflow.search import Markers, SearchResult

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


def test_a_title_match_is_highlighted_and_shows_the_articles_first_lines() -> None:
    """The title's highlight was asked for and never printed, and a hit that matched only in
    its title printed no passage at all."""
    hit = Hit.of(
        {
            "_id": "t1",
            "_source": {"title": "Harbour plan", "body": ["The board met on Monday.", "More."]},
            "highlight": {"title": [f"{MARKERS.start}Harbour{MARKERS.end} plan"]},
        }
    )
    console = Console(record=True, width=200)
    print_hits(console, Text("header"), [hit], MARKERS, rank_from=11)
    text = console.export_text(clear=False)
    assert "11. Harbour plan" in text and MARKERS.start not in text
    assert "   The board met on Monday. More." in text
    # The matched word is styled as a snippet's match is.
    html = console.export_html(inline_styles=True)
    (marked,) = re.findall(r'<span style="color: #808000[^"]*">([^<]*)</span>', html)
    assert marked == "Harbour"
    # A search hit with passages of its text shows those, not its first lines.
    with_passage = hit.model_copy(
        update={"highlight": {"body": [f"the {MARKERS.start}harbour{MARKERS.end} board"]}}
    )
    assert "The board met on Monday" not in _printed([with_passage])
    # A semantic (kNN) hit has no highlight at all: its first lines too.
    near = Hit.of({"_id": "k", "_source": {"title": "Port", "body": ["Ships wait."]}})
    console = Console(record=True, width=200)
    print_hits(console, Text("header"), [near])
    assert "   Ships wait." in console.export_text()
    # A title-less hit is already listed under its first lines: not twice.
    untitled = Hit.of({"_id": "u", "_source": {"body": ["Only text."]}})
    assert _printed([untitled]).count("Only text.") == 1


def _found(total: int, listed: int, offset: int, shown: int, exact: bool = True) -> SearchResult:
    hits = [Hit.of({"_id": str(n)}) for n in range(shown)]
    return SearchResult(total, hits, MARKERS, offset, listed, listed_exact=exact)


def test_the_page_hint_says_where_the_page_stands() -> None:
    assert page_hint(_found(7, 7, 0, 7), 1, 10, one_per_story=False) is None
    assert page_hint(_found(0, 0, 0, 0), 1, 10, one_per_story=False) is None
    assert (
        page_hint(_found(9703, 9703, 10, 10), 2, 10, one_per_story=False)
        == "showing 11\u201320 of 9,703; --page 3 for more"
    )
    assert (
        page_hint(_found(30, 25, 20, 5), 3, 10, one_per_story=True)
        == "showing 21\u201325 of 25 (each story once)"
    )
    assert (
        page_hint(_found(5000, 4100, 0, 10, exact=False), 1, 10, one_per_story=True)
        == "showing 1\u201310 of about 4,100 (each story once); --page 2 for more"
    )
    # The last page Elasticsearch lists: no --page that would be refused.
    assert page_hint(_found(20000, 20000, 9990, 10), 1000, 10, one_per_story=False) == (
        "showing 9,991\u201310,000 of 20,000; a search lists only its first 10,000: narrow it "
        "to see the rest"
    )


def test_an_undated_hit_shows_the_day_it_was_ingested() -> None:
    undated = Hit.of(
        {
            "_id": "u1",
            "_source": {"title": "T", "site": "s", "ingested_at": "2026-12-01T10:00:00Z"},
        }
    )
    dated = Hit.of(
        {
            "_id": "d1",
            "_source": {
                "title": "D",
                "published_at": "2026-11-20T08:00:00Z",
                "ingested_at": "2026-12-01T10:00:00Z",
            },
        }
    )
    # Dated after it came in: listed by its ingestion, which the line shows.
    ahead = Hit.of(
        {
            "_id": "a1",
            "_source": {
                "title": "A",
                "published_at": "2026-12-04T08:00:00Z",
                "ingested_at": "2026-12-01T10:00:00Z",
            },
        }
    )
    text = _printed([undated, dated, ahead])
    assert "1. T  s · ingested 2026-12-01" in text
    assert "2. D  2026-11-20\n" in text
    assert "3. A  ingested 2026-12-01 (dated 2026-12-04)\n" in text
