"""The one way the command line prints article hits (search, semantic search, related, run)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from newsflow.elastic.hits import Hit
from newsflow.search import HL_END, HL_START


def print_hits(console: Console, header: str, hits: Sequence[Hit]) -> None:
    """Prints ``header`` (rich markup), then each hit: headline, where and when, entities and
    topics, and its highlighted snippets when the search asked for them."""
    console.print(header)
    for rank, hit in enumerate(hits, 1):
        src = hit.source
        date = src.published_at.date().isoformat() if src.published_at else None
        meta = " · ".join(x for x in (src.site, date, src.language) if x)
        console.print(f"\n[bold]{rank}. {escape(src.headline)}[/bold]  [dim]{escape(meta)}[/dim]")
        story = f"  story {src.story_id}" if src.story_id else ""
        score = f"  score {hit.score:.2f}" if hit.score is not None else ""
        console.print(f"   [dim]id {hit.id}{score}{story}[/dim]")
        topics = [t.value for t in src.tags.topics]
        if src.entities or topics:
            names = escape(", ".join(src.entities[:6]))
            console.print(
                f"   [cyan]{names}[/cyan]  [magenta]{escape(', '.join(topics[:3]))}[/magenta]"
            )
        for snippet in hit.snippets:
            text = escape(snippet.replace("\n", " "))
            text = text.replace(HL_START, "[bold yellow]").replace(HL_END, "[/bold yellow]")
            console.print(f"   … {text} …")
