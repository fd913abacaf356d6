"""`newsflow consume`, `run`, `search` and `dlq`: the streaming pipeline from the command line.

The workers and the embedding model are imported inside the commands that run them: they
load lxml, trafilatura, spaCy and numpy, which `newsflow --help`, `search` and `dlq list`
should not wait for.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from newsflow.cli.app import app, settings_of
from newsflow.cli.bars import advance_growing, counting_bar
from newsflow.cli.errors import EXIT_INTERRUPTED
from newsflow.cli.printing import by_reason, displayable, matches_header, page_hint, print_hits
from newsflow.cli.produce import run_produce
from newsflow.elastic.client import make_es
from newsflow.elastic.index import ensure_index
from newsflow.kafka.groups import GroupState, describe_group
from newsflow.kafka.topics import ensure_topics
from newsflow.search import (
    MAX_HITS,
    MAX_WINDOW,
    NEAREST_PER_HIT,
    QueryError,
    SearchFilters,
    Sort,
    check_request,
    check_site,
    filter_clauses,
    first_of_each_story,
    match_topic,
    parse_language,
    parse_since,
    parse_until,
    topic_names,
)
from newsflow.search import search as run_search
from newsflow.settings import PROJECT_ROOT, Limits, Settings
from newsflow.stack import ensure_up
from schemas import AnyStageReason, Stage

if TYPE_CHECKING:
    from consumers.batches import LoopStats
    from consumers.dlq import TooLarge

log = logging.getLogger(__name__)
console = Console()


consume_app = typer.Typer(help="Run a streaming worker (a consumer-group member).")
dlq_app = typer.Typer(help="Inspect and replay the dead-letter topic.")
app.add_typer(consume_app, name="consume")
app.add_typer(dlq_app, name="dlq")


@contextmanager
def worker_exit_codes(name: str) -> Iterator[None]:
    """A worker that gives up or cannot start says why in one line and exits non-zero."""
    from consumers.health import EXIT_STALLED, WorkerGaveUp
    from consumers.runner import StageStartError

    try:
        yield
    except WorkerGaveUp as exc:
        log.error("%s", exc)
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_STALLED) from None
    except StageStartError as exc:
        console.print(f"[red]error:[/red] {name}: {escape(str(exc))}")
        raise typer.Exit(1) from None


@contextmanager
def consume_worker(name: str) -> Iterator[None]:
    """A `newsflow consume` worker's exit codes (worker_exit_codes), and SIGTERM or Ctrl-C
    before its loop runs (consumers.stopping): one line, exit 0."""
    from consumers.stopping import StoppedAtStart, arm_early_stop

    try:
        with worker_exit_codes(name):
            arm_early_stop()
            yield
    except KeyboardInterrupt:
        # A third signal while the worker finished its batch (consumers.loop): typer said
        # "Aborted!" and exited 1, as for a failure.
        log.warning(
            "%s: stopped at once; what it had not committed replays on the next start", name
        )
        console.print(f"{name}: stopped at once; its last batch replays on the next start")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except StoppedAtStart as exc:
        # Before the loop: nothing was consumed. (After it a signal is only logged: the
        # loop has committed, or said what replays, and the clients close undisturbed.)
        log.info("%s: %s, before the worker loop; exiting", name, exc)
        console.print(f"{name}: stopped by {exc.signal_name} before its loop ran")
        raise typer.Exit(0) from None


_UNTIL_IDLE = (
    "Exit 0 once the topic is drained and idle this many seconds "
    "(a worker that gets no partition within --max-wait exits 3); default: run until stopped."
)
_MAX_WAIT = (
    "How long to wait at start for Kafka and Elasticsearch to answer (then exit 3, to be "
    "restarted); with --until-idle, for a first partition."
)


def _run_worker(
    ctx: typer.Context,
    name: str,
    run: Callable[..., LoopStats],
    until_idle: float | None,
    max_wait: float,
) -> None:
    """Runs one `newsflow consume` worker to its end and prints what it did in one line."""
    with consume_worker(name):
        stats = run(settings_of(ctx), idle_exit_seconds=until_idle, max_wait_seconds=max_wait)
    console.print(
        f"{name}: {stats.consumed} consumed, {stats.dead_lettered} dead-lettered"
        + by_reason(stats.reasons)
    )


@consume_app.command("fetch")
def consume_fetch(
    ctx: typer.Context,
    until_idle: float | None = typer.Option(None, min=0.0, help=_UNTIL_IDLE),
    max_wait: float = typer.Option(120.0, min=0.0, help=_MAX_WAIT),
) -> None:
    """Links topic -> fetch pages politely -> raw topic. Failures go to the dead-letter topic.

    Obeys robots.txt, keeps to NEWSFLOW_CRAWL_PER_HOST_CONCURRENCY and _DELAY_SECONDS per
    host, never fetches a private address (NEWSFLOW_CRAWL_ALLOW_PRIVATE_NETWORKS) and does
    not fetch a page that is already indexed. Start more processes to share the partitions.

    Runs until SIGTERM/SIGINT (then finishes the batch in hand, commits and exits 0); exits 3
    when it stops making progress (see NEWSFLOW_WORKER_STALL_SECONDS).
    """
    from consumers.workers import run_fetch_worker

    _run_worker(ctx, "fetch", run_fetch_worker, until_idle, max_wait)


@consume_app.command("clean")
def consume_clean(
    ctx: typer.Context,
    until_idle: float | None = typer.Option(None, min=0.0, help=_UNTIL_IDLE),
    max_wait: float = typer.Option(120.0, min=0.0, help=_MAX_WAIT),
) -> None:
    """Raw topic -> clean + tag -> clean topic. Failures go to the dead-letter topic.

    Runs until SIGTERM/SIGINT (then finishes the batch in hand, commits and exits 0). Start
    more processes to share the partitions. Exits 3 when it stops making progress (see
    NEWSFLOW_WORKER_STALL_SECONDS), so a supervisor restarts it.
    """
    from consumers.workers import run_clean_worker

    _run_worker(ctx, "clean", run_clean_worker, until_idle, max_wait)


@consume_app.command("index")
def consume_index(
    ctx: typer.Context,
    until_idle: float | None = typer.Option(None, min=0.0, help=_UNTIL_IDLE),
    max_wait: float = typer.Option(120.0, min=0.0, help=_MAX_WAIT),
) -> None:
    """Clean topic -> Elasticsearch bulk upserts by article id (no duplicates on replay).

    Runs until SIGTERM/SIGINT (then finishes the batch in hand, commits and exits 0). Start
    more processes to share the partitions. Exits 3 when it stops making progress (see
    NEWSFLOW_WORKER_STALL_SECONDS), so a supervisor restarts it.
    """
    from consumers.workers import run_index_worker

    _run_worker(ctx, "index", run_index_worker, until_idle, max_wait)


@app.command()
def search(
    ctx: typer.Context,
    query: str = typer.Argument(..., metavar="QUERY", help='What to look for, e.g. "iron ore".'),
    since: str | None = typer.Option(
        None,
        help="Only articles published on or after this date (2026-11-30), time "
        "(2026-11-30T08:00, UTC) or age (24h, 7d, 2w); undated ones, and ones dated after they "
        "were ingested, by when they were ingested.",
    ),
    until: str | None = typer.Option(
        None,
        help="Only articles published before this date (2026-11-30: that day is kept), time "
        "(2026-11-30T08:00, UTC) or age (24h, 7d, 2w); undated ones, and ones dated after they "
        "were ingested, by when they were ingested.",
    ),
    site: str | None = typer.Option(
        None,
        help="Only this site: its host (nrk.no, with its subdomains; bücher.example or "
        "xn--bcher-kva.example alike) or the name it gives itself (NRK). Not a public suffix "
        "(co.uk, github.io): under github.io, alice.github.io is a site of its own.",
    ),
    lang: str | None = typer.Option(
        None,
        help="Only this language: its code (en, or ISO 639-2/3 eng; en-US counts as en) or its "
        "name in English or in itself (english, français; also common names such as farsi, "
        "castellano, norsk, bokmål, nynorsk).",
    ),
    entity: str | None = typer.Option(
        None,
        help="Only articles naming this person, organization or place: its name or words in a "
        'row of it, in any case ("obama" finds Barack Obama).',
    ),
    topic: str | None = typer.Option(
        None,
        help="Only this IPTC media topic: its code (medtop:04000000 or 04000000), its name "
        '("economy, business and finance") or the words its name begins with ("economy").',
    ),
    min_confidence: float | None = typer.Option(
        None, min=0.0, max=1.0, help="Only articles extracted with at least this confidence (0-1)."
    ),
    story: str | None = typer.Option(
        None, help="Only the articles of this story (the story id a hit shows)."
    ),
    all_copies: bool = typer.Option(
        False,
        "--all-copies",
        help="Show every copy of a story (the same wire story on many sites); by default "
        "each story shows once, as its best-matching copy.",
    ),
    semantic: bool = typer.Option(False, help="Rank by embedding similarity (kNN)."),
    sort: Sort = typer.Option(
        Sort.RELEVANCE,
        case_sensitive=False,
        help="relevance: best match first; newest: newest first by publication date (never "
        "after the article was ingested), an undated article by when it was ingested (as "
        "--since counts it), among the dated ones. "
        "A query without words always lists the newest first.",
    ),
    size: int = typer.Option(10, "--size", "-n", help=f"How many hits to print (1-{MAX_HITS})."),
    page: int = typer.Option(
        1,
        "--page",
        "-p",
        help=f"Which page of --size hits to print, from 1 (the first {MAX_WINDOW:,} hits can "
        "be paged through).",
    ),
) -> None:
    """Full-text search over indexed articles, with highlighted snippets.

    Articles the enrichment DAG (or `newsflow enrich`) put in one story show once, as their
    best-matching copy; `--story ID` lists that story's articles, `--all-copies` every copy.
    A query that starts with "-" goes last, after "--" (and the options before it):
    `newsflow search -n 5 -- "-rumour election"`.
    """

    settings = settings_of(ctx)
    check_request(query, size, page)  # a QueryError is one line and exit 2 (NewsflowGroup)
    if story is not None and not story.strip():
        # A blank id matched no story and printed "0 article(s) match" as if it were one.
        raise typer.BadParameter("a story id, as `newsflow search` prints it", param_hint="--story")
    # A blank filter was dropped when empty and matched nothing when a space: neither said so.
    for option, value in (
        ("--site", site),
        ("--lang", lang),
        ("--entity", entity),
        ("--topic", topic),
    ):
        if value is not None and not value.strip():
            raise typer.BadParameter(
                "an empty value filters nothing: leave it out", param_hint=option
            )
    if site is not None:
        check_site(site)
    now = datetime.now(UTC)
    moment = parse_since(since, now) if since is not None else None
    before = parse_until(until, now) if until is not None else None
    if moment is not None and before is not None and moment >= before:
        raise QueryError(
            f"--since {since} is not before --until {until}: no article can be in between"
        )
    es = make_es(settings)
    filters = SearchFilters(
        since=moment,
        until=before,
        site=site,
        language=parse_language(lang) if lang is not None else None,
        entity=entity,
        topic=match_topic(topic, topic_names(es, settings)) if topic is not None else None,
        min_confidence=min_confidence,
        story=story,
    )
    if semantic:
        from newsflow.enrichment.embeddings import semantic_search

        if sort is not Sort.RELEVANCE:
            raise QueryError("--semantic lists the nearest first; it takes no --sort")
        every_copy = all_copies or story is not None
        offset = (page - 1) * size
        wanted = offset + size if every_copy else NEAREST_PER_HIT * (offset + size)
        nearest = semantic_search(
            es, settings, query, min(MAX_WINDOW, wanted), filter_clauses(filters)
        )
        if not every_copy:
            nearest = first_of_each_story(nearest, offset + size)
        if (
            not nearest
            and not es.count(index=settings.index.alias, query={"exists": {"field": "embedding"}})[
                "count"
            ]
        ):
            # Before any page: "page 2 is past the end" hid why nothing was near.
            print_hits(console, matches_header(0, "nearest article(s) to", query), [])
            console.print("no article has an embedding yet: run `newsflow enrich` (or the DAGs)")
            return
        if page > 1 and len(nearest) <= offset:
            raise QueryError(
                f"page {page} is past the end: {len(nearest)} nearest article(s) were found"
            )
        shown = nearest[offset:]
        print_hits(
            console,
            matches_header(len(shown), "nearest article(s) to", query),
            shown,
            rank_from=offset + 1,
        )
        return
    found = run_search(
        es, settings, query, filters, size, one_per_story=not all_copies, sort=sort, page=page
    )
    print_hits(
        console,
        matches_header(found.total, "article(s) match", query),
        found.hits,
        found.markers,
        rank_from=found.offset + 1,
        # Newest first (or no words) ranks by age alone: its score says nothing of the match.
        scores=sort is Sort.RELEVANCE and bool(query.strip()),
    )
    hint = page_hint(found, page, size, one_per_story=not all_copies and not story)
    if hint:
        console.print()
        console.print(hint, style="dim")
    if not all_copies and not story and any((h.source.story_size or 0) > 1 for h in found.hits):
        console.print()
        console.print(
            "one article per story: `--story ID` lists a story's articles, "
            "`--all-copies` shows every copy",
            style="dim",
        )


def _one_shot_logs() -> None:
    """A command that runs the workers' code once and prints its own summary: their
    progress lines (partitions assigned, stopped after N records) only with -v; their
    warnings (a dead letter and its reason) always."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("consumers").setLevel(logging.WARNING)


def _stop_if_interrupted(console: Console, signalled: bool, stage: str) -> None:
    """Ends `run` after a stage that Ctrl-C (or SIGTERM) stopped. The worker finishes its
    batch and commits; the next stages then went on as if nobody had asked to stop, and the
    command exited 0."""
    if signalled:
        console.print(f"interrupted in the {stage} stage; run it again to go on")
        raise typer.Exit(EXIT_INTERRUPTED)


@contextmanager
def _stage_bar(
    settings: Settings, group: str, topic: str, what: str, total: int | None = None
) -> Iterator[Callable[[], None] | None]:
    """In a terminal, a bar over one stage of `run`: the records its group has yet to read
    (a few thousand pages take minutes to clean, and the stage said nothing until its end).
    ``total``: that count, when the caller has it already."""
    if not console.is_terminal:
        yield None
        return
    if total is None:
        total = describe_group(settings, group, topic).lag
    with counting_bar(console) as bar:
        task = bar.add_task(what, total=total)
        yield lambda: advance_growing(bar, task)


#: `newsflow run`'s clean workers by default at most: each holds its models (~350 MB).
MAX_RUN_WORKERS = 4


def clean_workers(requested: int, pending: GroupState) -> int:
    """How many clean workers `run` starts: ``requested`` (0: one per CPU this process may
    use, at most ``MAX_RUN_WORKERS``), but no more than the partitions holding pages the
    group has yet to read (a worker without one would only wait), and at least one."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    want = requested or min(cpus or 1, MAX_RUN_WORKERS)
    with_pages = sum(1 for p in pending.partitions if p.lag > 0)
    return max(1, min(want, with_pages))


@app.command()
def run(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(
        None,
        metavar="PATH",
        help="Files, directories or feed URLs to ingest (default: the seeds/ folder).",
    ),
    query: str = typer.Option("iron ore", help="Sample query to print results for at the end."),
    local_stack: bool = typer.Option(
        True, help="Start the local Kafka + Elasticsearch first (`newsflow stack up`)."
    ),
    idle: float = typer.Option(
        3.0, min=0.0, help="Seconds of quiet after which a stage counts as done."
    ),
    workers: int = typer.Option(
        0,
        min=0,
        help="Pages cleaned at once, each in a process of its own (~350 MB): 0 takes one per "
        f"CPU, at most {MAX_RUN_WORKERS}; never more than the raw topic's partitions that "
        "hold new pages.",
    ),
) -> None:
    """The main job: produce the inputs, clean and tag them, index them, print top hits.

    Runs every stage from this process, each until its topic is drained, so it ends by
    itself; pages are cleaned by several workers at once (``--workers``). Re-running is safe:
    article ids are stable, so the index keeps one document per article. Ctrl-C finishes the
    batch in hand and exits 130 without starting the next stage.
    """
    from consumers.workers import run_clean_workers, run_index_worker

    settings = settings_of(ctx)
    _one_shot_logs()
    with worker_exit_codes("run"):
        if local_stack:
            ensure_up(settings)
        started = time.monotonic()
        inputs = paths or [str(PROJECT_ROOT / "seeds")]
        ensure_topics(settings)
        es = make_es(settings)
        index = ensure_index(es, settings.index)

        console.rule("1/4 produce")
        # Rejections are listed even in a pipe (a log); only the progress bar needs a terminal.
        summary, code = run_produce(inputs, settings, progress=console.is_terminal)
        if code != 0 or summary is None:
            raise typer.Exit(code or 1)

        console.rule("2/4 clean and tag")
        pending = describe_group(settings, settings.groups.clean, settings.topics.raw)
        n = clean_workers(workers, pending)
        with _stage_bar(
            settings, settings.groups.clean, settings.topics.raw, "cleaning", pending.lag
        ) as tick:
            clean_stats = run_clean_workers(settings, n, idle_exit_seconds=idle, on_record=tick)
        console.print(
            f"cleaned {clean_stats.consumed - clean_stats.dead_lettered}, "
            f"dead-lettered {clean_stats.dead_lettered}"
            + by_reason(clean_stats.reasons)
            + (f" ({n} workers)" if n > 1 else "")
        )
        _stop_if_interrupted(console, clean_stats.signalled, "clean")

        console.rule("3/4 index")
        with _stage_bar(settings, settings.groups.index, settings.topics.clean, "indexing") as tick:
            index_stats = run_index_worker(settings, idle_exit_seconds=idle, on_record=tick)
        _stop_if_interrupted(console, index_stats.signalled, "index")
        es.indices.refresh(index=settings.index.alias)
        count = es.count(index=settings.index.alias)["count"]
        console.print(
            f"indexed {index_stats.consumed - index_stats.dead_lettered} into {index} "
            f"(alias {settings.index.alias}, {count} document(s) in all)"
        )

        console.rule(Text(f"4/4 search: {displayable(query, 80)}"))
        found = run_search(es, settings, query, SearchFilters(), 5)
        print_hits(
            console,
            matches_header(found.total, "article(s) match", query),
            found.hits,
            found.markers,
        )
        console.print(f"\n[dim]done in {time.monotonic() - started:.1f} s[/dim]")


@dlq_app.command("list")
def dlq_list(
    ctx: typer.Context,
    limit: int = typer.Option(50, min=1, help="Show the newest this many letters."),
    show_body: bool = typer.Option(
        False, help="Print the start of each original (a raw article: its fields, then its page)."
    ),
) -> None:
    """Lists the newest dead letters: stage, reason and where the original message came from."""
    from consumers.dlq import by_message, newest_dead_letters, origin_of, original_head

    listing = newest_dead_letters(settings_of(ctx), limit=limit)
    letters = listing.letters
    failures = by_message(letters)
    # One row per message: a replayed message that failed again is a new letter, and is
    # shown with its latest reason and how often it failed, not as another failure.
    table = Table("failed at", "times", "stage")
    table.add_column("reason", overflow="fold")
    table.add_column("message", overflow="fold")
    # Folded, not cut short: a path or an offset is no use with its end missing.
    table.add_column("input", overflow="fold")
    table.add_column("from", overflow="fold")
    for failure in failures:
        d = failure.latest
        table.add_row(
            d.failed_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(failure.times),
            d.stage.value,
            d.error_type,
            escape(displayable(d.error_message, 80)),
            escape(displayable(origin_of(d) or "-", 100)),
            f"{d.topic}[{d.partition}]@{d.offset}",
        )
        if show_body:
            head = original_head(d.original, 300)
            table.add_row("", "", "", "", escape(displayable(head, 300)), "", "")
    console.print(table)
    console.print(f"{len(letters)} dead letter(s) of {len(failures)} message(s)")
    if listing.total > len(letters):
        console.print(
            f"the newest {len(letters)} of {listing.total} dead letters on "
            f"{settings_of(ctx).topics.dead_letter}; --limit shows more"
        )
    too_large = sum(f.latest.error_type == AnyStageReason.TOO_LARGE_FOR_TOPIC for f in failures)
    if too_large:
        # The letter's message says by how much; what it cannot say is the way back.
        console.print(
            f"{too_large} message(s) made a result larger than its topic accepts "
            f"({AnyStageReason.TOO_LARGE_FOR_TOPIC.value}). To send them: raise that topic's "
            "max.message.bytes (`newsflow init` raises every topic to the pipeline's limit, "
            f"{settings_of(ctx).limits.max_message_bytes:,} bytes, set by "
            "NEWSFLOW_MAX_INPUT_BYTES), then `newsflow dlq replay`; running workers read the "
            "new limit by themselves."
        )


class LetterStage(StrEnum):
    """The stages whose failures are dead-lettered (`--stage` offered produce and tag too,
    which never are: a replay of them sent nothing, whatever the log held)."""

    FETCH = Stage.FETCH.value
    DECODE = Stage.DECODE.value
    CLEAN = Stage.CLEAN.value
    INDEX = Stage.INDEX.value


@dlq_app.command("replay")
def dlq_replay(
    ctx: typer.Context,
    stage: list[LetterStage] = typer.Option(
        None, help="Only letters that failed at this stage (repeat for several); default all."
    ),
    max_attempts: int = typer.Option(
        5,
        min=1,
        help="Give up on a message that failed this many times: its letter is not replayed.",
    ),
    given_up: bool = typer.Option(
        False,
        "--given-up",
        help="Instead: send back, once, every message whose latest letter reached "
        "--max-attempts (after fixing the cause).",
    ),
) -> None:
    """Sends dead letters back to their stage's input topic, e.g. after fixing the cause.

    Letters already replayed are not sent again (a consumer group per stage remembers how far
    its letters were replayed, so replaying one stage leaves the others' for later); a letter
    that fails again becomes a new dead letter with its new reason and one more attempt, and
    one that reached --max-attempts is not replayed again (reported as given up).

    A letter larger than its topic accepts is listed with what to run to let it through, and
    tried again by every later replay.
    """
    from consumers.dlq import replay

    _one_shot_logs()
    summary = replay(
        settings_of(ctx),
        stages={Stage(x.value) for x in stage} if stage else None,
        max_attempts=max_attempts,
        given_up=given_up,
    )
    where = ", ".join(f"{n} to {topic}" for topic, n in sorted(summary.by_topic.items()))
    line = f"replayed {summary.replayed} dead letter(s)" + (f" ({where})" if where else "")
    if not given_up:
        line += f"; skipped {summary.skipped} (other stages, or replayed before)"
    if summary.given_up:
        line += (
            f"; gave up on {summary.given_up} that failed {max_attempts} times or more "
            "(--given-up sends them once more)"
        )
    if summary.unrecoverable:
        line += f"; {summary.unrecoverable} no longer on their topic, not replayed"
    if summary.too_large:
        line += f"; {summary.too_large} larger than their topic accepts, kept for the next replay"
    console.print(escape(line))
    if summary.too_large_letters:
        _print_too_large(summary.too_large_letters, settings_of(ctx))


def _print_too_large(letters: list[TooLarge], settings: Settings, show: int = 20) -> None:
    """Each letter replay could not send for its size, and how to let them through."""
    console.print(
        f"{len(letters)} dead letter(s) larger than their topic accepts; each replay tries "
        "them again (no offsets to reset):"
    )
    for t in letters[:show]:
        console.print(
            escape(
                f"  {t.letter_at}  {displayable(t.origin or '-', 100)}  needs {t.size:,} bytes; "
                f"{t.target} accepts {t.limit:,}"
            ),
            soft_wrap=True,  # one line per letter, to copy from, however narrow the terminal
        )
    if len(letters) > show:
        console.print(f"  and {len(letters) - show} more")
    console.print(
        escape(raise_limit_advice(max(t.size for t in letters), settings)), soft_wrap=True
    )


def raise_limit_advice(needed: int, settings: Settings) -> str:
    """How to let a message of ``needed`` bytes through its topic: `newsflow init` raises
    every topic's max.message.bytes to the pipeline's limit (never lowers one), and the
    producer refuses anything over that limit, whatever the topic accepts."""
    limit = settings.limits.max_message_bytes
    if needed <= limit:
        return (
            f"To send them: `newsflow init` (raises every topic's max.message.bytes to "
            f"{limit:,}, the pipeline's limit), then `newsflow dlq replay` again."
        )
    inputs = Limits.input_bytes_for(needed)
    raised = settings.limits.model_copy(update={"max_input_bytes": inputs}).max_message_bytes
    return (
        f"To send them: NEWSFLOW_MAX_INPUT_BYTES={inputs} (it is "
        f"{settings.limits.max_input_bytes} now; max.message.bytes {raised:,}) for `newsflow "
        "init`, then `newsflow dlq replay` again, and for the workers."
    )
