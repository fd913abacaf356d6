"""`--help` of every command: it renders, and a docstring's paragraphs read as paragraphs.

The docstrings are wrapped at the source's line length; rendered as they are, every command's
help broke its sentences at those places whatever the terminal's width.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from newsflow.cli import app

# Markdown syntax changes what is printed; such paragraphs are not compared verbatim.
_MARKUP = re.compile(r"[`*\[\]#>|]")


def _commands() -> list[tuple[list[str], Any]]:
    found: list[tuple[list[str], Any]] = []

    def walk(path: list[str], command: Any) -> None:
        found.append((path, command))
        # typer vendors its own click: a group is whatever has subcommands.
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk([*path, name], sub)

    walk([], typer.main.get_command(app))
    return found


COMMANDS = _commands()


def test_every_command_is_reached() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "consume clean", "stack up", "dlq replay", "feeds import"} <= names


@pytest.mark.parametrize(
    "path,command", COMMANDS, ids=[" ".join(p) or "newsflow" for p, _ in COMMANDS]
)
def test_help_prints_each_paragraph_of_the_docstring_on_one_line(
    path: list[str], command: Any
) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    paragraphs = inspect.cleandoc(command.help or "").partition("\f")[0].split("\n\n")
    checked = [" ".join(p.split()) for p in paragraphs if p.strip() and not _MARKUP.search(p)]
    for paragraph in checked:
        assert paragraph in lines, f"{paragraph!r} not on one line in:\n{result.output}"


@pytest.mark.parametrize(
    "path,command", COMMANDS, ids=[" ".join(p) or "newsflow" for p, _ in COMMANDS]
)
def test_a_flag_shows_no_value_type_and_an_option_does(path: list[str], command: Any) -> None:
    """typer 0.29 printed `--verbose <bool>` as if the flag took a value (newsflow/cli/app.py)."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "400"})
    assert "<bool>" not in result.output
    if any(not getattr(p, "is_flag", True) for p in command.params):
        assert re.search(r"<[^>]+>", result.output), result.output


#: How Python spells a type, which typer 0.29 printed as a value's type: `<list[str]>`,
#: `--stage <list[cluster|embed|rollup|trends]>` (newsflow/cli/app.py).
_PYTHON_TYPE = re.compile(
    r"<(list|dict|tuple|set)\[|typing\.|<class |<enum |NoneType|Optional\[|Union\[|Literal\["
)


@pytest.mark.parametrize(
    "path,command", COMMANDS, ids=[" ".join(p) or "newsflow" for p, _ in COMMANDS]
)
def test_help_shows_no_python_type_and_says_what_everything_is(
    path: list[str], command: Any
) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    found = _PYTHON_TYPE.search(result.output)
    assert found is None, f"{found.group(0)!r} in:\n{result.output}"
    assert (command.help or command.short_help or "").strip(), f"{path}: no help"
    for param in command.params:
        assert (getattr(param, "help", None) or "").strip(), f"{path} {param.name}: no help"


def test_a_list_shows_the_type_of_one_value() -> None:
    """A repeatable option's values, a list of arguments' type and that there may be several."""
    enrich = CliRunner().invoke(app, ["enrich", "--help"], env={"COLUMNS": "400"}).output
    assert "<cluster|embed|rollup|trends>" in enrich and "repeat for several" in enrich
    replay = CliRunner().invoke(app, ["dlq", "replay", "--help"], env={"COLUMNS": "400"}).output
    # Only the stages whose failures are dead-lettered: produce and tag never are.
    assert "<fetch|decode|clean|index>" in replay
    refused = CliRunner().invoke(app, ["dlq", "replay", "--stage", "tag"])
    assert refused.exit_code == 2 and "tag" in refused.output
    produce = CliRunner().invoke(app, ["produce", "--help"], env={"COLUMNS": "400"}).output
    assert re.search(r"PATH\|URL +<str>\.\.\. +Files, directories", produce), produce


def test_an_unreadable_health_file_is_one_line_of_text(tmp_path: Any) -> None:
    missing = tmp_path / ("a-long-directory-name-" * 6) / "he[bold]alth\x1b[2J.json"
    result = CliRunner().invoke(app, ["health", str(missing)], terminal_width=60)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("unhealthy: cannot read ")
    assert "\x1b" not in result.output and "he[bold]alth" in result.output
    # In words, the path once (Python's "[Errno 2] No such file or directory: '...'" repeated
    # it, quoted, with its escapes).
    assert lines[0].endswith(": no such file or directory") and lines[0].count("he[bold]") == 1


def test_a_health_file_that_is_not_a_workers_says_so(tmp_path: Any) -> None:
    garbage, stranger = tmp_path / "garbage.json", tmp_path / "stranger.json"
    garbage.write_text("garbage")
    stranger.write_text('{"status": "ok"}')
    for path, says in (
        (garbage, "not a worker's health file: not valid JSON: Expecting value at column 1"),
        (stranger, "not a worker's health file: not the fields a worker writes"),
    ):
        result = CliRunner().invoke(app, ["health", str(path)])
        assert result.exit_code == 1
        assert result.output == f"unhealthy: cannot read {path}: {says}\n"


def test_status_says_a_groups_state_in_words() -> None:
    """A group no worker had joined yet was shown as "Dead", which reads as a failure."""
    from newsflow.cli.status import state_in_words

    assert state_in_words("Dead") == "no worker joined yet"
    assert state_in_words("Empty") == "no worker running"
    assert state_in_words("Stable") == "running"
    assert state_in_words("unknown") == "unknown"
