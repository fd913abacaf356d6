"""`newsflow related`, `enrich` and `airflow up|down|status`: the enrichment side from the CLI.

The enrichment stages are imported inside the commands that run them: the embedding model
brings numpy, safetensors and tokenizers, which the other commands should not wait for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID
from rich.table import Table

from newsflow import airflow_local
from newsflow.airflow_local import ComponentStatus
from newsflow.cli.app import app, settings_of
from newsflow.cli.bars import advance_growing, counting_bar
from newsflow.cli.printing import matches_header, print_hits
from newsflow.elastic.client import make_es
from newsflow.search import MAX_HITS, NEAREST_PER_HIT, first_of_each_story

console = Console()
err = Console(stderr=True)

airflow_app = typer.Typer(help="A local Airflow running the project's DAGs.")
app.add_typer(airflow_app, name="airflow")


class StageName(StrEnum):
    cluster = "cluster"
    embed = "embed"
    rollup = "rollup"
    trends = "trends"


@app.command()
def related(
    ctx: typer.Context,
    article_id: str = typer.Argument(
        ..., metavar="ARTICLE_ID", help="Id of an indexed, embedded article."
    ),
    k: int = typer.Option(10, "-k", min=1, max=MAX_HITS, help="How many neighbours."),
) -> None:
    """Articles closest in meaning to ARTICLE_ID (kNN on the stored embeddings), one per
    story and none of its own story's copies (`newsflow search --story ID` lists those)."""
    from newsflow.enrichment.embeddings import related as find_related

    if not article_id.strip():
        raise typer.BadParameter("an article id, as `newsflow search` prints it", param_hint="ID")
    settings = settings_of(ctx)
    with make_es(settings) as es:
        try:
            # One article per story, as search shows them: room for the copies among them.
            nearest = find_related(es, settings, article_id, NEAREST_PER_HIT * k)
            hits = first_of_each_story(nearest, k)
        except LookupError as exc:
            # One line on stderr, like every other failure (it went to stdout, wrapped).
            err.print(f"error: {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(1) from exc
    print_hits(console, matches_header(len(hits), "article(s) closest to", article_id), hits)


@app.command()
def enrich(
    ctx: typer.Context,
    stage: list[StageName] = typer.Option(
        None,
        "--stage",
        "-s",
        help="Run only this stage (repeat for several); default: all four. They run in the "
        "order listed, whatever order they are given in.",
    ),
) -> None:
    """Runs the enrichment stages once over what is pending (what the DAGs do on a schedule)."""
    from newsflow.enrichment import clustering, embeddings, rollup
    from newsflow.enrichment.es import count_pending
    from newsflow.enrichment.trends import hour_in_progress_end, write_trends

    settings = settings_of(ctx)
    chosen = stage or list(StageName)
    # Stages over the pending articles, each with the stamp it leaves on an article done.
    per_article: dict[StageName, tuple[Callable[..., int], str]] = {
        StageName.cluster: (clustering.cluster_pending, clustering.PENDING_FIELD),
        StageName.embed: (embeddings.embed_pending, embeddings.PENDING_FIELD),
        StageName.rollup: (rollup.rollup_pending, rollup.PENDING_FIELD),
    }
    with make_es(settings) as es:
        for name in StageName:  # always in pipeline order, whatever order was given
            if name not in chosen:
                continue
            if name not in per_article:
                with console.status(f"{name}..."):
                    # Windows that end with the hour in progress: every run within the hour
                    # overwrites one set of documents (ending "now" added ~170 a run), and
                    # the DAG's run at the hour's end overwrites them with the whole hour.
                    end = hour_in_progress_end(datetime.now(UTC))
                    n = write_trends(es, settings, end=end)
                console.print(f"{name}: {n}")
                continue
            run, field = per_article[name]
            # A backlog takes a while (embeddings: ~10 articles a second on one core), so the
            # bar shows what is left; articles indexed meanwhile are done too and raise it.
            total = count_pending(es, settings, field)
            with (
                _bar_replaces_batch_logs(),
                counting_bar(console, disable=not console.is_terminal) as bar,
            ):
                task = bar.add_task(name, total=total)

                def advance(done: int, task: TaskID = task, bar: Progress = bar) -> None:
                    advance_growing(bar, task, done)

                n = run(es, settings, progress=advance)
            console.print(f"{name}: {n}")


@contextmanager
def _bar_replaces_batch_logs() -> Iterator[None]:
    """In a terminal (and without --verbose), the stages' one INFO line per batch is what the
    bar shows, and printed between its redraws it only scrolls it away: held back meanwhile."""
    stages = logging.getLogger("newsflow.enrichment")
    level = stages.level
    if console.is_terminal and not logging.getLogger().isEnabledFor(logging.DEBUG):
        stages.setLevel(logging.WARNING)
    try:
        yield
    finally:
        stages.setLevel(level)


_HOME = typer.Option(
    None, help="Airflow's home, its AIRFLOW_HOME (default: airflow/ in NEWSFLOW_STACK_DIR)."
)


@airflow_app.command("up")
def airflow_up(
    ctx: typer.Context,
    home: Path | None = _HOME,
    port: int | None = typer.Option(
        None, help="The api-server's port (default: the one it last ran on, at first 8080)."
    ),
) -> None:
    """Starts api-server, scheduler, dag-processor and triggerer (idempotent)."""
    settings = settings_of(ctx)
    states = airflow_local.up(settings, home, port)
    _print_status(states)
    home = home or airflow_local.default_home(settings)
    console.print(f"UI: http://127.0.0.1:{airflow_local.port_of(home)}  logs: {home}/logs")


@airflow_app.command("down")
def airflow_down(ctx: typer.Context, home: Path | None = _HOME) -> None:
    """Stops the local Airflow components."""
    airflow_local.down(settings_of(ctx), home)
    console.print("airflow stopped")


@airflow_app.command("status")
def airflow_status(ctx: typer.Context, home: Path | None = _HOME) -> None:
    """Shows which local Airflow components are running."""
    states = airflow_local.status(settings_of(ctx), home)
    _print_status(states)
    if not all(s.running for s in states):
        raise typer.Exit(1)


def _print_status(states: Sequence[ComponentStatus]) -> None:
    table = Table("component", "pid", "running")
    for s in states:
        table.add_row(s.name, str(s.pid or ""), "yes" if s.running else "no")
    console.print(table)
