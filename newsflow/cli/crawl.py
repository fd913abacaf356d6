"""`newsflow feeds` (the feeds file) and `newsflow crawl` (poll feeds, fetch their pages).

The poller and the fetch worker are imported inside the commands that run them: they load
the HTTP client, feedparser and the Kafka clients, which `newsflow --help` should not wait
for.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from newsflow.cli.app import app, settings_of
from newsflow.cli.errors import one_line
from newsflow.cli.ingest import worker_exit_codes
from newsflow.cli.printing import by_reason, displayable
from newsflow.settings import Settings
from newsflow.web.robots import RobotsCache
from producers.feeds import (
    FeedsFileError,
    FeedSpec,
    add_feeds,
    feeds_for,
    load_feeds,
    read_opml,
    remove_feed,
)

console = Console(soft_wrap=True)
log = logging.getLogger(__name__)
err = Console(stderr=True, soft_wrap=True)

feeds_app = typer.Typer(help="The feeds file: list, add, remove, import an OPML list.")
app.add_typer(feeds_app, name="feeds")

_FILE = typer.Option(None, "--file", "-f", help="The feeds file (NEWSFLOW_CRAWL_FEEDS_FILE).")


def _feeds_file(ctx: typer.Context, path: Path | None) -> Path:
    return path or settings_of(ctx).crawl.feeds_file


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def _fail(message: str, code: int = 2) -> typer.Exit:
    """A problem with the feeds file or the arguments: one line on stderr, like every other
    command's failure (cli/errors.py)."""
    err.print(f"[red]error:[/red] {escape(one_line(message))}", highlight=False)
    return typer.Exit(code)


@feeds_app.command("list")
def feeds_list(
    ctx: typer.Context,
    path: Path | None = _FILE,
    state: bool = typer.Option(False, help="Also show each feed's last poll (reads Kafka)."),
) -> None:
    """Lists the feeds and sitemaps of the feeds file."""
    settings = settings_of(ctx)
    file = _feeds_file(ctx, path)
    try:
        feeds = load_feeds(file)
    except FeedsFileError as exc:
        raise _fail(str(exc)) from None
    table = Table("site", "every (min)", "lang", "group")
    # The URL whole (folded, never cut short): `feeds remove` needs it as listed.
    table.add_column("url", overflow="fold")
    states = {}
    if state:
        from producers.poller import read_states

        states = read_states(settings)
        for column in ("last poll", "next poll", "status"):
            table.add_column(column)
    for spec in feeds:
        interval = spec.interval_minutes or settings.crawl.poll_interval_seconds / 60
        row = [
            escape(displayable(cell, 300))
            for cell in (spec.site or "", f"{interval:g}", spec.language or "", spec.group_name)
        ]
        row.append(escape(displayable(spec.url, 2000)))
        if state:
            st = states.get(spec.url)
            status = ""
            if st is not None:
                status = st.last_error or str(st.last_status or "")
            row += [
                _when(st.last_polled_at) if st else "",
                _when(st.next_poll_at) if st else "",
                escape(displayable(status, 60)),
            ]
        table.add_row(*row)
    console.print(table)
    console.print(f"{len(feeds)} feed(s) in {file}")


@feeds_app.command("add")
def feeds_add(
    ctx: typer.Context,
    urls: list[str] = typer.Argument(..., metavar="URL", help="Feed or sitemap URLs."),
    site: str | None = typer.Option(None, help="Site name, for articles whose page does not say."),
    interval: float | None = typer.Option(
        None,
        help="Poll every this many minutes (default: NEWSFLOW_CRAWL_POLL_INTERVAL_SECONDS, "
        "15 min).",
    ),
    language: str | None = typer.Option(
        None, help="Language hint (ISO 639-1), for text too short to detect."
    ),
    group: str | None = typer.Option(None, help="The DAG's poll group (default: the host)."),
    path: Path | None = _FILE,
) -> None:
    """Adds feeds to the feeds file (comments and layout are kept; a listed URL is skipped)."""
    file = _feeds_file(ctx, path)
    try:
        specs = [
            FeedSpec(url=u, site=site, interval_minutes=interval, language=language, group=group)
            for u in urls
        ]
        added = add_feeds(file, specs)
    except ValidationError as exc:  # pydantic's own message is several lines and a link
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "feed"
        raise _fail(f"{field}: {first['msg']}") from None
    except (FeedsFileError, ValueError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"added {len(added)} of {len(specs)} to {file}")


@feeds_app.command("remove")
def feeds_remove(
    ctx: typer.Context,
    url: str = typer.Argument(..., metavar="URL", help="The feed's URL, as listed."),
    path: Path | None = _FILE,
) -> None:
    """Removes a feed from the feeds file."""
    file = _feeds_file(ctx, path)
    try:
        removed = remove_feed(file, url)
    except FeedsFileError as exc:
        raise _fail(str(exc)) from None
    if not removed:
        raise _fail(f"{url} is not in {file}", 1)
    console.print(f"removed {url} from {file}")


@feeds_app.command("import")
def feeds_import(
    ctx: typer.Context,
    opml: Path = typer.Argument(..., metavar="OPML", help="An OPML subscription list."),
    path: Path | None = _FILE,
) -> None:
    """Adds every feed of an OPML subscription list to the feeds file."""
    settings = settings_of(ctx)
    file = _feeds_file(ctx, path)
    try:
        specs = read_opml(opml, settings.crawl.max_feed_bytes)
        added = add_feeds(file, specs)
    except FeedsFileError as exc:
        raise _fail(str(exc)) from None
    console.print(f"imported {len(added)} new of {len(specs)} feed(s) from {opml} into {file}")


def _report(summary: object) -> None:
    from producers.poller import MAX_CHILD_SITEMAPS, PollSummary

    assert isinstance(summary, PollSummary)
    console.print(
        f"polled {summary.polled} feed(s) ({summary.not_modified} not modified, "
        f"{summary.not_due} not due, {len(summary.failed)} failed): "
        f"{summary.links} new link(s), {summary.summaries} summary article(s)"
        + (
            f", {len(summary.skipped_children)} child sitemap(s) skipped"
            if summary.skipped_children
            else ""
        )
        + (
            f", {sum(n for _, n in summary.children_left)} child sitemap(s) left for the next"
            " poll(s)"
            if summary.children_left
            else ""
        )
        + (
            f", {sum(summary.deferred_by_feed.values())} new link(s) left for the next polls"
            if summary.deferred_by_feed
            else ""
        )
    )
    for feed, error in summary.failed:
        # One line per feed, whatever the error text holds (an XML parser's message may not).
        console.print(f"  - {escape(feed)}: {escape(one_line(error))}", highlight=False)
    # A sitemap index with a dead child still counts as polled: its other children were
    # read. The dead one is said here, not only in the log, or its news goes missing unseen.
    for feed, child in summary.skipped_children:
        console.print(
            f"  - {escape(feed)}: child sitemap skipped: {escape(one_line(child))}",
            highlight=False,
        )
    # An index of more children than a poll reads: the rest are read by the next polls,
    # the ones read longest ago first.
    for feed, left in summary.children_left:
        console.print(
            f"  - {escape(feed)}: {left} child sitemap(s) past this poll's"
            f" {MAX_CHILD_SITEMAPS}, read by the next polls",
            highlight=False,
        )
    # Past NEWSFLOW_CRAWL_MAX_LINKS_PER_POLL: not lost, published by the feed's next polls.
    for feed, waiting in summary.deferred_by_feed.items():
        console.print(
            f"  - {escape(feed)}: {waiting} more new link(s) than a poll publishes; "
            "the next polls publish them (NEWSFLOW_CRAWL_MAX_LINKS_PER_POLL)",
            highlight=False,
        )
    # Its state outgrew the feed-state topic's message limit (producers.schedule.fit_state).
    for feed, forgotten in summary.forgotten_by_feed.items():
        console.print(
            f"  - {escape(feed)}: lists more than its state can hold; {forgotten} of its oldest"
            " entries forgotten, published again if still listed",
            highlight=False,
        )


def _crawl_settings(settings: Settings, fetch: bool | None) -> Settings:
    if fetch is None:
        return settings
    crawl = settings.crawl.model_copy(update={"fetch_pages": fetch})
    return settings.model_copy(update={"crawl": crawl})


def _reread(locations: list[str], settings: Settings, feeds: list[FeedSpec]) -> list[FeedSpec]:
    """The feeds as the files list them now (`feeds add` while crawling takes effect on the
    next pass); the ones in hand while a file is being edited into something unreadable."""
    try:
        now = feeds_for(locations, settings.crawl.max_feed_bytes)
    except FeedsFileError as exc:
        log.warning("feeds not re-read, polling the %d in hand: %s", len(feeds), exc)
        return feeds
    if [f.url for f in now] != [f.url for f in feeds]:
        console.print(f"feeds file changed: polling {len(now)} feed(s)")
    return now


@app.command()
def crawl(
    ctx: typer.Context,
    sources: list[str] = typer.Argument(
        None,
        metavar="FEEDS_FILE|OPML|URL",
        help="Feeds files, OPML lists or feed/sitemap URLs (default NEWSFLOW_CRAWL_FEEDS_FILE).",
    ),
    once: bool = typer.Option(
        False, "--once", help="One whole pass: poll every feed now, fetch the new pages, exit."
    ),
    fetch: bool | None = typer.Option(
        None,
        "--fetch/--no-fetch",
        help="Fetch the pages, or publish each entry's own text (default: "
        "NEWSFLOW_CRAWL_FETCH_PAGES, on).",
    ),
    idle: float = typer.Option(
        3.0, min=0.0, help="With --once: the fetch ends after this much quiet."
    ),
    every: float = typer.Option(
        60.0, help="Without --once: look for due feeds this often (seconds)."
    ),
) -> None:
    """Polls feeds and sitemaps for new articles and publishes them.

    With --once: polls every feed now (conditional GET: an unchanged feed answers 304),
    fetches the new pages (`consume fetch` until idle) and ends; the pages are then in the raw
    topic for `consume clean`. Without: keeps polling each feed on its own schedule (backing
    off when it fails or brings nothing new) and publishes links for `consume fetch` workers.
    """
    from producers.poller import poll_feeds

    settings = _crawl_settings(settings_of(ctx), fetch)
    locations = sources or [str(settings.crawl.feeds_file)]
    try:
        feeds = feeds_for(locations, settings.crawl.max_feed_bytes)
    except FeedsFileError as exc:
        raise _fail(str(exc)) from None
    if not feeds:
        raise _fail("no feeds to crawl")
    if once:
        _report(poll_feeds(settings, feeds, force=True))
        if settings.crawl.fetch_pages:
            from consumers.workers import run_fetch_worker

            with worker_exit_codes("fetch"):
                # One pass: a site whose robots.txt is down is a dead letter to replay,
                # not a wait of up to half an hour for it (consumers/fetching.py).
                stats = run_fetch_worker(settings, idle_exit_seconds=idle, robots_attempts=1)
            console.print(
                f"fetch: {stats.consumed} link(s), {stats.dead_lettered} dead-lettered"
                + by_reason(stats.reasons)
            )
        return
    console.print(f"polling {len(feeds)} feed(s); Ctrl-C to stop")
    robots = RobotsCache(
        settings.crawl.robots_ttl_seconds,
        settings.crawl.robots_cache_bytes,
        unavailable_ttl=settings.crawl.robots_unavailable_seconds,
    )
    try:
        while True:
            feeds = _reread(locations, settings, feeds)
            _report(poll_feeds(settings, feeds, robots=robots))
            time.sleep(every)
    except KeyboardInterrupt:
        console.print("stopped")
