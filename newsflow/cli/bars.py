"""The one progress bar of long commands over a known number of things (eval, run, enrich).

``produce`` has its own (producers/publish.py): it counts inputs by outcome, not against a
total.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeRemainingColumn


def counting_bar(console: Console, *, transient: bool = True, disable: bool = False) -> Progress:
    """A bar with its description, done/total and the time left."""
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=disable,
    )


def advance_growing(bar: Progress, task: TaskID, done: int = 1) -> None:
    """Advances ``task`` by ``done``, raising its total when more arrived than it was counted
    with (articles indexed or records produced while the stage runs are done too)."""
    bar.advance(task, done)
    shown = next(t for t in bar.tasks if t.id == task)
    if shown.completed > (shown.total or 0):
        bar.update(task, total=shown.completed)
