"""A usage error (missing argument, unknown command or option, bad option value) is one line.

typer printed each as the usage line, a hint and a four-line boxed panel; the product
promises one clear line for bad input, as every other failure of a command gets. Run as a
user runs the command: a child process with its own stderr and exit code.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from newsflow_cli import child_env, command, run

CASES = [
    (["clean"], "Missing argument 'FILE'. Try 'newsflow clean --help'."),
    (["produce"], "Missing argument 'PATH|URL'. Try 'newsflow produce --help'."),
    (["health"], "Missing argument 'HEALTH_FILE'. Try 'newsflow health --help'."),
    (["search"], "Missing argument 'QUERY'. Try 'newsflow search --help'."),
    (["related"], "Missing argument 'ARTICLE_ID'. Try 'newsflow related --help'."),
    (["feeds", "import"], "Missing argument 'OPML'. Try 'newsflow feeds import --help'."),
    (["bogus"], "No such command 'bogus'. Try 'newsflow --help'."),
    (["consume", "bogus"], "No such command 'bogus'. Try 'newsflow consume --help'."),
    (["--bogus"], "No such option: --bogus"),
    (["status", "--bogus"], "No such option: --bogus"),
    (["clean", "--workers", "0", "x.html"], "'--workers' / '-w'"),
    (["clean", "--format", "pdf", "x.html"], "--format: use one of auto, html, text, json"),
    (["eval", "--mode", "pdf"], "'pdf' is not one of 'html', 'text', 'both'."),
    (["consume", "clean", "--until-idle", "soon"], "Try 'newsflow consume clean --help'."),
    # Carries no context of its own: the subcommand it was given to is named.
    (["clean", "--tag=yes", "x.html"], "does not take a value. Try 'newsflow clean --help'."),
]


@pytest.mark.parametrize("args,says", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_usage_error_is_one_line_on_stderr_and_exit_2(args: list[str], says: str) -> None:
    result = run(args, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert says in result.stderr
    # No panel, and none of pydantic's error kinds ("Value error, ...").
    assert "╭" not in result.stderr and "Value error" not in result.stderr


def test_a_command_name_cannot_send_terminal_controls() -> None:
    result = run(["\x1b[2Jx\nforged line"], timeout=60)
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_a_group_without_its_subcommand_still_prints_its_help() -> None:
    result = run(["stack"], timeout=60)
    assert result.returncode == 2
    assert "Usage: newsflow stack" in result.stdout and "up" in result.stdout
    assert result.stderr == ""


def test_output_to_a_reader_that_went_away_ends_quietly(tmp_path: Path) -> None:
    # `newsflow clean *.txt | head -1`: the reader takes a line and closes the pipe. The
    # command has far more to write than the pipe holds (30 articles of ~8 KB, the pipe 64
    # KB), so its next lines fail to write, every time. That used to be "error:
    # BrokenPipeError: [Errno 32] Broken pipe" on stderr.
    sentence = "The council voted on Tuesday to extend the harbour wall by forty metres. "
    files = []
    for n in range(30):
        path = tmp_path / f"a{n:02}.txt"
        path.write_text(f"Harbour story {n}\n\n" + (sentence * 12 + "\n\n") * 9)
        files.append(str(path))
    proc = subprocess.Popen(
        [*command(), "clean", *files],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith("{")
    proc.stdout.close()
    errors = proc.stderr.read()
    assert proc.wait(timeout=120) == 1
    assert errors == ""  # no error line, no traceback
