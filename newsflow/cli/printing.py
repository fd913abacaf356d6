"""The one way the command line prints article hits (search, semantic search, related, run).

Everything shown here comes from the index, that is from feeds and pages anyone can write, so
nothing of it is parsed: lines are built as rich ``Text`` (no markup, so "[/bold]" in a title
is just text), terminal control characters are replaced (an escape sequence in a title must
not reach the terminal), each field is cut to a length worth reading, and highlighted runs
come from ``Markers.spans``, not from characters in the text. rich wraps ``Text`` in linear
time; the markup path it replaces took quadratic time on a 40 000-character word.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.text import Text

from newsflow.elastic.hits import Hit
from newsflow.redaction import CONTROL_CHARS, redact_url
from newsflow.search import MAX_WINDOW, Markers, SearchResult

# Longest run of each field printed, in characters (the rest is cut with an ellipsis).
HEADLINE_CHARS = 300
SNIPPET_CHARS = 600
META_CHARS = 200
NAMES_CHARS = 300


def _one_line(text: str) -> str:
    return " ".join(CONTROL_CHARS.sub("\ufffd", text).split())


def displayable(text: str, limit: int) -> str:
    """``text`` on one line, without control characters or a URL's password, at most
    ``limit`` characters. Masked here, before a table lays it out: the redacting stream sees
    only the lines a folded column was cut into, and a password split across two of them
    went through (security review)."""
    line = redact_url(_one_line(text))
    return line if len(line) <= limit else line[: limit - 1] + "…"


def by_reason(reasons: Mapping[str, int]) -> str:
    """ " (not_found 2, timeout 1)": dead letters by reason, most first; "" for none."""
    if not reasons:
        return ""
    counts = sorted(reasons.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return " (" + ", ".join(f"{reason!s} {n}" for reason, n in counts) + ")"


def matches_header(count: int, what: str, query: str) -> Text:
    """ "N article(s) match QUERY" (or another ``what``), the query shown as plain text."""
    return Text.assemble(
        (str(count), "bold"), f" {what} ", (displayable(query, HEADLINE_CHARS), "italic")
    )


def _marked(line: Text, passage: str, markers: Markers | None, budget: int, style: str) -> Text:
    """``line`` with ``passage`` appended, its matches in ``style``, cut at ``budget``."""
    # The markers hold neither whitespace nor control characters: they survive _one_line.
    # Masked before the split: a URL's password in one run is a password still.
    text = redact_url(_one_line(passage))
    runs = markers.spans(text) if markers else [(text, False)]
    for text, highlighted in runs:
        if budget <= 0:
            break
        shown = text if len(text) <= budget else text[: budget - 1] + "…"
        budget -= len(shown)
        line.append(shown, style=style if highlighted else None)
    return line


def _snippet(passage: str, markers: Markers | None) -> Text:
    line = _marked(Text("   … "), passage, markers, SNIPPET_CHARS, "bold yellow")
    line.append(" …")
    return line


#: How much of an article's text stands in for a snippet when the words matched elsewhere.
OPENING_CHARS = 160


def _opening(hit: Hit) -> str | None:
    """The article's first lines, for a hit with no passage of its text to show (its words
    matched only in its title or tags, or it is near in meaning: --semantic, related); None
    where the headline already is those lines."""
    src = hit.source
    if not src.title or not src.body:
        return None
    text = " ".join(_one_line(" ".join(src.body[:2])).split())
    return text if len(text) <= OPENING_CHARS else text[:OPENING_CHARS].rsplit(" ", 1)[0] + " …"


def print_hits(
    console: Console,
    header: Text,
    hits: Sequence[Hit],
    markers: Markers | None = None,
    rank_from: int = 1,
    scores: bool = True,
) -> None:
    """Prints ``header``, then each hit (numbered from ``rank_from``): headline, where and
    when, entities and topics, and its highlighted passages (between ``markers``) when the
    search asked for them, else its first lines. ``scores``: print each hit's score (not
    when the score is only how recent it is)."""
    console.print(header)
    for rank, hit in enumerate(hits, rank_from):
        src = hit.source
        published, ingested = src.published_at, src.ingested_at
        date = published.date().isoformat() if published else None
        if ingested and (published is None or published > ingested):
            # Undated, or dated after it was ingested (a wrong time zone, a scheduled post):
            # the day it was ingested, which --since, --until and --sort newest go by for it;
            # without it such a hit in a newest-first listing looked misplaced.
            ahead = f" (dated {date})" if date else ""
            date = f"ingested {ingested.date().isoformat()}{ahead}"
        # A feed entry's own text (its page not fetched yet, or not fetchable) says so.
        summary = "feed summary only" if src.summary_only else None
        meta = " · ".join(x for x in (src.site, date, src.language, summary) if x)
        console.print()
        headline = Text(f"{rank}. ", style="bold")
        titles = hit.highlight.get("title") if markers and src.title else None
        if titles:
            # The title as highlighted: the words it matched stand out.
            headline = _marked(headline, titles[0], markers, HEADLINE_CHARS, "bold yellow")
        else:
            headline.append(displayable(src.headline, HEADLINE_CHARS))
        console.print(Text.assemble(headline, "  ", (displayable(meta, META_CHARS), "dim")))
        story = f"  story {displayable(src.story_id, META_CHARS)}" if src.story_id else ""
        if src.story_id and (src.story_size or 0) > 1:
            story += f" ({src.story_size} articles)"
        score = f"  score {hit.score:.2f}" if scores and hit.score is not None else ""
        console.print(Text(f"   id {displayable(hit.id, META_CHARS)}{score}{story}", style="dim"))
        topics = [t.value for t in src.tags.topics]
        if src.entities or topics:
            console.print(
                Text.assemble(
                    "   ",
                    (displayable(", ".join(src.entities[:6]), NAMES_CHARS), "cyan"),
                    "  ",
                    (displayable(", ".join(topics[:3]), NAMES_CHARS), "magenta"),
                )
            )
        for passage in hit.snippets:
            console.print(_snippet(passage, markers))
        opening = None if hit.snippets else _opening(hit)
        if opening:
            console.print(Text(f"   {displayable(opening, SNIPPET_CHARS)}", style="dim"))


def page_hint(found: SearchResult, page: int, size: int, one_per_story: bool) -> str | None:
    """ "showing 11–20 of 9,703; --page 3 for more", or None when one page shows them all."""
    shown_to = found.offset + len(found.hits)
    if not found.hits or (page == 1 and shown_to >= found.listed and found.listed_exact):
        return None
    of = f"{found.listed:,}" if found.listed_exact else f"about {found.listed:,}"
    what = " (each story once)" if one_per_story and found.listed != found.total else ""
    line = f"showing {found.offset + 1:,}\u2013{shown_to:,} of {of}{what}"
    more = found.listed > shown_to or not found.listed_exact
    if more and (page + 1) * size <= MAX_WINDOW:
        line += f"; --page {page + 1} for more"
    elif more:
        line += f"; a search lists only its first {MAX_WINDOW:,}: narrow it to see the rest"
    return line
