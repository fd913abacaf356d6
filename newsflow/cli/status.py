"""`newsflow status` (consumer groups, lag, members) and `newsflow health` (one worker)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from consumers.health import read_health
from newsflow.cli.app import app, settings_of
from newsflow.cli.printing import displayable
from newsflow.kafka.groups import GroupState, describe_group, last_progress
from schemas import Stage
from schemas.failures import json_problem

console = Console()


#: What creates the pipeline's topics: everything that calls ensure_topics (all of them at
#: once, with NEWSFLOW_TOPIC_PARTITIONS). `stack up` does not; the local broker would
#: auto-create a topic on a first send, but with its own partition count.
TOPICS_MADE_BY = (
    "`newsflow init` creates the pipeline's topics, and so does the first `newsflow consume`, "
    "`produce`, `crawl` or `run` (not `stack up`)"
)

#: What makes each worker kind's consumer group: the first of its workers to join it (`run`
#: runs the clean and index workers, `crawl --once` the fetch worker).
GROUP_MADE_BY = {
    Stage.FETCH: "`newsflow consume fetch` (or `crawl --once`)",
    Stage.CLEAN: "`newsflow consume clean` (or `run`)",
    Stage.INDEX: "`newsflow consume index` (or `run`)",
}


def missing_in_words(stage: Stage, state: GroupState) -> list[str]:
    """One line for each of a worker kind's topic and group that does not exist yet, saying
    what creates it (empty tables said nothing of why they were empty)."""
    lines = []
    if not state.topic_exists:
        lines.append(f"topic {state.topic} does not exist yet: {TOPICS_MADE_BY}")
    if not state.group_exists:
        lines.append(
            f"consumer group {state.group} does not exist yet: created when a "
            f"{GROUP_MADE_BY[stage]} first joins it"
        )
    return lines


@app.command()
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(
        False, "--json", help="A JSON list, one object per consumer group, instead of tables."
    ),
) -> None:
    """Per consumer group and partition: committed offset, end offset, lag, owner, progress.

    A topic or consumer group that does not exist yet is named, with what creates it. Exit 0
    whenever Kafka answered (a fresh stack with nothing created yet included); 1 when it
    cannot be reached.
    """
    settings = settings_of(ctx)
    pairs = [
        (Stage.FETCH, settings.groups.fetch, settings.topics.links),
        (Stage.CLEAN, settings.groups.clean, settings.topics.raw),
        (Stage.INDEX, settings.groups.index, settings.topics.clean),
    ]
    groups = [(stage, describe_group(settings, group, topic)) for stage, group, topic in pairs]
    if as_json:
        out = [
            {
                "group": g.group,
                "topic": g.topic,
                "state": g.state,
                "lag": g.lag,
                "members": [m.__dict__ for m in g.members],
                "partitions": [{**p.__dict__, "lag": p.lag} for p in g.partitions],
                "last_progress": last_progress(g),
                "topic_exists": g.topic_exists,
                "group_exists": g.group_exists,
                "missing": missing_in_words(stage, g),
            }
            for stage, g in groups
        ]
        print(json.dumps(out, default=list))
        return
    for stage, g in groups:
        console.print(
            f"[bold]{g.group}[/bold] on {g.topic}: {state_in_words(g.state)}, "
            f"{len(g.members)} member(s), lag {g.lag}"
        )
        for line in missing_in_words(stage, g):
            # One line each however narrow the terminal, the names as text (not markup).
            console.print(f"  {line}", soft_wrap=True, markup=False, highlight=False)
        if not g.topic_exists:
            continue  # no partitions: no table
        names = {m.member_id: _member_name(m.member_id, m.host) for m in g.members}
        table = Table("partition", "committed", "end", "lag", "owner", "last commit")
        now = time.time()
        for p in g.partitions:
            owner = names.get(p.owner or "", "[yellow]none[/yellow]")
            committed = "-" if p.committed is None else str(p.committed)
            last = "-"
            if p.committed_at:
                last = f"{_age(now - p.committed_at)} ago by {p.committed_by}"
            table.add_row(str(p.partition), committed, str(p.end), str(p.lag), owner, last)
        console.print(table)
        progress = last_progress(g)
        for worker, at in sorted(progress.items(), key=lambda kv: -kv[1]):
            console.print(f"  last progress of {worker}: {_age(now - at)} ago")


# Kafka's names for a group's state, said for someone who runs the workers ("Dead" is what a
# group no worker ever joined reports: nothing is wrong with it). --json keeps Kafka's.
_STATES = {
    "Stable": "running",
    "PreparingRebalance": "rebalancing",
    "CompletingRebalance": "rebalancing",
    "Empty": "no worker running",
    "Dead": "no worker joined yet",
}


def state_in_words(state: str) -> str:
    """A consumer group's state as `status` prints it."""
    return _STATES.get(state, state)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _member_name(member_id: str, host: str) -> str:
    """A member id without the broker's uuid suffix, plus its host."""
    base = member_id.rsplit("-", 5)[0] if member_id.count("-") >= 5 else member_id
    return f"{base} ({host})"


@app.command()
def health(
    health_file: Path = typer.Argument(
        ...,
        metavar="HEALTH_FILE",
        help="The worker's NEWSFLOW_HEALTH_FILE.",
        exists=False,
        dir_okay=False,
    ),
    max_age: float = typer.Option(
        60.0, help="Unhealthy when the file was not rewritten for this many seconds."
    ),
) -> None:
    """Exit 0 if the worker behind HEALTH_FILE is live (for docker compose healthchecks)."""
    try:
        report = read_health(health_file)
        age = time.time() - health_file.stat().st_mtime
        problem = None
    except OSError as exc:
        # "no such file or directory": Python's own text repeats the path, quoted.
        problem = (exc.strerror or type(exc).__name__).lower()
    except ValueError as exc:
        problem = f"not a worker's health file: {json_problem(exc)}"
    except TypeError:  # JSON, but not the object a worker writes
        problem = "not a worker's health file: not the fields a worker writes"
    if problem is not None:
        # One line, whatever the terminal's width, and the path as text (not markup, not
        # terminal controls): a healthcheck log keeps it as printed.
        what = displayable(f"cannot read {health_file}: {problem}", 500)
        console.print(f"unhealthy: {what}", soft_wrap=True, markup=False, highlight=False)
        raise typer.Exit(1)
    if not report.live:
        console.print(f"unhealthy: {report.reason}")
        raise typer.Exit(1)
    if age > max_age:
        console.print(f"unhealthy: {report.name} has not reported for {age:.0f} s")
        raise typer.Exit(1)
    console.print(f"healthy: {report.name} pid {report.pid}, lag {report.lag}, {report.reason}")
