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
from newsflow.search import Markers

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


def _snippet(passage: str, markers: Markers | None) -> Text:
    line = Text("   … ")
    # The markers hold neither whitespace nor control characters: they survive _one_line.
    runs = markers.spans(_one_line(passage)) if markers else [(_one_line(passage), False)]
    budget = SNIPPET_CHARS
    for text, highlighted in runs:
        if budget <= 0:
            break
        shown = text if len(text) <= budget else text[: budget - 1] + "…"
        budget -= len(shown)
        line.append(shown, style="bold yellow" if highlighted else None)
    line.append(" …")
    return line


def print_hits(
    console: Console, header: Text, hits: Sequence[Hit], markers: Markers | None = None
) -> None:
    """Prints ``header``, then each hit: headline, where and when, entities and topics, and
    its highlighted passages (between ``markers``) when the search asked for them."""
    console.print(header)
    for rank, hit in enumerate(hits, 1):
        src = hit.source
        date = src.published_at.date().isoformat() if src.published_at else None
        # A feed entry's own text (its page not fetched yet, or not fetchable) says so.
        summary = "feed summary only" if src.summary_only else None
        meta = " · ".join(x for x in (src.site, date, src.language, summary) if x)
        console.print()
        console.print(
            Text.assemble(
                (f"{rank}. {displayable(src.headline, HEADLINE_CHARS)}", "bold"),
                "  ",
                (displayable(meta, META_CHARS), "dim"),
            )
        )
        story = f"  story {displayable(src.story_id, META_CHARS)}" if src.story_id else ""
        if src.story_id and (src.story_size or 0) > 1:
            story += f" ({src.story_size} articles)"
        score = f"  score {hit.score:.2f}" if hit.score is not None else ""
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
