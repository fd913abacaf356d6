"""`newsflow stack` from the command line, without starting anything."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from newsflow.cli import app


def test_stack_logs_says_where_it_looked_when_there_is_no_log(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["stack", "logs", "es"], env={"NEWSFLOW_STACK_DIR": str(tmp_path)}
    )
    assert result.exit_code == 1
    assert f"es: no log at {tmp_path}" in result.output
